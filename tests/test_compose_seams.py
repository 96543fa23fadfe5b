"""The composition root's seams: with none moved, the station is wired as it runs in service;
the parts it returns are the ones on the configured state."""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable
from pathlib import Path

from station.cli.compose import RELEASE_POLL_S, Seams, build_station
from station.cloud import contract
from station.cloud.tokens import TokenKeeper
from station.config import parse_config
from station.core.runtime import Station
from station.database import open_database
from station.directory import Directory
from station.pin import Pins
from station.release import ReleaseEngine


def default_of(function: Callable[..., object], name: str) -> object:
    return inspect.signature(function).parameters[name].default


def test_no_seams_moved_is_the_running_station() -> None:
    seams = Seams()
    assert seams.clock is time.monotonic and seams.token_clock is time.monotonic
    assert seams.refresh_backoff_s == (
        default_of(TokenKeeper, "backoff_s"),
        default_of(TokenKeeper, "backoff_cap_s"),
    )
    assert seams.pair_poll_s == contract.POLL_INTERVAL_S
    assert seams.release_poll_s == RELEASE_POLL_S == default_of(ReleaseEngine, "poll_interval_s")
    assert seams.workers == default_of(Station, "workers")
    assert (seams.pins, seams.feedback, seams.retune, seams.in_doubt_s) == (None, None, None, None)


def test_the_parts_built_keep_the_configured_state(tmp_path: Path) -> None:
    config = parse_config(
        f"""
        [station]
        state_dir = '{tmp_path}'
        hardware_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        [cloud]
        client_id = "compose-tests"
        """
    )
    other = open_database(config.database_path)  # what the command line does meanwhile
    Pins(other).set_technician("24681357")
    Directory(other).enrol("04A1B2C3D4E5F6", "user-1", email="ada@example.com", how="cli")
    with contextlib.ExitStack() as stack:
        built = build_station(config, stack, restart=lambda: None)
        assert built.pins.technician_set
        entry = built.directory.lookup("04A1B2C3D4E5F6")
        assert entry is not None and entry.user_id == "user-1"
        assert built.releases.unsettled() == 0
        assert not built.cloud.keeper.paired
        assert built.audit.count() == 0
    other.close()
