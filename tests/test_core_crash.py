"""SIGKILL in the middle of a release at the station level: no job twice, none lost.

The emulator runs in this (parent) process, so it outlives the station. Each round a child
process runs the whole station core (real runtime, EzeepClient, ReleaseEngine, directory…) and
a simulated reader taps a badge; the child is killed at a random moment while the jobs are
being released. The parent then starts the station again on the same database, the way a
restarted service would, and lets it reconcile by itself. After every round no job was released
more than once, and every job either went to the printer (its journal row says so) or is still
waiting in its user's queue. At the end a tap releases what is left: every job exactly once.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from station.audit import AuditLog
from station.core.health import Ready
from station.core.session import Done
from station.directory import Directory
from station.emulator import Emulator
from station.events import BadgeRead
from station.release._journal import FINAL_STATES
from tests.support.child import run_child_and_kill
from tests.support.cloud import EmulatorFactory, add_jobs, paired_database, waiting_ids
from tests.support.core_rig import Parts, build_rig, wait_until
from tests.support.views import Published

ROOT = Path(__file__).resolve().parent.parent
BADGE = bytes.fromhex("04A1B2C3D4E501")
CHILD = """
import sys, threading
from pathlib import Path
from drivers.readers.base import ReaderThread
from drivers.readers.simulated import SimulatedReader
from station.core.health import Ready
from station.core.session import Done, Releasing
from tests.support.core_rig import build_rig

url, path, uid = sys.argv[1:4]
parts = build_rig(Path(path).parent, url)
ready = threading.Event()
said: set[str] = set()

def on_view(view):
    if isinstance(view.mode, Ready) and view.info.printer_name:
        ready.set()
    for kind, word in ((Releasing, "releasing"), (Done, "done")):
        if isinstance(view.mode, kind) and word not in said:
            said.add(word)
            print(word, flush=True)

parts.station.subscribe(on_view)
parts.station.start()
assert ready.wait(60), "the station did not get ready"
reader = SimulatedReader(name="sim")
ReaderThread(reader, parts.station.submit).start()
reader.tap(bytes.fromhex(uid))
threading.Event().wait()  # until killed
"""
ROUNDS = 4
JOBS_PER_ROUND = 5


def _restart(db_path: Path, url: str) -> tuple[Parts, Published]:
    """The station started again on the same database; returns once it is ready."""
    parts = build_rig(db_path.parent, url, tuning={"heartbeat_s": 0.2})
    views = Published()
    parts.station.subscribe(views)
    parts.station.start()
    views.next(Ready, info=lambda info: info.printer_name != "")
    return parts, views


def _journal(db_path: Path) -> dict[str, str]:
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return dict(db.execute("SELECT job_id, state FROM releases").fetchall())


def _check_round(emulator: Emulator, email: str, job_ids: list[str], journal: dict[str, str]) -> None:
    counts = emulator.release_counts()
    waiting = waiting_ids(emulator, email)
    assert {job_id: counts[job_id] for job_id in job_ids if counts.get(job_id, 0) > 1} == {}
    for job_id in job_ids:
        state = journal.get(job_id)
        assert state is None or state in FINAL_STATES, f"{state} left unsettled"
        if counts.get(job_id, 0) == 0:
            assert job_id in waiting, "a job was neither released nor left waiting"
            assert state in (None, "held")
        else:
            assert job_id not in waiting and state in ("printed", "released", "timed_out")


@pytest.mark.slow
def test_station_killed_mid_release_never_doubles_and_loses_nothing(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emulator, db_path, db = paired_database(make_emulator, tmp_path)
    user = emulator.users[4]  # seeded with no jobs of its own
    Directory(db).enrol(BADGE.hex().upper(), user.id, email=user.email, how="cli")
    audit = AuditLog(db)
    rng = random.Random(4)  # the timing still varies from run to run; the seed fixes the delays

    def reconciles() -> int:
        return sum(1 for entry in audit.entries(1000) if entry.event == "reconcile")

    job_ids: list[str] = []
    interrupted = 0
    for _ in range(ROUNDS):
        job_ids += add_jobs(emulator, user.email, JOBS_PER_ROUND)
        args = [emulator.url, str(db_path), BADGE.hex()]
        if not run_child_and_kill(CHILD, args, "releasing", rng.uniform(0.0, 0.3)):
            interrupted += 1
        open_rows = any(state not in FINAL_STATES for state in _journal(db_path).values())
        before = reconciles()
        restarted, _views = _restart(db_path, emulator.url)
        try:
            # The restarted station settles what the killed one left, by itself, and says so.
            wait_until(
                lambda: restarted.engine.unsettled() == 0 and (reconciles() > before or not open_rows)  # noqa: B023
            )
        finally:
            restarted.close()
        _check_round(emulator, user.email, job_ids, _journal(db_path))
    assert interrupted > 0

    left = waiting_ids(emulator, user.email)  # what the killed stations did not get to
    final, views = _restart(db_path, emulator.url)
    try:
        final.station.submit(BadgeRead(BADGE, "simulated", "sim", time.monotonic()))
        assert views.next(Done).outcome == ("released" if left else "nothing_to_print")
    finally:
        final.close()
    assert emulator.release_counts() == dict.fromkeys(job_ids, 1)
    assert waiting_ids(emulator, user.email) == set()
