"""The one fake clock of the test suite: time that moves only when a test moves it.

It serves every clock seam in the code: call it (or ``monotonic``) for seconds as a float,
``time`` for wall seconds since the epoch, ``wall`` for an aware UTC ``datetime``. All three
read the same instant, so ``advance`` moves them together; a test that steps only the wall
clock (NTP) moves ``wall_offset`` instead.

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
