"""Time from a tap to every job printed-or-submitted, for 1, 10 and 50 waiting jobs.

The station runs against the ezeep emulator on loopback with 50 ms added to every answer. A
"tap" is ``ReleaseEngine.release(user, None)``: check the printer and list the jobs (one round
trip, in parallel), record the intents, release every job, follow them. The clock stops when
the last job has been accepted by ezeep (or has already finished). The parallel engine uses
``parallelism=10`` (the config default is 4; 10 is allowed, up to 16); the sequential baseline
is the same engine with ``parallelism=1``, run in the same process against the same emulator.

Run: ``.venv/bin/python -m bench.release``. Ends with one line::

    RESULT jobs1_s=… jobs10_s=… jobs50_s=… jobs10_rtts=… jobs10_speedup=…

``jobs10_rtts`` is the 10-job time divided by the added latency (goal: at most 4), and
``jobs10_speedup`` the sequential 10-job time divided by the parallel one (goal: at least 5).
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

import sqlite_utils

from station.cloud.http import CloudHttp
from station.cloud.stack import CloudStack
from station.database import open_database
from station.emulator import Emulator
from station.release import JobProgress, ReleaseEngine, ReleaseState

LATENCY_S = 0.05
PARALLELISM = 10
SIZES = (1, 10, 50)
REPEATS = 3
HARDWARE_ID = "6f1c2b9e-5d1a-4c55-9b0e-3f7d2a1c8e40"
CLIENT_ID = "release-bench"
_ACCEPTED = {ReleaseState.SUBMITTED, ReleaseState.PRINTING, ReleaseState.PRINTED}


def _paired_stack(emulator: Emulator, db: sqlite_utils.Database) -> CloudStack:
    emulator.auto_approve_device = emulator.printers[0].id
    url = emulator.url
    http = CloudHttp(account_url=url, api_url=url, print_url=url, client_id=CLIENT_ID)
    cloud = CloudStack.create(http, db, hardware_id=HARDWARE_ID, poll_interval_s=0.01)
    cloud.keeper.install(cloud.pairer.wait(cloud.pairer.start(), threading.Event()), hardware_id=HARDWARE_ID)
    return cloud


def _tap(engine: ReleaseEngine, emulator: Emulator, user_id: str, email: str, jobs: int) -> float:
    """Seconds from the tap until every job was accepted; checks each was released exactly once."""
    ids = {emulator.add_job(email, name=f"Bench {n}.pdf") for n in range(jobs)}
    accepted: set[str] = set()
    done_at: list[float] = []

    def on_progress(progress: JobProgress) -> None:
        if progress.state in _ACCEPTED and progress.job_id in ids:
            accepted.add(progress.job_id)
            if len(accepted) == len(ids) and not done_at:
                done_at.append(time.perf_counter())

    started = time.perf_counter()
    summary = engine.release(user_id, None, None, on_progress)
    if not done_at or len(summary.printed) != jobs:
        raise SystemExit(f"the release of {jobs} job(s) did not complete: {summary}")
    counts = emulator.release_counts()
    if any(counts.get(job_id) != 1 for job_id in ids):
        raise SystemExit("a job was released more than once")
    return done_at[0] - started


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-release-") as scratch,
        Emulator(port=0, job_duration_s=0.2, poll_interval_s=0) as emulator,
    ):
        db = open_database(Path(scratch) / "station.db")
        with _paired_stack(emulator, db) as cloud:
            user = emulator.users[4]
            cloud.client.station_printer()  # a fresh token and warm connections, as at an idle station
            emulator.set_faults(latency_s=LATENCY_S)
            engines = {
                name: ReleaseEngine(cloud.client, db, parallelism=parallelism, poll_interval_s=0.1)
                for name, parallelism in (("parallel", PARALLELISM), ("sequential", 1))
            }
            results: dict[tuple[str, int], float] = {}
            print(f"added latency {LATENCY_S * 1000:.0f} ms; parallel = {PARALLELISM} requests at once")
            print(f"{'jobs':>5} {'parallel s':>11} {'sequential s':>13} {'speedup':>8} {'RTTs':>6}")
            for size in SIZES:
                for name, engine in engines.items():
                    runs = [_tap(engine, emulator, user.id, user.email, size) for _ in range(REPEATS)]
                    results[(name, size)] = statistics.median(runs)
                parallel, sequential = results[("parallel", size)], results[("sequential", size)]
                print(
                    f"{size:>5} {parallel:>11.3f} {sequential:>13.3f} {sequential / parallel:>7.1f}x"
                    f" {parallel / LATENCY_S:>6.1f}"
                )
        db.close()
    jobs10 = results[("parallel", 10)]
    print(
        f"RESULT jobs1_s={results[('parallel', 1)]:.3f} jobs10_s={jobs10:.3f}"
        f" jobs50_s={results[('parallel', 50)]:.3f} jobs10_rtts={jobs10 / LATENCY_S:.2f}"
        f" jobs10_speedup={results[('sequential', 10)] / jobs10:.2f}"
    )


if __name__ == "__main__":
    main()
