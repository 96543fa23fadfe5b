"""``release-station run``: the real station (configuration, readers, LED and buzzer, screen)."""

from __future__ import annotations

import argparse
from typing import Any

from station.cli import Context


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run the station (as the systemd service does)")
    parser.add_argument("--headless", action="store_true", help="no screen: readers, feedback and cloud only")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace, context: Context) -> int:
    from station.cli.app import run_station

    return run_station(context.config, headless=args.headless)
