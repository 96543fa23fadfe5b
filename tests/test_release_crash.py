"""SIGKILL in the middle of a release: after a restart, no job is released twice and none is lost.

The emulator runs in this (parent) process, so it outlives the station. Each round a child
process (a station: reconcile, then release everything waiting) is killed at a random moment;
then a fresh engine in the parent reconciles the same database and releases what is left.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlite_utils

from station.database import open_database
from station.emulator import Emulator
from station.release import ReleaseEngine
from tests.conftest import EmulatorFactory
from tests.test_release import add_jobs, client_for, pair, waiting_ids

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import sys
from pathlib import Path
from station.database import open_database
from station.release import ReleaseEngine
from tests.test_release import client_for

url, path, user_id = sys.argv[1:4]
db = open_database(Path(path))
engine = ReleaseEngine(
    client_for(url, db), db, parallelism=3, job_timeout_s=30, poll_interval_s=0.05, in_doubt_s=0
)
print("ready", flush=True)
engine.reconcile()
engine.release(user_id, None)
print("done", flush=True)
"""
ROUNDS = 6
JOBS_PER_ROUND = 6


def run_child_and_kill(script: str, args: list[str], started: str, delay_s: float) -> bool:
    """Run ``script`` in a child; SIGKILL it ``delay_s`` after it prints ``started``.

    Returns True if it printed ``done`` before the kill.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == started
        finished = threading.Event()

        def watch() -> None:
            if child.stdout is not None and child.stdout.readline().strip() == "done":
                finished.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        finished.wait(delay_s)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        watcher.join(timeout=5)
        return finished.is_set()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)


def paired_database(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> tuple[Emulator, Path, sqlite_utils.Database]:
    """An emulator (jobs take 0.3 s, answers come 30 ms late) and a station database paired to it."""
    emulator = make_emulator(job_duration_s=0.3)
    db_path = tmp_path / "station.db"
    db = open_database(db_path)
    pair(emulator, db)
    emulator.set_faults(latency_s=0.03)
    return emulator, db_path, db


def restarted(emulator: Emulator, db: sqlite_utils.Database) -> ReleaseEngine:
    """The engine of a station started again after a kill.

    No quarantine window: the emulator's ``latency_s`` drops a request whose client died, so
    here nothing can land late (the slow-but-done fault has tests of its own, in test_release).
    """
    return ReleaseEngine(client_for(emulator.url, db), db, parallelism=3, poll_interval_s=0.05, in_doubt_s=0)


@pytest.mark.slow
def test_sigkill_mid_release_never_doubles_and_loses_nothing(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emulator, db_path, db = paired_database(make_emulator, tmp_path)
    user = emulator.users[4]
    rng = random.Random(4)  # the timing still varies from run to run; the seed fixes the delays
    job_ids: list[str] = []
    interrupted = 0
    for _ in range(ROUNDS):
        job_ids += add_jobs(emulator, user.email, JOBS_PER_ROUND)
        if not run_child_and_kill(
            CHILD, [emulator.url, str(db_path), user.id], "ready", rng.uniform(0.0, 0.4)
        ):
            interrupted += 1
        engine = restarted(emulator, db)
        engine.reconcile()
        counts = emulator.release_counts()
        assert [job_id for job_id in job_ids if counts.get(job_id, 0) > 1] == []

    engine = restarted(emulator, db)
    engine.reconcile()
    engine.release(user.id, None)
    assert interrupted > 0  # at least one kill landed before the child had finished
    assert emulator.release_counts() == dict.fromkeys(job_ids, 1)
    assert waiting_ids(emulator, user.email) == set()
