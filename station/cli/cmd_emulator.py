"""``release-station emulator``: run the ezeep emulator in the foreground, or add a job to one.

``release-station emulator [--host] [--port] [--job-duration S] [--auto-approve-device ID]
[--auto-approve-user EMAIL] [--profile default|strict --client-id ID] [--fault NAME=VALUE ...]``
serves until Ctrl-C or SIGTERM. ``release-station emulator add-job --url URL EMAIL [NAME]
[--pages N]`` "prints to AnyPrinter" through the admin API; ``release-station emulator faults
--url URL [NAME=VALUE ...]`` sets fault switches of a running one and prints them all.
It is never started by ``release-station run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from station.cli import EXIT_FAILURE, EXIT_OK, Context
from station.emulator import PROFILES

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
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="default",
        help="default: as the station's working contract assumes; strict: as ezeep's own pages describe",
    )
    parser.add_argument(
        "--client-id",
        action="append",
        default=[],
        metavar="ID",
        help="with --profile strict: a client id ezeep enabled refresh tokens and the tp_id claim for"
        " (repeatable; the station's cloud.client_id)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a fault switch at start (repeatable; VALUE is JSON, else a string)",
    )
    parser.set_defaults(func=_run)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    add_job = actions.add_parser("add-job", help="add a waiting job for an org member of a running emulator")
    add_job.add_argument("--url", required=True, help="the emulator's URL, as printed when it started")
    add_job.add_argument("email", help="the member who printed to AnyPrinter")
    add_job.add_argument("name", nargs="?", default="Report.pdf", help="document name (default Report.pdf)")
    add_job.add_argument("--pages", type=int, default=1, help="page count (default 1)")
    add_job.set_defaults(func=_add_job)
    faults = actions.add_parser("faults", help="set fault switches of a running emulator and show them all")
    faults.add_argument("--url", required=True, help="the emulator's URL, as printed when it started")
    faults.add_argument("switches", nargs="*", metavar="NAME=VALUE", help="VALUE is JSON, else a string")
    faults.set_defaults(func=_faults)


def _switches(pairs: list[str]) -> dict[str, object]:
    """``NAME=VALUE`` pairs as fault switches: VALUE read as JSON (true, 804, 0.5), else a string."""
    switches: dict[str, object] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"{pair!r}: expected NAME=VALUE")
        try:
            switches[name] = json.loads(raw)
        except ValueError:
            switches[name] = raw
    return switches


def _run(args: argparse.Namespace, context: Context) -> int:
    from station.emulator import Emulator

    if args.job_duration < 0:
        log.error("--job-duration must not be negative")
        return EXIT_FAILURE
    if args.client_id and args.profile == "default":
        log.error("--client-id is for --profile strict (or set refresh_token_clients with --fault)")
        return EXIT_FAILURE
    try:
        emulator = Emulator(
            host=args.host,
            port=args.port,
            job_duration_s=args.job_duration,
            profile=args.profile,
            client_ids=args.client_id,
        )
        emulator.set_faults(**_switches(args.fault))
        if args.auto_approve_device:
            emulator.auto_approve_device = args.auto_approve_device
        if args.auto_approve_user:
            emulator.auto_approve_user = args.auto_approve_user
    except (LookupError, ValueError) as exc:
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
    from station.emulator.model import Faults

    print(f"ezeep emulator listening on {emulator.url}", flush=True)
    switched = dataclasses.asdict(emulator.faults)
    changed = {name: value for name, value in switched.items() if value != getattr(Faults(), name)}
    print(f"profile {emulator.profile}; fault switches: {json.dumps(changed) if changed else 'none'}")
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
    body = {"email": args.email, "name": args.name, "pages": args.pages}
    answer = _admin(args.url, "jobs", body, what="the job")
    if answer is None:
        return EXIT_FAILURE
    print(f"added job {answer['id']} for {args.email}")
    return EXIT_OK


def _faults(args: argparse.Namespace, context: Context) -> int:
    try:
        switches = _switches(args.switches)
    except ValueError as exc:
        log.error("%s", exc)
        return EXIT_FAILURE
    answer = _admin(args.url, "faults", switches, what="the fault switches")
    if answer is None:
        return EXIT_FAILURE
    for name, value in answer.items():
        print(f"{name} = {json.dumps(value)}")
    return EXIT_OK


def _admin(url: str, path: str, body: dict[str, object], *, what: str) -> dict[str, Any] | None:
    """POST ``body`` to the admin API of the emulator at ``url``; its answer, or None (logged)."""
    import httpx  # only these commands need it, and every start of the station parses them all

    try:
        answer = httpx.post(f"{url.rstrip('/')}/_emulator/{path}", json=body, timeout=10)
    except httpx.HTTPError as exc:
        log.error("cannot reach the emulator at %s: %s", url, exc)
        return None
    if answer.status_code != 200:
        detail = (
            answer.json().get("detail") if answer.headers.get("content-type") == "application/json" else ""
        )
        log.error(
            "the emulator refused %s (HTTP %s): %s", what, answer.status_code, detail or answer.text[:200]
        )
        return None
    data: dict[str, Any] = answer.json()
    return data
