"""A station core built by the real composition root (:func:`station.cli.compose.build_station`)
from a configuration in a test's directory, talking to the ezeep emulator, for the core's
end-to-end and crash tests. Only what a test must move goes in as
:class:`~station.cli.compose.Seams`: the clocks, the feedback, the timings no configuration
key sets (see :func:`build_rig`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.audit import AuditLog
from station.cli.compose import CLOUD_WORKERS, Seams, build_station
from station.cloud.http import CloudHttp
from station.cloud.tokens import BACKOFF_CAP_S, BACKOFF_S, TokenKeeper
from station.config import Config, parse_config
from station.core.runtime import Station
from station.database import Database, open_database
from station.directory import Directory
from station.feedback import Pattern
from station.pin import Pins
from station.release import ReleaseEngine

HARDWARE_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
WAIT_S = 30.0
TECH_PIN = "24681357"
# Faster than a station's own: the poll of a released job, of a pairing code; a tap waits 30 s
# for ezeep's first answer, as 1.5 s is not always enough on a loaded test machine.
TEST_TUNING: dict[str, Any] = {"printer_recheck_s": 0.3, "done_linger_s": 60.0, "answer_s": 30.0}


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
    """A station built by the composition root, the parts of it tests look at, and the offsets
    of its clocks that tests move: ``token_offset`` (to let the token run out) and
    ``pin_offset`` (to let a PIN lockout run out)."""

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
    stack: contextlib.ExitStack

    def close(self) -> None:
        self.station.stop()
        self.stack.close()


def rig_config(state_dir: Path, url: str, *, mode: str = "all", more: str = "") -> Config:
    """The station's configuration: its state in ``state_dir``, the emulator at ``url``; ``more``:
    further sections (TOML), e.g. a ``[directory]`` source."""
    return parse_config(
        f"""
        [station]
        name = "Test"
        state_dir = '{state_dir}'
        hardware_id = "{HARDWARE_ID}"
        release_mode = "{mode}"
        [cloud]
        account_url = "{url}"
        api_url = "{url}"
        print_url = "{url}"
        client_id = "core-tests"
        request_timeout_s = 2.0
        job_timeout_s = 20
        """
        + more
    )


def build_rig(
    state_dir: Path,
    url: str,
    *,
    mode: str = "all",
    clock: Callable[[], float] = time.monotonic,
    tuning: dict[str, Any] | None = None,
    refresh_backoff_s: tuple[float, float] = (BACKOFF_S, BACKOFF_CAP_S),
    technician_pin: bool = True,
    pins_type: type[Pins] = Pins,
    workers: int = CLOUD_WORKERS,
    config_more: str = "",
) -> Parts:
    """A station with its database in ``state_dir`` talking to the emulator at ``url`` (not started).

    The technician PIN is :data:`TECH_PIN` (set as first boot hands it over) unless
    ``technician_pin`` is False. ``tuning`` changes fields of the station's
    :class:`~station.core.state.Tuning` beyond :data:`TEST_TUNING`; ``refresh_backoff_s`` the
    token keeper's pauses; ``pins_type`` is the PIN guard's class; ``workers``: the threads for
    work that talks to ezeep; ``config_more``: further configuration sections (TOML).
    """
    config = rig_config(state_dir, url, mode=mode, more=config_more)
    if technician_pin:
        setup = open_database(config.database_path)
        first_boot = Pins(setup)
        if not first_boot.technician_set:
            first_boot.set_technician(TECH_PIN)
        setup.close()
    token_offset, pin_offset = [0.0], [0.0]

    def pins(db: Database) -> Pins:
        return pins_type(db, clock=lambda: time.monotonic() + pin_offset[0])

    fields = {**TEST_TUNING, **(tuning or {})}
    patterns = Patterns()
    seams = Seams(
        clock=clock,
        token_clock=lambda: time.monotonic() + token_offset[0],
        pins=pins,
        feedback=patterns,
        retune=lambda tuned: dataclasses.replace(tuned, **fields),
        release_poll_s=0.05,
        in_doubt_s=0,  # no quarantine window: here no request lands after its client gave up
        pair_poll_s=0.01,
        refresh_backoff_s=refresh_backoff_s,
        workers=workers,
    )
    stack = contextlib.ExitStack()
    built = build_station(config, stack, restart=lambda: None, seams=seams)
    cloud = built.cloud
    return Parts(
        built.station,
        cloud.keeper,
        cloud.http,
        built.releases,
        built.directory,
        built.audit,
        patterns,
        built.pins,
        pin_offset,
        token_offset,
        stack,
    )


def wait_until(check: Callable[[], bool]) -> None:
    """Wait (bounded) until ``check()`` holds; for state no view shows."""
    pause = threading.Event()
    for _ in range(int(WAIT_S / 0.05)):
        if check():
            return
        pause.wait(0.05)
    raise AssertionError("the condition never held")
