"""``release-station demo``: the station against the embedded ezeep emulator, on a laptop.

``demo`` (the README's quick start) starts the emulator on loopback, prints the approval
address of the pairing code and opens it in a browser (``--auto-approve`` approves by itself),
and opens the station window with a simulated reader: keys 1 to 5 tap the badges of the seeded
users, 0 a badge nobody enrolled. The station runs exactly as ``release-station run`` does
(:func:`station.cli.compose.run_station`), from a scratch state directory, in pick mode.

``demo --headless`` is the whole cloud path without a screen: pair with auto-approval, release
the waiting jobs of a seeded user and follow each until it is printed, printing every step.
Exits 0 when every job printed. :func:`run_headless` is that flow.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from station.cli import EXIT_FAILURE, EXIT_OK, Context
from station.config import Config
from station.reader_kinds import SimulatedSettings

DEMO_CLIENT_ID = "release-station-demo"
DEMO_JOB_TIMEOUT_S = 60.0
DEMO_BADGE_KEYS = ("1", "2", "3", "4", "5")
UNKNOWN_BADGE_KEY = "9"  # a demo badge left unenrolled: "0" taps it


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run the station against the embedded ezeep emulator",
        description="The station window against the embedded ezeep emulator, with a simulated "
        "reader: keys 1 to 5 tap the seeded users' badges, 0 an unknown badge.",
    )
    demo.add_argument("--headless", action="store_true", help="no screen: pair, release, print each step")
    demo.add_argument(
        "--auto-approve", action="store_true", help="approve the pairing by itself (no browser needed)"
    )
    demo.add_argument(
        "--no-browser", action="store_true", help="only print the approval address, do not open a browser"
    )
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace, context: Context) -> int:
    if args.headless:
        return run_headless(sys.stdout)
    return run_window(
        context.config, sys.stdout, auto_approve=args.auto_approve, open_browser=not args.no_browser
    )


def demo_hardware_id() -> str:
    """This machine's hardware id, or a fixed one where it has none (containers)."""
    from drivers.hardware_id import HardwareIdError, hardware_id

    try:
        return hardware_id()
    except HardwareIdError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "release-station-demo"))


# --- the windowed demo ---------------------------------------------------------------------------


@contextlib.contextmanager
def demo_config(base: Config, emulator_url: str) -> Iterator[Config]:
    """``base`` pointed at the emulator, a scratch state directory and a simulated reader, windowed.

    A ``reader.simulated_socket`` in ``base`` is kept: badges can then be tapped through it too.
    """
    with tempfile.TemporaryDirectory(prefix="release-station-demo-") as scratch:
        yield dataclasses.replace(
            base,
            station=dataclasses.replace(
                base.station,
                state_dir=scratch,
                release_mode="pick",
                hardware_id=base.station.hardware_id or demo_hardware_id(),
            ),
            cloud=dataclasses.replace(
                base.cloud,
                account_url=emulator_url,
                api_url=emulator_url,
                print_url=emulator_url,
                client_id=DEMO_CLIENT_ID,
                ca_file="",
            ),
            reader=dataclasses.replace(base.reader, kind="simulated"),
            ui=dataclasses.replace(
                base.ui, fullscreen=False, resolution=base.ui.resolution.replace("auto", "800x480")
            ),
        )


def enrol_demo_badges(config: Config, users: list[tuple[str, str, str]]) -> None:
    """Link demo badges 1 to 5 to the seeded ``(user_id, email, name)`` people, as ``badges add``
    would; the name is what the public screen greets them by."""
    from drivers.readers.simulated import DEMO_KEYS
    from drivers.transforms import chains_from_config
    from station.database import open_database
    from station.directory import Directory

    chain = chains_from_config(config.transforms, config.source)["simulated"]
    db = open_database(config.database_path)
    try:
        directory = Directory(db)
        for key, (user_id, email, name) in zip(DEMO_BADGE_KEYS, users, strict=False):
            badge = chain.apply(DEMO_KEYS[key].hex().upper())
            directory.enrol(badge, user_id, email=email, display_name=name, how="cli", replace=True)
    finally:
        db.close()


def run_window(base: Config, out: TextIO, *, auto_approve: bool = False, open_browser: bool = True) -> int:
    """The emulator, the station window and a simulated reader (keys 1 to 5 known badges, 0 unknown)."""
    import webbrowser  # here, not at the top: every start of the station parses this module

    from drivers.readers.simulated import SimulatedReader
    from station.cli.compose import Hooks, PairingAnnouncer, run_station
    from station.core.listener import PairingCodeShown
    from station.emulator import Emulator
    from ui.kiosk import DEMO_HINT

    with (
        Emulator(poll_interval_s=1, job_duration_s=2.0) as emulator,
        demo_config(base, emulator.url) as config,
    ):
        print(f"ezeep emulator listening on {emulator.url} (members' password: demo)", file=out)
        if auto_approve:
            emulator.auto_approve_device = emulator.printers[0].id
        enrol_demo_badges(config, [(user.id, user.email, user.name) for user in emulator.users])
        for key, user in zip(DEMO_BADGE_KEYS, emulator.users, strict=False):
            waiting = len(emulator.waiting_jobs(user.email))
            print(f"  key {key}: the badge of {user.name} ({user.email}), {waiting} waiting job(s)", file=out)
        print("  key 0: a badge nobody enrolled", file=out)
        print("Close the window or press Ctrl-C to stop.", file=out, flush=True)
        reader = SimulatedReader(
            name="demo keys", socket_path=config.reader.of(SimulatedSettings).simulated_socket
        )

        def on_key(key: str) -> None:
            if key in DEMO_BADGE_KEYS:
                reader.key(key)
            elif key == "0":
                reader.key(UNKNOWN_BADGE_KEY)

        def announce(event: PairingCodeShown) -> None:
            print(f"Approve the station: open {event.auth_url} and enter {event.code}", file=out, flush=True)
            if open_browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
                # Off the core thread (a listener must not block): a browser takes its time.
                threading.Thread(target=webbrowser.open, args=(event.qr_url,), daemon=True).start()

        hooks = Hooks(
            readers=[reader],
            on_key=on_key,
            hint=DEMO_HINT,
            listeners=[] if auto_approve else [PairingAnnouncer(announce)],
        )
        return run_station(config, hooks=hooks)


# --- the headless demo ---------------------------------------------------------------------------


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
