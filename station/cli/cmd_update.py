"""``release-station update check|run|status``: whole-card updates from the ``[update]`` manifest.

``run`` is what ``release-station-update.timer`` starts (as root, through its service): it
fetches, verifies and installs a new bundle and reboots once no session runs (:mod:`station.update`).
``check`` only reads the manifest and says what a run would do; ``status`` shows the last run's
record. A technician runs them by hand the same way (``sudo release-station update run``).
"""

from __future__ import annotations

import argparse
from typing import Any

from station import __version__
from station.cli import EXIT_FAILURE, EXIT_OK, Context
from station.config import Config


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("update", help="look for, fetch and install a whole-card update")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="read the update manifest and say what a run would do")
    check.set_defaults(func=_check)
    run = actions.add_parser("run", help="check, fetch, verify and install; then reboot when idle")
    run.add_argument(
        "--no-reboot",
        action="store_true",
        help="install, but do not reboot (the next timer run reboots when idle)",
    )
    run.set_defaults(func=_run)
    status = actions.add_parser("status", help="what the last update run did")
    status.set_defaults(func=_status)


def _updater(config: Config) -> Any:
    from drivers.hardware_id import KEEP_FILE, hardware_id
    from station.update.run import Updater

    kept = config.state_dir / KEEP_FILE
    # Read the station's remembered id if there is one; never write it (it belongs to the station).
    hw = hardware_id(override=config.station.hardware_id, remember=kept if kept.exists() else None)
    return Updater(config.update, __version__, hw)


def _client(config: Config) -> Any:
    import httpx

    from station.cloud.http import trust

    settings = config.update
    return httpx.Client(verify=trust(settings.ca_file), timeout=settings.timeout_s, follow_redirects=True)


def _check(args: argparse.Namespace, context: Context) -> int:
    from station.update.manifest import UpdateError

    updater = _updater(context.config)
    try:
        with _client(context.config) as client:
            decision = updater.check(client)
    except UpdateError as exc:
        print(f"failed: {exc}")
        return EXIT_FAILURE
    print(f"{decision.verdict}: {decision.reason}")
    return EXIT_OK


def _run(args: argparse.Namespace, context: Context) -> int:
    if not context.config.update.url:  # the timer runs on every card; most may never update
        print("no [update] url is configured: this station does not look for updates")
        return EXIT_OK
    updater = _updater(context.config)
    with _client(context.config) as client:
        done = updater.run(client, reboot=not args.no_reboot)
    print(done.line())
    return EXIT_FAILURE if done.result == "failed" else EXIT_OK


def _status(args: argparse.Namespace, context: Context) -> int:
    from station.update.record import PATH, read

    last = read(PATH)
    print(f"running: {__version__}")
    print(f"last run: {last.line() if last else 'none'}")
    return EXIT_OK
