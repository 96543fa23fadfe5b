"""SIGKILL in the middle of a release: after a restart, no job is released twice and none is lost.

The emulator runs in this (parent) process, so it outlives the station. Each round a child
process (a station: reconcile, then release everything waiting) is killed at a random moment;
then a fresh engine in the parent reconciles the same database and releases what is left.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from station.database import Database
from station.emulator import Emulator
from station.release import ReleaseEngine
from tests.support.child import run_child_and_kill
from tests.support.cloud import EmulatorFactory, add_jobs, client_for, paired_database, waiting_ids

CHILD = """
import sys
from pathlib import Path
from station.database import open_database
from station.release import ReleaseEngine
from tests.support.cloud import client_for

url, path, user_id = sys.argv[1:4]
db = open_database(Path(path))
engine = ReleaseEngine(
    client_for(url, db), db, parallelism=3, job_timeout_s=30, poll_interval_s=0.05, in_doubt_s=0
)
print("ready", flush=True)
engine.reconcile()
engine.release(user_id)
print("done", flush=True)
"""
ROUNDS = 6
JOBS_PER_ROUND = 6


def restarted(emulator: Emulator, db: Database) -> ReleaseEngine:
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
    engine.release(user.id)
    assert interrupted > 0  # at least one kill landed before the child had finished
    assert emulator.release_counts() == dict.fromkeys(job_ids, 1)
    assert waiting_ids(emulator, user.email) == set()
