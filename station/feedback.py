"""The feedback vocabulary: what the station signals with its LED and buzzer.

The same eight patterns exist on every station (the README describes how each looks and
sounds). The core asks for a pattern; ``drivers.feedback`` turns it into LED and buzzer
changes through gpiozero. Playing a pattern never blocks the caller.
"""

from __future__ import annotations

import enum
from typing import Protocol


class Pattern(enum.Enum):
    """A named signal; the value is the name used in the configuration and the docs."""

    READY = "ready"
    READ = "read"
    RELEASED = "released"
    NOTHING_TO_PRINT = "nothing-to-print"
    UNKNOWN_CARD = "unknown-card"
    ERROR = "error"
    NEEDS_PAIRING = "needs-pairing"
    TECHNICIAN = "technician"


class Feedback(Protocol):
    """Something that can show a pattern: LEDs and a buzzer, a reader's own LED, or nothing."""

    def play(self, pattern: Pattern) -> None:
        """Start showing ``pattern`` at once and return without waiting for it to finish."""

    def close(self) -> None:
        """Switch everything off and release the pins; safe to call twice."""
