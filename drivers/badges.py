"""Between a reader and the core: same-card suppression and short-read rejection.

A :class:`BadgeFilter` is itself a reader sink. Put one in front of the core's sink for each
reader::

    sink = BadgeFilter(core.submit, repeat_s=3.0, min_uid_bytes=4, detects_removal=reader.detects_removal)
    ReaderThread(reader, sink).start()

- A read with fewer UID bytes than ``min_uid_bytes`` is garbage (a half-read card, a stray
  keystroke on a wedge reader) and is dropped.
- A reader that can tell when a card is taken away reports each presentation once, so its reads
  pass unchanged. For one that cannot (a keyboard-wedge reader types the number again and again
  while a card lies on it, or once per tap), the same card counts as still present until it has
  not been seen for ``repeat_s`` seconds; reads of it before then are dropped. The window is
  measured from the last time the card was seen, so a card left lying on a repeating reader does
  not start a new session every ``repeat_s`` seconds.
- Health events always pass.

Random UIDs (:attr:`~station.events.BadgeRead.is_random_uid`) pass too: the core decides what
to do with them (enrolment refuses them). Nothing here logs a badge number.
"""

from __future__ import annotations

import logging
import threading

from station.events import BadgeRead, ReaderEvent, ReaderSink

log = logging.getLogger(__name__)


class BadgeFilter:
    """A :data:`~station.events.ReaderSink` that drops repeats and short reads before ``sink``.

    :param sink: where the reads that pass go (the core's queue); must not block.
    :param repeat_s: seconds a card must be gone before it counts as a new presentation, for
        readers that cannot tell removal; ``0`` passes every read.
    :param min_uid_bytes: reads with fewer UID bytes are dropped.
    :param detects_removal: the reader reports each presentation once (``Reader.detects_removal``).

    Times come from each read's own ``at`` stamp, so the filter needs no clock of its own.
    """

    def __init__(self, sink: ReaderSink, repeat_s: float, min_uid_bytes: int, detects_removal: bool) -> None:
        if repeat_s < 0:
            raise ValueError(f"repeat_s must not be negative, not {repeat_s:g}")
        if min_uid_bytes < 1:
            raise ValueError(f"min_uid_bytes must be at least 1, not {min_uid_bytes}")
        self._sink = sink
        self._repeat_s = repeat_s
        self._min_uid_bytes = min_uid_bytes
        self._detects_removal = detects_removal
        # Readers call from their own thread; one filter may be shared by a restarted reader.
        self._lock = threading.Lock()
        self._last_uid: bytes | None = None
        self._last_seen = 0.0
        self._dropped_short = 0
        self._dropped_repeat = 0

    @property
    def dropped_short(self) -> int:
        """How many reads were dropped for being shorter than ``min_uid_bytes``."""
        return self._dropped_short

    @property
    def dropped_repeat(self) -> int:
        """How many reads were dropped as repeats of a card still present."""
        return self._dropped_repeat

    def __call__(self, event: ReaderEvent) -> None:
        if isinstance(event, BadgeRead) and not self._passes(event):
            return
        self._sink(event)

    def _passes(self, read: BadgeRead) -> bool:
        if len(read.uid) < self._min_uid_bytes:
            with self._lock:
                self._dropped_short += 1
            log.info(
                "dropped a %d-byte read from %s (at least %d bytes needed)",
                len(read.uid),
                read.reader_name,
                self._min_uid_bytes,
            )
            return False
        if self._detects_removal or self._repeat_s == 0:
            return True
        with self._lock:
            repeat = read.uid == self._last_uid and read.at - self._last_seen < self._repeat_s
            if read.uid == self._last_uid:
                # Reads can arrive out of order across a reader restart; never move time back.
                self._last_seen = max(self._last_seen, read.at)
            else:
                self._last_uid, self._last_seen = read.uid, read.at
            if repeat:
                self._dropped_repeat += 1
        if repeat:
            log.debug("dropped a repeat read of the card still on %s", read.reader_name)
        return not repeat
