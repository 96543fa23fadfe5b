"""The station's cloud parts against the emulator: pairing, a stack on a stored pair, jobs.

``EmulatorFactory`` is the type of the ``make_emulator`` fixture (tests/conftest.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.cloud.api import EzeepClient
from station.cloud.http import CloudHttp
from station.cloud.stack import CloudStack
from station.config import CloudSection
from station.database import Database, open_database
from station.emulator import Emulator

EmulatorFactory = Callable[..., Emulator]

HARDWARE_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CLIENT_ID = "release-tests"
CONFIG_CLIENT_ID = "release-station-test"  # the client id of config_for() and the cloud tests
# The client ids the tests' stations use: a strict emulator enables refresh tokens and the
# tp_id claim for these (and no other), as ezeep does for a station's registered client id.
STATION_CLIENT_IDS = (CLIENT_ID, CONFIG_CLIENT_ID, "e2e-tests")


def profile_options(profile: str) -> dict[str, object]:
    """The ``make_emulator`` options of an emulator profile (``default`` or ``strict``)."""
    return {} if profile == "default" else {"profile": profile, "client_ids": STATION_CLIENT_IDS}


def stack_for(
    url: str,
    db: Database,
    *,
    timeout_s: float = 5.0,
    cloud: CloudSection | None = None,
    **http: Any,
) -> CloudStack:
    """The cloud parts of a station on the token pair stored in ``db``; ``cloud``: the ``[cloud]``
    section the client follows; ``http``: more :class:`CloudHttp` options (``proxy``, ``ca_file``)."""
    connection = CloudHttp(
        account_url=url, api_url=url, print_url=url, client_id=CLIENT_ID, timeout_s=timeout_s, **http
    )
    return CloudStack.create(connection, db, hardware_id=HARDWARE_ID, poll_interval_s=0.01, cloud=cloud)


def config_for(tmp_path: Path, emulator: Emulator, client_id: str = CONFIG_CLIENT_ID, extra: str = "") -> str:
    """A station configuration file in ``tmp_path`` whose cloud is the emulator; its path."""
    path = tmp_path / "station.toml"
    url = emulator.url
    path.write_text(
        f'[station]\nstate_dir = "{tmp_path / "state"}"\nhardware_id = "{HARDWARE_ID}"\n'
        f'[cloud]\naccount_url = "{url}"\napi_url = "{url}"\nprint_url = "{url}"\nclient_id = "{client_id}"\n'
        + extra
    )
    return str(path)


def client_for(url: str, db: Database, *, timeout_s: float = 5.0) -> EzeepClient:
    return stack_for(url, db, timeout_s=timeout_s).client


def pair(emulator: Emulator, db: Database) -> None:
    """Pair a station bound to the emulator's first printer; the pair is stored in ``db``."""
    with stack_for(emulator.url, db) as cloud:
        pair_stack(emulator, cloud)


def pair_stack(emulator: Emulator, cloud: CloudStack) -> None:
    """Pair ``cloud`` (approved at once, bound to the emulator's first printer) and store the pair."""
    emulator.auto_approve_device = emulator.printers[0].id
    pair = cloud.pairer.wait(cloud.pairer.start(), threading.Event())
    cloud.keeper.install(pair, hardware_id=cloud.pairer.hardware_id)


def add_jobs(emulator: Emulator, email: str, count: int) -> list[str]:
    return [emulator.add_job(email, name=f"Doc {n}.pdf") for n in range(count)]


def waiting_ids(emulator: Emulator, email: str) -> set[str]:
    return {job["id"] for job in emulator.waiting_jobs(email)}


def paired_database(make_emulator: EmulatorFactory, tmp_path: Path) -> tuple[Emulator, Path, Database]:
    """An emulator (jobs take 0.3 s, answers come 30 ms late) and a station database paired to it."""
    emulator = make_emulator(job_duration_s=0.3)
    db_path = tmp_path / "station.db"
    db = open_database(db_path)
    pair(emulator, db)
    emulator.set_faults(latency_s=0.03)
    return emulator, db_path, db
