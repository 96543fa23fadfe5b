"""The station core: state machine, runtime, views and intents.

The core owns all state. It receives events (badge reads, reader health, intents from the UI,
timers, network results) on one thread, runs pure transitions, performs their effects through
small interfaces, and publishes a frozen view after every change. It knows nothing of its
front ends: the UI draws views and sends intents.
"""
