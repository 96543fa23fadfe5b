"""Badge readers: one small interface, one module per kind, each run on its own thread."""
