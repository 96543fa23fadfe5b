"""The station database's schema, as sqlite-utils :class:`~sqlite_utils.Migrations`.

Imported only when a database is not current (see :func:`station.database.open_database`): a
card that has opened its database once with this firmware never loads sqlite-utils at start.
Migrations apply by name, each in its own transaction; add new ones at the end (and raise
``station.database.KNOWN_MIGRATIONS``), never edit or rename an applied one: the names are
what a card's database remembers in ``_sqlite_migrations``.
"""

from __future__ import annotations

import logging
import sqlite3

import sqlite_utils

log = logging.getLogger(__name__)

migrations = sqlite_utils.Migrations("release-station")


def apply(conn: sqlite3.Connection) -> None:
    """Apply the migrations ``conn``'s database has not had yet; leave unknown (newer) ones alone."""
    # No plugins: with them on, sqlite-utils looks through the entry points of every installed
    # package for plugins that change connections (about 40 ms here, more on a Pi), and no
    # installed package should change the station's connections anyway. No recursive_triggers
    # either: a connection that migrated behaves like one that did not need to.
    migrations.apply(sqlite_utils.Database(conn, execute_plugins=False, recursive_triggers=False))


@migrations(name="0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    db["badges"].create(  # type: ignore[union-attr]
        {
            "badge_id": str,
            "user_id": str,
            "email": str,
            "display_name": str,
            "enrolled_by": str,
            "enrolled_at": str,
            "last_seen": str,
        },
        pk="badge_id",
        not_null={"user_id", "enrolled_by", "enrolled_at"},
    )
    db["badges"].create_index(["user_id"])  # type: ignore[union-attr]
    db["badges"].create_index(["email"])  # type: ignore[union-attr]
    db["tokens"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "access_token": str,
            "refresh_token": str,
            "expires_in": int,
            "obtained_at": str,
            "hardware_id": str,
            "tp_id": int,
            "printer_id": str,
            "printer_name": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"access_token", "refresh_token", "expires_in", "obtained_at"},
    )
    db["settings"].create({"key": str, "value": str, "updated_at": str}, pk="key")  # type: ignore[union-attr]
    db["audit"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "at": str,
            "event": str,
            "badge_hash": str,
            "user_id": str,
            "jobs": int,
            "outcome": str,
        },
        pk="id",
        not_null={"at", "event"},
    )
    db["releases"].create(  # type: ignore[union-attr]
        {
            "job_id": str,
            "user_id": str,
            "printer_id": str,
            "state": str,
            "spool_id": str,
            "attempts": int,
            "detail": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="job_id",
        not_null={"state", "created_at", "updated_at"},
    )
    db["releases"].create_index(["state"])  # type: ignore[union-attr]


@migrations(name="0002_audit_chain")
def _audit_chain(db: sqlite_utils.Database) -> None:
    # Entries written before this migration have no MAC; verification starts after them.
    db["audit"].add_column("prev_mac", str)  # type: ignore[union-attr]
    db["audit"].add_column("mac", str)  # type: ignore[union-attr]


@migrations(name="0003_release_pin_per_badge")
def _release_pin_per_badge(db: sqlite_utils.Database) -> None:
    db["badges"].add_column("pin_hash", str)  # type: ignore[union-attr]
    db["badges"].add_column("pin_lockout", str)  # type: ignore[union-attr]
    # The station counts lockouts down twice a second: find the few locked badges by index.
    db.execute("CREATE INDEX badges_pin_locked ON badges (badge_id) WHERE pin_lockout IS NOT NULL")
    # One release PIN for everybody is gone: nobody's own PIN is derived from it.
    shared = db.execute("DELETE FROM settings WHERE key IN ('pin.release', 'pin.release.lockout')")
    if shared.rowcount:
        db.execute(
            "INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES ('pin.release.on', 'true', "
            "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'))"
        )
        log.warning(
            "the shared release PIN was removed: release PINs are now per person and switched on; "
            "each person chooses their own PIN at their next tap"
        )


@migrations(name="0004_directory_source")
def _directory_source(db: sqlite_utils.Database) -> None:
    # "local": enrolled on this station; "source": a copy of the directory source's entry.
    db.execute("ALTER TABLE badges ADD COLUMN origin TEXT NOT NULL DEFAULT 'local'")
    db["directory_sync"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "source": str,
            "version": str,
            "last_attempt": str,
            "last_success": str,
            "last_error": str,
            "failures": int,
            "summary": str,
        },
        pk="id",
    )
    db["directory_people"].create(  # type: ignore[union-attr]
        {"email": str, "user_id": str, "display_name": str, "resolved_at": str}, pk="email"
    )


@migrations(name="0005_directory_sync_state")
def _directory_sync_state(db: sqlite_utils.Database) -> None:
    # The last sync's counts, for the technician page and the metrics file.
    for column in ("entries", "conflicts", "unresolved", "held_back"):
        db.execute(f"ALTER TABLE directory_sync ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    # Badges the source gives to people ezeep does not know: a tap says "not an ezeep user".
    db["directory_strangers"].create({"badge_id": str, "email": str}, pk="badge_id")  # type: ignore[union-attr]
    # With write-back: badges unlinked at this station that the source still holds, to delete there.
    db["directory_unlinks"].create({"badge_id": str, "email": str}, pk="badge_id")  # type: ignore[union-attr]
