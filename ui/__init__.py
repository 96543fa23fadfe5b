"""The touchscreen: pygame screens drawn from the core's published view, touches turned into intents."""

import os

# pygame greets on stdout when imported; the station's output is its log.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
