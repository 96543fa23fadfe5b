"""``release-station run``: the real station (configuration, readers, LED and buzzer, screen).

This is what the systemd unit starts. The station stops cleanly on SIGTERM; a worker thread
still waiting for the network after that does not hold the exit past systemd's stop timeout.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from station.cli import Context

log = logging.getLogger(__name__)

EXIT_GRACE_S = 2.0  # after the station stopped; the unit's TimeoutStopSec is 5 s


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run the station (as the systemd service does)")
    parser.add_argument("--headless", action="store_true", help="no screen: readers, feedback and cloud only")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace, context: Context) -> int:
    from station.cli.compose import run_station
    from station.cli.systemd import unfinished_threads
    from station.threadnames import name_threads

    name_threads()  # the boot test and `top -H` see which thread spends what
    code = run_station(context.config, headless=args.headless)
    left = unfinished_threads(EXIT_GRACE_S)
    if left:
        # Everything stored is committed; only a network answer nobody waits for is lost.
        log.warning("exiting without waiting for: %s", ", ".join(left))
        logging.shutdown()
        os._exit(code)
    return code
