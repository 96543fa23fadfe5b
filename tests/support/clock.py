"""The one fake clock of the test suite: time that moves only when a test moves it.

It serves every clock seam in the code: call it (or ``monotonic``) for seconds as a float,
``time`` for wall seconds since the epoch, ``wall`` for an aware UTC ``datetime``. All three
read the same instant, so ``advance`` moves them together; a test that steps only the wall
clock (NTP) moves ``wall_offset`` instead. Code that paces itself by waiting on an event
(``cancel.wait(interval)``) gets a :class:`ClockedEvent`, whose waits move the clock.

>>> from tests.support.clock import FakeClock
>>> clock = FakeClock(100.0)
>>> clock()
100.0
>>> clock.advance(2.5)
>>> clock.monotonic()
102.5
>>> clock.wall().isoformat()
'1970-01-01T00:01:42.500000+00:00'
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

# 2023-11-14 22:13:20 UTC: a plausible "now" with whole seconds, so stored times compare exactly.
EPOCH_START = 1_700_000_000.0


class FakeClock:
    """A clock the test steps by hand, so lockouts, expiry and job progress need no sleeping.

    :param start: the first reading, in seconds (monotonic and wall alike).
    """

    def __init__(self, start: float = EPOCH_START) -> None:
        self.now = start
        self.wall_offset = 0.0

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        """Seconds that only ever move forward unless a test sets ``now`` back."""
        return self.now

    def time(self) -> float:
        """Wall seconds since the epoch, like ``time.time``."""
        return self.now + self.wall_offset

    def wall(self) -> datetime:
        """The wall time as an aware UTC ``datetime``, like ``datetime.now(UTC)``."""
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, by: float | timedelta) -> None:
        """Move every reading forward by ``by`` (seconds or a ``timedelta``)."""
        self.now += by.total_seconds() if isinstance(by, timedelta) else by


class ClockedEvent(threading.Event):
    """A cancel or stop event on a :class:`FakeClock`: a timed wait moves the clock on by its
    timeout and returns at once, so code that paces itself with ``event.wait(interval)`` keeps
    its schedule exactly, however loaded the machine, in no time at all.

    :param clock: the clock each timed wait moves.
    :param meanwhile: called after each timed wait, the clock moved: what happens in the world
        while that time passes.

    >>> clock = FakeClock(0.0)
    >>> cancel = ClockedEvent(clock)
    >>> cancel.wait(1.5)
    False
    >>> clock()
    1.5
    """

    def __init__(self, clock: FakeClock, meanwhile: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self._clock = clock
        self._meanwhile = meanwhile

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None or self.is_set():
            return super().wait(timeout)
        self._clock.advance(timeout)
        self._meanwhile()
        return self.is_set()
