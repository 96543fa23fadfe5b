"""The keyed token bucket that damps repeated unknown taps."""

from __future__ import annotations

import threading

import pytest

from station.ratelimit import RateLimiter
from tests.support.clock import FakeClock


def test_three_offers_per_badge_per_minute() -> None:
    clock = FakeClock(100.0)
    offers = RateLimiter(burst=3, period_s=60, clock=clock)
    assert [offers.allow("AA") for _ in range(4)] == [True, True, True, False]
    assert offers.allow("BB")  # another badge has its own bucket
    assert offers.retry_after("AA") == pytest.approx(20)
    clock.now += 19.9
    assert not offers.allow("AA")
    clock.now += 0.1
    assert offers.allow("AA")
    assert not offers.allow("AA")
    clock.now += 600
    assert [offers.allow("AA") for _ in range(4)] == [True, True, True, False]
    offers.reset("AA")
    assert offers.allow("AA") and offers.retry_after("AA") == 0


def test_a_clock_stepping_back_does_not_drain_or_fill() -> None:
    clock = FakeClock(100.0)
    limiter = RateLimiter(burst=1, period_s=10, clock=clock)
    assert limiter.allow("AA")
    clock.now -= 1000
    assert not limiter.allow("AA")
    clock.now += 10
    assert limiter.allow("AA")


def test_memory_is_bounded() -> None:
    clock = FakeClock(100.0)
    limiter = RateLimiter(burst=1, period_s=60, clock=clock, max_keys=3)
    for key in ("A", "B", "C", "D"):
        assert limiter.allow(key)
    assert limiter.allow("A")  # the oldest bucket was dropped to make room
    clock.now += 60  # every bucket full again: all dropped before the next new key
    assert limiter.allow("E")
    assert len(limiter) == 1


def test_threads_never_get_more_than_the_burst() -> None:
    limiter = RateLimiter(burst=5, period_s=3600)
    results: list[bool] = []
    lock = threading.Lock()

    def tap() -> None:
        allowed = limiter.allow("AA")
        with lock:
            results.append(allowed)

    threads = [threading.Thread(target=tap) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results.count(True) == 5 and len(results) == 40


@pytest.mark.parametrize("kwargs", [{"burst": 0}, {"period_s": 0}, {"max_keys": 0}])
def test_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)  # type: ignore[arg-type]
