"""``release-station pin ...``: the technician PIN, per-person release PINs, and PIN hashes.

``set`` asks for the technician PIN twice without echoing it (``--stdin`` reads one line
instead, for scripts); ``set`` and ``clear`` also lift a lockout, even the permanent one after
ten wrong PINs. ``hash`` prints the scrypt hash of a PIN for ``system.toml``'s ``[technician]
pin_hash`` and stores nothing. ``release on|off`` switches per-person release PINs; ``reset
--user EMAIL`` forgets one person's release PIN (they choose a new one at their next tap). A
running station notices each change within a second.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from station.cli import EXIT_FAILURE, EXIT_OK, Context
from station.database import open_database
from station.directory import Directory
from station.errors import StationError
from station.pin import Pins, check_pin_format, hash_pin


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("pin", help="the technician PIN, per-person release PINs, PIN hashes")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text, handler in (
        ("set", "set the technician PIN (6 to 12 digits); lifts a lockout", _set),
        ("clear", "remove the technician PIN; lifts a lockout (the menu stays shut until a new one)", _clear),
        ("status", "is the technician PIN set, is it locked, are release PINs on", _status),
        ("hash", "print the hash of a technician PIN for system.toml (stores nothing)", _hash),
    ):
        action = actions.add_parser(name, help=help_text)
        action.set_defaults(func=handler)
        if name in ("set", "hash"):
            action.add_argument("--stdin", action="store_true", help="read the PIN from standard input")
    release = actions.add_parser("release", help="switch per-person release PINs on or off")
    release.add_argument("state", choices=("on", "off"))
    release.set_defaults(func=_release)
    reset = actions.add_parser("reset", help="forget one person's release PIN (and its lockout)")
    reset.add_argument("--user", required=True, metavar="EMAIL", help="the person's e-mail address")
    reset.set_defaults(func=_reset)


@contextlib.contextmanager
def _pins(context: Context) -> Iterator[Pins]:
    db = open_database(context.config.database_path)
    try:
        yield Pins(db)
    finally:
        db.close()


def _read_pin(from_stdin: bool) -> str:
    """A new technician PIN, typed twice (or one line of standard input), checked."""
    import getpass  # here: with termios it is loaded by every start of the station otherwise

    try:
        if from_stdin:
            pin = sys.stdin.readline().strip()
        else:
            pin = getpass.getpass("New technician PIN (6 to 12 digits): ")
            check_pin_format(pin, "technician")
            if getpass.getpass("The same PIN again: ") != pin:
                raise StationError("the two PINs differ; nothing was changed")
        check_pin_format(pin, "technician")
    except ValueError as exc:
        raise StationError(f"{exc}; nothing was changed") from exc
    return pin


def _set(args: argparse.Namespace, context: Context) -> int:
    pin = _read_pin(args.stdin)
    with _pins(context) as pins:
        pins.set_technician(pin)
    print("the technician PIN is set")
    return EXIT_OK


def _hash(args: argparse.Namespace, context: Context) -> int:
    print(hash_pin(_read_pin(args.stdin), "technician"))
    return EXIT_OK


def _clear(args: argparse.Namespace, context: Context) -> int:
    with _pins(context) as pins:
        removed = pins.clear_technician()
    if removed:
        print("the technician PIN is removed; the technician menu stays shut until a new one is set")
    else:
        print("no technician PIN was set")
    return EXIT_OK


def _status(args: argparse.Namespace, context: Context) -> int:
    with _pins(context) as pins:
        status = pins.status()
    print(f"technician PIN: {'set' if status.is_set else 'not set'}")
    if status.failures:
        print(f"wrong PINs in a row: {status.failures}")
    if status.permanent:
        print("locked until unlocked: `pin set`, `pin clear` or [technician] in a first-boot system.toml")
    elif status.retry_in_s:
        left = f"{status.retry_in_s:.0f} s"
        print(f"locked for another {left} of running time (`pin set` or `pin clear` unlocks it)")
    print(f"release PINs per person: {'on' if status.release_on else 'off'}")
    return EXIT_OK


def _release(args: argparse.Namespace, context: Context) -> int:
    with _pins(context) as pins:
        pins.set_release_on(args.state == "on")
    print(f"release PINs per person: {args.state}")
    return EXIT_OK


def _reset(args: argparse.Namespace, context: Context) -> int:
    email = args.user.strip().lower()
    db = open_database(context.config.database_path)
    try:
        users = {entry.user_id for entry in Directory(db).entries() if entry.email.lower() == email}
        if not users:
            print(f"no badge belongs to {args.user}", file=sys.stderr)
            return EXIT_FAILURE
        pins = Pins(db)
        badges = sum(pins.reset_user(user_id) for user_id in sorted(users))
    finally:
        db.close()
    print(f"the release PIN of {args.user} is reset ({badges} badge(s)); a new one is chosen at the next tap")
    return EXIT_OK
