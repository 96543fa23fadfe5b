"""Plain values that cross from the drivers into the core.

Readers run on their own threads and hand these values to a sink (a callable the composition
root supplies; the core puts them on its queue). They carry no behaviour and no references to
hardware objects, so they are safe to pass between threads.

Badge numbers are personal data: the ``repr`` of a read never shows the number, so a read that
ends up in a log line by accident does not leak it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

ReaderKind = str
"""The name of a reader kind: one of ``station.reader_kinds.READER_KINDS``."""


@dataclass(frozen=True, slots=True)
class BadgeRead:
    """One card presented to one reader.

    ``uid`` holds the UID bytes in the order the card sent them; ``raw`` is what the reader
    itself produced (hex of the UID for NFC and PC/SC, the typed characters for a keyboard-wedge
    reader). ``at`` is a :func:`time.monotonic` timestamp taken when the driver got the UID.
    """

    uid: bytes = field(repr=False)
    reader_kind: ReaderKind
    reader_name: str
    at: float
    raw: str = field(default="", repr=False)

    @property
    def canonical_id(self) -> str:
        """Upper-case hex of the UID bytes as the card sent them; leading zeros kept."""
        return self.uid.hex().upper()

    @property
    def is_random_uid(self) -> bool:
        """True for a 4-byte random UID (first byte ``08``): such a card cannot be enrolled."""
        return len(self.uid) == 4 and self.uid[0] == 0x08


@dataclass(frozen=True, slots=True)
class ReaderHealth:
    """A reader's state changed: attached and working (``ok``) or missing / failed."""

    reader_kind: ReaderKind
    reader_name: str
    ok: bool
    detail: str
    at: float


ReaderEvent = BadgeRead | ReaderHealth
ReaderSink = Callable[[ReaderEvent], None]
