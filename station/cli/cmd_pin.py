"""``release-station pin set|clear|status``: the technician (or release) PIN over SSH.

``set`` asks for the PIN twice without echoing it; ``--stdin`` reads one line instead, for
scripts. Setting or clearing a PIN also lifts a lockout.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
import typing
from collections.abc import Iterator
from typing import Any

from station.cli import EXIT_OK, Context
from station.database import open_database
from station.errors import StationError
from station.pin import PIN_PURPOSES, PinGuard, PinPurpose, check_pin_format


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("pin", help="set, clear or show the technician or release PIN")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text, handler in (
        ("set", "set a new PIN (4 to 8 digits)", _set),
        ("clear", "remove the PIN", _clear),
        ("status", "is a PIN set, is it locked", _status),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument(
            "--purpose",
            choices=PIN_PURPOSES,
            default="technician",
            help="technician: opens the technician menu; release: asked after each badge tap",
        )
        action.set_defaults(func=handler)
        if name == "set":
            action.add_argument("--stdin", action="store_true", help="read the PIN from standard input")


@contextlib.contextmanager
def _guard(context: Context, purpose: str) -> Iterator[PinGuard]:
    db = open_database(context.config.database_path)
    try:
        yield PinGuard(db, typing.cast(PinPurpose, purpose))
    finally:
        db.close()


def _read_pin(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().strip()
    first = getpass.getpass("New PIN: ")
    check_pin_format(first)
    if getpass.getpass("The same PIN again: ") != first:
        raise StationError("the two PINs differ; nothing was changed")
    return first


def _set(args: argparse.Namespace, context: Context) -> int:
    try:
        pin = _read_pin(args.stdin)
        check_pin_format(pin)
    except ValueError as exc:
        raise StationError(f"{exc}; nothing was changed") from exc
    with _guard(context, args.purpose) as guard:
        guard.set_pin(pin)
    print(f"the {args.purpose} PIN is set")
    return EXIT_OK


def _clear(args: argparse.Namespace, context: Context) -> int:
    with _guard(context, args.purpose) as guard:
        removed = guard.clear()
    if removed:
        print(f"the {args.purpose} PIN is removed")
    else:
        print(f"no {args.purpose} PIN was set")
    return EXIT_OK


def _status(args: argparse.Namespace, context: Context) -> int:
    with _guard(context, args.purpose) as guard:
        status = guard.status()
    state = "set" if status.is_set else "not set"
    print(f"{args.purpose} PIN: {state}")
    if status.failures:
        print(f"wrong PINs in a row: {status.failures}")
    if status.retry_in_s:
        print(f"locked for another {status.retry_in_s:.0f} s (`pin set` or `pin clear` unlocks it)")
    return EXIT_OK
