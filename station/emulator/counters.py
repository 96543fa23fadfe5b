"""Request counters the tests and benchmarks read (``Emulator.stats()``).

``flood_bytes`` counts the bytes of ``huge_body_bytes`` answers that left the emulator, so a
test can show the station stopped reading early. ``slow_held`` counts the requests the
``slow_done_s`` fault began to hold, ``slow_done`` the ones it then carried out (whether or not
their client still waited). ``connections`` counts the connections accepted, used or not.
"""

from __future__ import annotations

import threading
from collections import Counter

COUNTER_NAMES = (
    "pair",
    "poll",
    "refresh",
    "revoke",
    "api",
    "print",
    "status",
    "flood_bytes",
    "slow_held",
    "slow_done",
    "connections",
)


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def bump(self, name: str, by: int = 1) -> None:
        if name not in COUNTER_NAMES:
            raise ValueError(f"unknown counter {name!r}")
        with self._lock:
            self._counts[name] += by

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {name: self._counts[name] for name in COUNTER_NAMES}
