"""``release-station demo --headless``: the whole cloud path against the embedded ezeep emulator.

Starts the emulator on loopback, pairs with auto-approval, then releases the waiting jobs of a
seeded user and follows each until it is printed, printing every step. Exits 0 when every job
printed. :func:`run_headless` is the flow itself, for the windowed demo to reuse. Plain
``release-station demo`` (the README's quick start) runs it too until the touchscreen demo is
wired in here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, TextIO

from station.cli import EXIT_FAILURE, EXIT_OK, Context

DEMO_CLIENT_ID = "release-station-demo"
DEMO_JOB_TIMEOUT_S = 60.0


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="run against the embedded ezeep emulator")
    demo.add_argument("--headless", action="store_true", help="no screen: pair, release, print each step")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace, context: Context) -> int:
    if not args.headless:
        # The README's quick start runs `demo`: until the touchscreen demo is wired in, it is this one.
        print("The touchscreen demo is not available yet; running the headless demo.", file=sys.stderr)
    return run_headless(sys.stdout)


def demo_hardware_id() -> str:
    """This machine's hardware id, or a fixed one where it has none (containers)."""
    from drivers.hardware_id import HardwareIdError, hardware_id

    try:
        return hardware_id()
    except HardwareIdError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "release-station-demo"))


def run_headless(out: TextIO, *, state_dir: Path | None = None, cancel: threading.Event | None = None) -> int:
    """Emulator up, pair, release the jobs of the seeded user with the most; 0 when all printed."""
    from station.cli.cmd_pair import pair_station
    from station.cloud.errors import CloudError
    from station.cloud.http import CloudHttp
    from station.cloud.models import JobState
    from station.cloud.stack import CloudStack
    from station.database import open_database
    from station.emulator import Emulator

    cancel = cancel or threading.Event()
    with (
        tempfile.TemporaryDirectory(prefix="release-station-demo-") as scratch,
        Emulator(poll_interval_s=1, job_duration_s=2.0) as emulator,
    ):
        print(f"ezeep emulator listening on {emulator.url}", file=out)
        printer = emulator.printers[0]
        emulator.auto_approve_device = printer.id
        db = open_database((state_dir or Path(scratch)) / "station.db")
        http = CloudHttp.single_host(emulator.url, client_id=DEMO_CLIENT_ID)
        with CloudStack.create(http, db, hardware_id=demo_hardware_id(), poll_interval_s=1.0) as cloud:
            try:
                bound = pair_station(cloud, out, cancel)
                if bound is None:
                    return EXIT_FAILURE
                user = max(emulator.users, key=lambda u: len(emulator.waiting_jobs(u.email)))
                jobs = cloud.client.waiting_jobs(user.id)
                print(f"{user.first_name} {user.last_name} has {len(jobs)} waiting job(s)", file=out)
                spooled = []
                for job in jobs:
                    spooled.append((job, cloud.client.release(job.id, bound.id)))
                    print(f"  released {job.name!r} ({job.pages or '?'} pages) to {bound.name}", file=out)
                printed = 0
                for job, spool_id in spooled:
                    status = cloud.client.wait_for_job(spool_id, timeout_s=DEMO_JOB_TIMEOUT_S, stop=cancel)
                    print(f"  {job.name!r}: {status.state.value} ({status.text or status.code})", file=out)
                    printed += status.state is JobState.PRINTED
            except CloudError as exc:
                print(f"demo failed: {exc}", file=out)
                return EXIT_FAILURE
            finally:
                db.close()
        print(f"{printed} of {len(jobs)} job(s) printed", file=out)
        return EXIT_OK if jobs and printed == len(jobs) else EXIT_FAILURE
