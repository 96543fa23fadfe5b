"""A station core on the real collaborators, as the composition root builds it, for the core's
end-to-end and crash tests: the runtime, EzeepClient, TokenKeeper, Pairer, ReleaseEngine,
Directory, AuditLog, StationSettings, Pins and RateLimiter on one SQLite file, with the clocks
and timings a test needs to move (see :func:`build_station`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.audit import AuditLog
from station.cloud.api import EzeepClient
from station.cloud.http import CloudHttp
from station.cloud.pairing import Pairer
from station.cloud.tokens import TokenKeeper, TokenStore
from station.config import Config, StationSection
from station.core.audit_trail import AuditTrail
from station.core.runtime import Station
from station.core.state import Identity, Tuning
from station.core.worker import Worker
from station.database import open_database
from station.directory import Directory
from station.feedback import Pattern
from station.pin import Pins
from station.ratelimit import RateLimiter
from station.release import ReleaseEngine
from station.settings import StationSettings

HARDWARE_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
WAIT_S = 30.0
TECH_PIN = "24681357"


class Patterns:
    """A feedback that remembers what it was asked to show."""

    def __init__(self) -> None:
        self.played: list[Pattern] = []

    def play(self, pattern: Pattern) -> None:
        self.played.append(pattern)

    def close(self) -> None:
        pass


@dataclasses.dataclass
class Parts:
    """A station core on the real collaborators, as the composition root builds it."""

    station: Station
    keeper: TokenKeeper
    http: CloudHttp
    engine: ReleaseEngine
    directory: Directory
    audit: AuditLog
    patterns: Patterns
    pins: Pins
    pin_offset: list[float]
    token_offset: list[float]
    trail: AuditTrail

    def close(self) -> None:
        self.station.stop()
        self.trail.close()
        self.keeper.close()
        self.http.close()


def build_station(
    path: Path,
    url: str,
    *,
    mode: str = "all",
    clock: Callable[[], float] = time.monotonic,
    tuning: dict[str, Any] | None = None,
    keeper: dict[str, Any] | None = None,
    audit: AuditLog | None = None,
    technician_pin: bool = True,
    pins_type: type[Pins] = Pins,
    workers: int = 6,
) -> Parts:
    """A station on the database at ``path`` talking to the emulator at ``url`` (not started).

    Tests move the token keeper's clock with ``token_offset`` (to let the token run out) and
    the PINs' monotonic clock with ``pin_offset``. The technician PIN is :data:`TECH_PIN` unless
    ``technician_pin`` is False. A tap waits 30 s for ezeep's first answer unless
    ``tuning`` says otherwise: on a loaded test machine 1.5 s is not always enough.
    ``workers``: the threads for work that talks to ezeep.
    """
    http = CloudHttp(account_url=url, api_url=url, print_url=url, client_id="core-tests", timeout_s=2.0)
    token_offset = [0.0]

    def token_clock() -> float:
        return time.monotonic() + token_offset[0]

    # Every owner opens its own connection, as the composition root does.
    store = TokenStore(open_database(path), clock=token_clock)
    keeper_ = TokenKeeper(store, http, clock=token_clock, **(keeper or {}))
    client = EzeepClient(http, keeper_).impatient()  # as the composition root passes it
    engine = ReleaseEngine(  # no quarantine window: here no request lands after its client gave up
        client, open_database(path), parallelism=4, job_timeout_s=20, poll_interval_s=0.05, in_doubt_s=0
    )
    section = StationSection(name="Test", release_mode=mode, session_timeout_s=60)  # type: ignore[arg-type]
    pin_offset = [0.0]
    pins = pins_type(open_database(path), clock=lambda: time.monotonic() + pin_offset[0])
    if technician_pin and not pins.technician_set:
        pins.set_technician(TECH_PIN)
    directory = Directory(open_database(path))
    audit = audit or AuditLog(open_database(path))
    patterns = Patterns()
    worker = Worker(
        cloud=client,
        tokens=keeper_,
        pairer=Pairer(http, "core-tests", HARDWARE_ID, interval_s=0.01),
        releaser=engine,
        directory=directory,
        audit=audit,
        settings=StationSettings(open_database(path), Config(station=section)),
        pins=pins,
        limiter=RateLimiter(burst=3, period_s=60),
        hardware_id=HARDWARE_ID,
        clock=clock,
    )
    station = Station(
        worker,
        feedback=patterns,
        identify=lambda read: read.canonical_id,
        identity=Identity(station_name="Test", hardware_id=HARDWARE_ID),
        tuning=Tuning(
            **{"printer_recheck_s": 0.3, "done_linger_s": 60.0, "answer_s": 30.0, **(tuning or {})},
        ),
        workers=workers,
    )
    trail = AuditTrail(audit)
    station.listen(trail)
    parts = (keeper_, http, engine, directory, audit, patterns, pins, pin_offset, token_offset, trail)
    return Parts(station, *parts)


def wait_until(check: Callable[[], bool]) -> None:
    """Wait (bounded) until ``check()`` holds; for state no view shows."""
    pause = threading.Event()
    for _ in range(int(WAIT_S / 0.05)):
        if check():
            return
        pause.wait(0.05)
    raise AssertionError("the condition never held")
