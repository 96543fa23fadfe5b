"""``release-station audit verify``: check the audit log's chain with the key beside the database.

Exit 0 when every chained entry verifies; 1 with the first problem (an entry changed, inserted
or removed) or when the key file ``audit.key`` is missing or damaged. Nothing is written: a
missing key is not made here.
"""

from __future__ import annotations

import argparse
from typing import Any

from station.audit import AuditLog
from station.cli import EXIT_FAILURE, EXIT_OK, Context
from station.database import open_database


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="check the audit log")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check every entry against the audit key")
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace, context: Context) -> int:
    db = open_database(context.config.database_path)
    try:
        check = AuditLog(db).verify()
    finally:
        db.close()
    older = f"; {check.unchained} older entries have no MAC" if check.unchained else ""
    if not check.ok:
        print(f"the audit log does not verify: {check.problem} ({check.checked} entries before it are fine)")
        return EXIT_FAILURE
    print(f"the audit log verifies: {check.checked} entries{older}")
    return EXIT_OK
