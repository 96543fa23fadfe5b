"""``release-station directory sync [--dry-run] [--force] | status``: the ``[directory]`` source from a shell.

``sync`` runs one sync with the source now (``--dry-run`` changes nothing, ``--force`` goes past
the mass-removal guard) and prints what changed: added, changed, removed, conflicts. ``status``
shows the source, its last sync and outcome, the entries the station holds (from the source,
and its own) and the errors. Counts only: no badge, name or address is printed. E-mail
addresses are resolved to ezeep users through the paired station's cloud client, connected on
the first address only (``badges``' :class:`~station.cli.cmd_badges.CloudUsers`).
"""

from __future__ import annotations

import argparse
import contextlib
from collections import Counter
from typing import Any

from station.audit import AuditLog
from station.cli import EXIT_OK, Context
from station.cli.cmd_badges import CloudUsers, open_station_db
from station.directory import Directory


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("directory", help="sync badges with the [directory] source, or show it")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    sync = actions.add_parser("sync", help="sync the badges with the [directory] source now")
    sync.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    sync.add_argument("--force", action="store_true", help="apply a sync that removes many badges")
    sync.set_defaults(func=_sync)

    status = actions.add_parser("status", help="show the source, its last sync, the entries and errors")
    status.set_defaults(func=_status)


def _sync(args: argparse.Namespace, context: Context) -> int:
    from station.directory_sources import open_sync

    section = context.config.directory
    with open_station_db(context) as db, CloudUsers(context, db) as users, contextlib.ExitStack() as stack:
        sync = open_sync(section, Directory(db), db, users, stack, audit=AuditLog(db))
        if sync is None:
            print('badges are kept on this station ([directory] source = "local"): nothing to sync')
            return EXIT_OK
        outcome = sync.run(force=args.force, dry_run=args.dry_run)
    print(f"{'dry run, would do' if args.dry_run else 'synced'}: {outcome.summary()}")
    return EXIT_OK


def _status(args: argparse.Namespace, context: Context) -> int:
    from station.directory_sync import read_status

    section = context.config.directory
    with open_station_db(context) as db:
        status = read_status(db)
        entries = Directory(db).entries()
    held = Counter(entry.origin for entry in entries)
    print(f"source: {section.source}; every {section.sync_interval_s} s; write-back: {section.write_back}")
    print(f"entries: {held['source']} from the source, {held['local']} enrolled on this station")
    if status is None or status.last_attempt is None:
        print("last sync: never")
        return EXIT_OK
    print(f"last sync: {status.last_attempt:%Y-%m-%d %H:%M:%S} UTC ({status.source})")
    success = f"{status.last_success:%Y-%m-%d %H:%M:%S} UTC" if status.last_success else "never"
    print(f"last success: {success}: {status.summary or '-'}")
    if status.last_error:
        print(f"errors: failing {status.failures} times in a row: {status.last_error}")
    return EXIT_OK
