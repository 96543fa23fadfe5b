"""``release-station badges list|add|remove|import|export``: the badge directory from a shell.

Syncing with a ``[directory]`` source is ``release-station directory`` (:mod:`station.cli.cmd_directory`).
Every change goes to the audit log as the station's own do (``enrol_cli``, ``badge_unlinked``
with outcome ``cli``, ``enrol_import`` with its counts), and ``add`` and ``import`` keep to
``[enrolment] max_badges_per_user``. Badge ids printed here go to the administrator's terminal,
never to a log. E-mail addresses are
resolved to ezeep users through the paired station's cloud client, which is built only when a
command actually needs it (an import with only ``user_id`` columns works offline). ezeep's users
list is read once per command; if ezeep refuses it to the station's device token, an
administrator signs in once (a code and its QR code on the terminal, as for ``pair``) and the list
is read with that sign-in, which is revoked at once.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.audit import AuditLog
from station.cli import EXIT_FAILURE, EXIT_OK, Context
from station.cloud.models import UserInfo
from station.database import Database, open_database
from station.directory import (
    BadgeConflictError,
    BadgeEntry,
    BadgeLimitError,
    Directory,
    EmailResolver,
    email_resolver,
    export_csv,
    export_json,
    plan_import,
    read_import,
    validate_email,
)
from station.errors import StationError

if TYPE_CHECKING:  # the cloud client is imported only when an e-mail address needs resolving
    from station.cloud.api import EzeepClient
    from station.cloud.http import CloudHttp


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("badges", help="list, add, remove, import or export badges")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="show every enrolled badge")
    listing.set_defaults(func=_list)

    add = actions.add_parser("add", help="enrol a badge for an ezeep user")
    add.add_argument("badge", metavar="BADGE", help="the badge id as the station reads it (after transforms)")
    who = add.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the user's e-mail address (looked up in ezeep)")
    who.add_argument("--user-id", help="the user's ezeep id (no lookup)")
    add.add_argument("--name", default="", help="display name (default: from ezeep)")
    add.add_argument("--replace", action="store_true", help="take the badge away from another user")
    add.set_defaults(func=_add)

    remove = actions.add_parser("remove", help="forget a badge")
    remove.add_argument("badge", metavar="BADGE")
    remove.set_defaults(func=_remove)

    imp = actions.add_parser(
        "import",
        help="import badges from CSV or JSON",
        description=(
            "Import a CSV file with a header line naming the columns badge and email or user_id "
            "(optionally name), or a JSON list of objects with those keys. Every bad line is "
            "reported; nothing is imported if any line is bad unless --partial is given."
        ),
    )
    imp.add_argument("file", metavar="FILE", help="the file to read; - reads standard input")
    imp.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    imp.add_argument("--partial", action="store_true", help="import the good lines even if some are bad")
    imp.add_argument("--replace", action="store_true", help="let the file take badges from other users")
    imp.set_defaults(func=_import)

    export = actions.add_parser("export", help="write every badge to standard output")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.set_defaults(func=_export)


@contextlib.contextmanager
def open_station_db(context: Context) -> Iterator[Database]:
    """The station database, closed at the end of the block."""
    db = open_database(context.config.database_path)
    try:
        yield db
    finally:
        db.close()


class CloudUsers:
    """Finds ezeep users by e-mail address; connects to the cloud on the first question only."""

    def __init__(self, context: Context, db: Database) -> None:
        self._context = context
        self._db = db
        self._resources = contextlib.ExitStack()
        self._resolve: EmailResolver | None = None
        self._cloud: tuple[EzeepClient, CloudHttp] | None = None

    def __enter__(self) -> CloudUsers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._resources.close()

    def __call__(self, email: str) -> UserInfo | None:
        if self._resolve is None:
            self._resolve = email_resolver(self)  # one read of ezeep's users list
        return self._resolve(email)

    def users(self) -> list[UserInfo]:
        """Every org member; an administrator signs in once if ezeep refuses the device token."""
        from station.cli.cmd_pair import show_code
        from station.cloud.errors import UsersRefusedError
        from station.cloud.pairing import Pairer

        client, http = self._connect()
        try:
            return client.users()
        except UsersRefusedError:
            print(
                "ezeep shows its users only to an administrator: sign in once to look them up.",
                file=sys.stderr,
            )
        pairer = Pairer(http, self._context.config.cloud.client_id, "")
        code = pairer.start("user")
        show_code(code, sys.stderr)
        pair = pairer.wait(code, threading.Event(), on_new_code=lambda new: show_code(new, sys.stderr))
        try:
            return client.users(token=pair.access_token)
        finally:
            client.revoke(pair.refresh_token)  # the station keeps no person's token

    def _connect(self) -> tuple[EzeepClient, CloudHttp]:
        if self._cloud is None:
            self._cloud = self._open()
        return self._cloud

    def _open(self) -> tuple[EzeepClient, CloudHttp]:
        from station.cloud.api import EzeepClient
        from station.cloud.http import CloudHttp
        from station.cloud.tokens import TokenKeeper, TokenStore

        http = self._resources.enter_context(CloudHttp.from_config(self._context.config.cloud))
        keeper = TokenKeeper(TokenStore(self._db), http)
        self._resources.callback(keeper.close)
        if not keeper.paired:
            raise StationError("this station is not paired with ezeep; run `release-station pair` first")
        return EzeepClient.from_config(http, keeper, self._context.config.cloud), http


def _list(args: argparse.Namespace, context: Context) -> int:
    with open_station_db(context) as db:
        entries = Directory(db).entries()
    if not entries:
        print("no badges are enrolled")
        return EXIT_OK
    header = ("BADGE", "USER", "EMAIL", "HOW", "ENROLLED", "LAST SEEN")
    rows = [header, *(_columns(entry) for entry in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def _columns(entry: BadgeEntry) -> tuple[str, ...]:
    return (
        entry.badge_id,
        entry.display_name or entry.user_id,
        entry.email or "-",
        entry.enrolled_by,
        _when(entry.enrolled_at),
        _when(entry.last_seen),
    )


def _when(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M") if at else "never"


def _add(args: argparse.Namespace, context: Context) -> int:
    with open_station_db(context) as db:
        user_id, email, name = args.user_id, "", args.name
        if args.email:
            validate_email(args.email)  # before asking the cloud about it
            with CloudUsers(context, db) as users:
                try:
                    user = users(args.email)
                except LookupError as exc:
                    raise StationError(f"cannot add the badge: {exc}") from exc
            if user is None:
                raise StationError(f"cannot add the badge: no ezeep user has the e-mail address {args.email}")
            user_id, email, name = user.id, user.email, name or user.display_name
        directory = Directory(db)
        before = directory.lookup(args.badge)
        limit = context.config.enrolment.max_badges_per_user
        try:
            entry = directory.enrol(
                args.badge,
                user_id,
                email=email,
                display_name=name,
                how="cli",
                replace=args.replace,
                limit=limit,
            )
        except BadgeConflictError as exc:
            raise StationError(f"cannot add the badge: {exc}; --replace takes it over") from exc
        except BadgeLimitError as exc:
            raise StationError(f"cannot add the badge: {exc} ([enrolment] max_badges_per_user)") from exc
        outcome = "added" if before is None else "updated" if before.user_id == user_id else "moved"
        if outcome == "moved":
            assert before is not None
            _audit(db, "badge_unlinked", badge_id=entry.badge_id, user_id=before.user_id, outcome="moved")
        _audit(db, "enrol_cli", badge_id=entry.badge_id, user_id=user_id, outcome=outcome)
    print(f"badge {entry.badge_id} now belongs to {entry.email or entry.user_id}")
    return EXIT_OK


def _remove(args: argparse.Namespace, context: Context) -> int:
    with open_station_db(context) as db:
        # With write-back, the next sync deletes the badge in the source too (else it comes back).
        directory = Directory(db, write_back=context.config.directory.writes_back)
        before = directory.lookup(args.badge)
        removed = directory.remove(args.badge)
        if removed and before is not None:
            _audit(db, "badge_unlinked", badge_id=args.badge, user_id=before.user_id, outcome="cli")
    if not removed:
        print(f"badge {args.badge} is not enrolled", file=sys.stderr)
        return EXIT_FAILURE
    print(f"badge {args.badge} removed")
    return EXIT_OK


def _audit(db: Database, event: str, **fields: Any) -> None:
    """Write an audit entry; the change is made already, so a failure is only reported."""
    try:
        AuditLog(db).record(event, **fields)
    except (StationError, OSError) as exc:
        print(f"warning: could not write the audit entry {event}: {exc}", file=sys.stderr)


def _read_file(name: str) -> str:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise StationError(f"cannot read {name}: {exc}") from exc
    return text.removeprefix("\ufeff")


def _import(args: argparse.Namespace, context: Context) -> int:
    rows, read_problems = read_import(_read_file(args.file))
    with open_station_db(context) as db:
        directory = Directory(db)
        with CloudUsers(context, db) as users:
            limit = context.config.enrolment.max_badges_per_user
            plan = plan_import(rows, directory, users, replace=args.replace, limit=limit)
        problems = sorted((*read_problems, *plan.problems), key=lambda problem: problem.line)
        for problem in problems:
            print(problem, file=sys.stderr)
        if args.dry_run:
            for change in plan.changes:
                if change.action != "unchanged":
                    owner = change.email or change.user_id
                    print(f"line {change.line}: would {change.action} badge {change.badge_id} -> {owner}")
        if problems and not args.partial:
            print(
                f"nothing imported: {len(problems)} bad line(s); fix them, or use --partial "
                "to import the good ones",
                file=sys.stderr,
            )
            return EXIT_FAILURE
        if not args.dry_run:
            directory.apply_import(plan.changes)
            done = ", ".join(f"{plan.count(action)} {action}" for action in ("add", "replace", "update"))
            _audit(db, "enrol_import", outcome=f"{done}; {plan.refused} refused (badge limit)")
    counts = ", ".join(f"{plan.count(action)} {action}" for action in ("add", "replace", "update"))
    print(
        f"{'dry run, would do' if args.dry_run else 'imported'}: {counts}; "
        f"{plan.count('unchanged')} unchanged; {len(problems)} bad line(s) skipped"
    )
    return EXIT_OK


def _export(args: argparse.Namespace, context: Context) -> int:
    with open_station_db(context) as db:
        entries = Directory(db).entries()
    (export_json if args.format == "json" else export_csv)(entries, sys.stdout)
    return EXIT_OK
