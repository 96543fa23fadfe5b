"""A warm-up that fails never fails a tap: the releases connect as they would have.

The failure is a real one: the process can start no more threads (a thread stack larger than
the address space), so the warm-up's first connection cannot get a thread, while the engine's
own request thread already runs and the emulator serves from its own loop.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import pytest

from station.cloud.http import CloudHttp
from station.cloud.stack import CloudStack
from station.database import memory_database
from station.release import ReleaseEngine
from tests.support.cloud import CLIENT_ID, HARDWARE_ID, EmulatorFactory, add_jobs, pair, waiting_ids

UNMAPPABLE_STACK = 2**48  # bytes: more than a 64-bit process's user address space


@contextlib.contextmanager
def no_new_threads() -> Iterator[None]:
    """While inside, every thread the process tries to start fails ("can't start new thread")."""
    threading.stack_size(UNMAPPABLE_STACK)
    try:
        yield
    finally:
        threading.stack_size(0)


def test_a_tap_whose_warm_up_gets_no_thread_releases_every_job_once(
    make_emulator: EmulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with no_new_threads(), pytest.raises(RuntimeError, match="can't start new thread"):
        threading.Thread(target=lambda: None).start()
    emulator = make_emulator(print_port=0)  # the print host apart, as in the field: it is warmed
    db = memory_database()
    pair(emulator, db)
    api = emulator.url
    http = CloudHttp(account_url=api, api_url=api, print_url=emulator.print_url, client_id=CLIENT_ID)
    user = emulator.users[4]
    with CloudStack.create(http, db, hardware_id=HARDWARE_ID) as cloud:
        # One request thread, started by a call with no jobs (which warms nothing): the tap needs
        # no other thread of the engine's, only the warm-up would start one.
        engine = ReleaseEngine(cloud.client, db, parallelism=1, poll_interval_s=0.05)
        assert engine.release(user.id, jobs=[]).printed == ()
        ids = add_jobs(emulator, user.email, 3)
        with caplog.at_level(logging.WARNING, logger="station.release"), no_new_threads():
            summary = engine.release(user.id)
        engine.close()
    assert "could not open connections to the print host ahead: RuntimeError" in caplog.text
    assert sorted(p.job_id for p in summary.printed) == sorted(ids)
    assert emulator.release_counts() == dict.fromkeys(ids, 1)
    assert waiting_ids(emulator, user.email) == set()
