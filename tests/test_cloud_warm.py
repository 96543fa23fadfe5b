"""Connections to the print host opened while the job list is on its way (station.cloud.warm):
the releases that follow the list open none of their own, over plain HTTP and over verified TLS."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import httpcore
import pytest

from station.cloud.contract import JOBS_PATH, PRINTERS_PATH
from station.cloud.errors import CloudError
from station.cloud.http import CloudHttp
from station.cloud.stack import CloudStack
from station.cloud.warm import Warmer
from station.database import memory_database
from station.emulator import Emulator
from station.release import ReleaseEngine
from tests.support.cloud import (
    CLIENT_ID,
    HARDWARE_ID,
    EmulatorFactory,
    add_jobs,
    pair,
    stack_for,
    waiting_ids,
)
from tests.support.emulator_http import wait_for_count
from tests.support.tls_files import LoopbackHttps, json_handler, self_signed


def test_the_releases_go_out_on_connections_opened_while_the_list_was_on_its_way(
    make_emulator: EmulatorFactory,
) -> None:
    emulator = make_emulator(print_port=0)  # the print host apart, as in the field
    db = memory_database()
    pair(emulator, db)
    api = emulator.url
    http = CloudHttp(account_url=api, api_url=api, print_url=emulator.print_url, client_id=CLIENT_ID)
    with CloudStack.create(http, db, hardware_id=HARDWARE_ID) as cloud:
        engine = ReleaseEngine(cloud.client, db, parallelism=3, poll_interval_s=0.05)
        user = emulator.users[4]
        ids = add_jobs(emulator, user.email, 3)
        before = emulator.stats()["connections"]
        # The printer check and the list stay on their way until let go, each on a connection of
        # its own: a check answered at once would leave its connection to the list.
        emulator.set_faults(held_path=os.path.commonpath([PRINTERS_PATH, JOBS_PATH]))
        done: list[object] = []
        call = threading.Thread(target=lambda: done.append(engine.release(user.id)))
        call.start()
        # The printer check and the list on two connections, three to the print host beside them.
        wait_for_count(emulator, "connections", before + 5)
        emulator.set_faults(held_path="")
        call.join(30)
        engine.close()
    assert len(done) == 1 and waiting_ids(emulator, user.email) == set()
    assert emulator.release_counts() == dict.fromkeys(ids, 1)
    assert emulator.stats()["connections"] == before + 5  # the releases opened none of their own


def test_on_one_host_the_lists_connections_carry_the_releases_and_no_spare_is_opened(
    emulator: Emulator,
) -> None:
    db = memory_database()
    pair(emulator, db)
    user = emulator.users[4]
    emulator.set_faults(latency_s=0.1)  # the requests of a call are in flight together
    with stack_for(emulator.url, db) as cloud:
        engine = ReleaseEngine(cloud.client, db, parallelism=3, poll_interval_s=0.05)
        add_jobs(emulator, user.email, 3)
        engine.release(user.id)  # opens the three connections three requests at once need
        before = emulator.stats()["connections"]
        ids = add_jobs(emulator, user.email, 3)
        engine.release(user.id)
        engine.close()
    counts = emulator.release_counts()
    assert [counts[job_id] for job_id in ids] == [1, 1, 1]
    assert emulator.stats()["connections"] == before  # nothing opened ahead for nothing


def test_a_connection_opened_ahead_carries_a_request_over_verified_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    accepted: list[int] = []

    with LoopbackHttps(json_handler(accepted), cert, key) as server:
        url = server.base_url
        with CloudHttp(
            account_url=url, api_url=url, print_url=url, client_id=CLIENT_ID, ca_file=str(cert)
        ) as http:
            http.warm("print", 2)
            answers = [http.request("GET", "print", "/sfapi/Status/", token="t") for _ in range(3)]
    assert answers == [{"ok": True}] * 3
    assert len(accepted) == 2  # the two opened ahead; the requests took one and kept it


def test_connections_nobody_takes_are_closed_when_they_are_too_old() -> None:
    # A tap whose list was empty used none of the connections opened for its releases.
    backend = httpcore.SyncBackend()
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(30)
        port = server.getsockname()[1]
        warmer = Warmer(lambda host, port, timeout: backend.connect_tcp(host, port, timeout), idle_s=0.2)
        assert warmer.warm("127.0.0.1", port, 2, tls=None, timeout=5) == 2
        accepted = [server.accept()[0] for _ in range(2)]
        try:
            for conn in accepted:
                conn.settimeout(30)
                assert conn.recv(1) == b""  # closed by the station, without a tap to take it
        finally:
            for conn in accepted:
                conn.close()
            warmer.close()


def test_a_warm_up_that_hangs_does_not_stretch_a_requests_deadline() -> None:
    # A listener whose accept queue is full: a connect to it hangs (the SYNs are dropped).
    with socket.create_server(("127.0.0.1", 0), backlog=0) as server:
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        with socket.create_connection(server.getsockname(), timeout=5):  # fills the queue
            http = CloudHttp(
                account_url=url, api_url=url, print_url=url, client_id=CLIENT_ID, connect_timeout_s=3.0
            )
            try:
                http.warm("print", 1)  # hangs until its own 3 s are up
                started = time.monotonic()
                with pytest.raises(CloudError):
                    http.request("GET", "print", "/x", token="t", until=started + 3.0)
                # The warm-up's wait is part of the request's 3 s, not added to a connect of its own.
                assert time.monotonic() - started < 5.0
            finally:
                http.close()
