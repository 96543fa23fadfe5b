"""Connections to the print host opened while the job list is on its way (station.cloud.warm):
the releases that follow the list open none of their own, over plain HTTP and over verified TLS."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from station.cloud.contract import JOBS_PATH
from station.cloud.http import CloudHttp
from station.cloud.stack import CloudStack
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
from tests.support.tls_files import LoopbackHttps, self_signed


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
        emulator.set_faults(held_path=JOBS_PATH)  # the list stays on its way until let go
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

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a connection serves more than one request

        def setup(self) -> None:
            accepted.append(1)
            super().setup()

        def do_GET(self) -> None:
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    with LoopbackHttps(Handler, cert, key) as server:
        url = server.base_url
        with CloudHttp(
            account_url=url, api_url=url, print_url=url, client_id=CLIENT_ID, ca_file=str(cert)
        ) as http:
            http.warm("print", 2)
            answers = [http.request("GET", "print", "/sfapi/Status/", token="t") for _ in range(3)]
    assert answers == [{"ok": True}] * 3
    assert len(accepted) == 2  # the two opened ahead; the requests took one and kept it
