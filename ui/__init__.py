"""The touchscreen: pygame screens drawn from the core's published view, touches turned into intents."""
