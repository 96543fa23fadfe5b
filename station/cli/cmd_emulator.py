"""``release-station emulator``: run the ezeep emulator in the foreground, or add a job to one.

``release-station emulator [--host] [--port] [--job-duration S] [--auto-approve-device ID]
[--auto-approve-user EMAIL]`` serves until Ctrl-C or SIGTERM. ``release-station emulator
add-job --url URL EMAIL [NAME] [--pages N]`` "prints to AnyPrinter" through the admin API.
It is never started by ``release-station run``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from station.cli import EXIT_FAILURE, EXIT_OK, Context

if TYPE_CHECKING:
    from station.emulator import Emulator

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="run the ezeep emulator (for the demo, tests and benchmarks)",
        description="Serve the ezeep emulator on one port until Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument(
        "--job-duration", type=float, default=2.0, metavar="S", help="seconds a released job takes to print"
    )
    parser.add_argument(
        "--auto-approve-device", metavar="PRINTER_ID", help="approve device pairings, binding this printer"
    )
    parser.add_argument("--auto-approve-user", metavar="EMAIL", help="approve user pairings as this member")
    parser.set_defaults(func=_run)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    add_job = actions.add_parser("add-job", help="add a waiting job for an org member of a running emulator")
    add_job.add_argument("--url", required=True, help="the emulator's URL, as printed when it started")
    add_job.add_argument("email", help="the member who printed to AnyPrinter")
    add_job.add_argument("name", nargs="?", default="Report.pdf", help="document name (default Report.pdf)")
    add_job.add_argument("--pages", type=int, default=1, help="page count (default 1)")
    add_job.set_defaults(func=_add_job)


def _run(args: argparse.Namespace, context: Context) -> int:
    from station.emulator import Emulator

    if args.job_duration < 0:
        log.error("--job-duration must not be negative")
        return EXIT_FAILURE
    emulator = Emulator(host=args.host, port=args.port, job_duration_s=args.job_duration)
    try:
        if args.auto_approve_device:
            emulator.auto_approve_device = args.auto_approve_device
        if args.auto_approve_user:
            emulator.auto_approve_user = args.auto_approve_user
    except LookupError as exc:
        log.error("%s", exc)
        return EXIT_FAILURE
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with emulator:
            _describe(emulator)
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("emulator stopped", flush=True)
    return EXIT_OK


def _describe(emulator: Emulator) -> None:
    print(f"ezeep emulator listening on {emulator.url}", flush=True)
    print("members (password: demo):")
    for user in emulator.users:
        waiting = len(emulator.waiting_jobs(user.email))
        print(f"  {user.email:<32} {user.first_name} {user.last_name}, {waiting} waiting job(s)")
    print("printers:")
    for printer in emulator.printers:
        print(f"  {printer.id}  tp_id {printer.tp_id}  {printer.name} ({printer.location})")
    if emulator.auto_approve_device:
        print(f"device pairings are approved and bound to {emulator.auto_approve_device}")
    if emulator.auto_approve_user:
        print(f"user pairings are approved as {emulator.auto_approve_user}")
    print(f"add a waiting job: release-station emulator add-job --url {emulator.url} EMAIL [NAME]")
    print("press Ctrl-C to stop", flush=True)


def _add_job(args: argparse.Namespace, context: Context) -> int:
    import httpx  # only this command needs it, and every start of the station parses them all

    body = {"email": args.email, "name": args.name, "pages": args.pages}
    try:
        answer = httpx.post(f"{args.url.rstrip('/')}/_emulator/jobs", json=body, timeout=10)
    except httpx.HTTPError as exc:
        log.error("cannot reach the emulator at %s: %s", args.url, exc)
        return EXIT_FAILURE
    if answer.status_code != 200:
        detail = (
            answer.json().get("detail") if answer.headers.get("content-type") == "application/json" else ""
        )
        log.error(
            "the emulator refused the job (HTTP %s): %s", answer.status_code, detail or answer.text[:200]
        )
        return EXIT_FAILURE
    print(f"added job {answer.json()['id']} for {args.email}")
    return EXIT_OK
