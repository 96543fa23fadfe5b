"""A keyed token bucket: "at most N of these per key per period", e.g. enrolment offers per badge.

Each key gets a bucket of ``burst`` tokens that refills at ``burst / period_s`` tokens a second;
an action takes one token or is refused. Buckets live in memory only (a restart forgets them,
which is fine for damping repeated taps) and their number is bounded: when ``max_keys`` is
reached, full buckets are dropped first, then the least recently used one.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by key. Thread-safe.

    :param burst: actions allowed at once per key (bucket size), at least 1.
    :param period_s: seconds for an empty bucket to refill completely.
    :param clock: monotonic seconds (``time.monotonic``).
    :param max_keys: how many keys to remember at most.

    Example (at most 3 enrolment offers per badge per minute)::

        offers = RateLimiter(burst=3, period_s=60)
        if offers.allow(badge_id): ...
    """

    def __init__(
        self,
        *,
        burst: int = 3,
        period_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        if burst < 1:
            raise ValueError(f"burst: must be at least 1, not {burst}")
        if period_s <= 0:
            raise ValueError(f"period_s: must be positive, not {period_s}")
        if max_keys < 1:
            raise ValueError(f"max_keys: must be at least 1, not {max_keys}")
        self._burst = float(burst)
        self._rate = burst / period_s
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: Hashable) -> bool:
        """Take a token for ``key``; False (and nothing taken) if its bucket is empty."""
        with self._lock:
            bucket = self._refilled(key)
            if bucket.tokens < 1:
                return False
            bucket.tokens -= 1
            return True

    def retry_after(self, key: Hashable) -> float:
        """Seconds until ``key`` may act again (0 if it may now)."""
        with self._lock:
            bucket = self._refilled(key)
            return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self._rate

    def reset(self, key: Hashable) -> None:
        """Forget ``key`` (its bucket starts full again)."""
        with self._lock:
            self._buckets.pop(key, None)

    def __len__(self) -> int:
        """How many keys are remembered now (never more than ``max_keys``)."""
        with self._lock:
            return len(self._buckets)

    def _refilled(self, key: Hashable) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        else:
            # max(0, ...) so a clock that steps back never drains a bucket.
            bucket.tokens = min(self._burst, bucket.tokens + max(0.0, now - bucket.at) * self._rate)
            bucket.at = now
            self._buckets.move_to_end(key)
        return bucket

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self._max_keys:
            return
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.at) * self._rate >= self._burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max_keys:
            self._buckets.popitem(last=False)
