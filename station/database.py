"""The station's one SQLite database: opening it safely and migrating its schema.

The file lives in the state directory with mode 0600 (and so do its ``-wal`` and ``-shm``
companions), uses WAL with ``synchronous=FULL`` so that a committed write survives a pulled
plug, overwrites deleted content with zeros (``secure_delete``: a removed badge or secret does
not linger in free pages), and is migrated with sqlite-utils' :class:`~sqlite_utils.Migrations`
every time it is opened. Each migration runs in its own transaction; add new ones at the end,
never edit an applied one.

Tables:

``badges``    canonical badge id (after the transform chain) → ezeep user, its release PIN hash
``tokens``    the device token pair (one row) and what pairing told us (tp_id, printer)
``settings``  settings changed on the station (JSON values), and per-station secrets
``audit``     what happened, with badge ids hashed; bounded in size; each entry chained to the
              one before by an HMAC whose key lives outside the database (:mod:`station.audit`)
``releases``  the release journal: intent recorded before a job is released
``directory_sync``  the badge source's last sync (one row) and the e-mail → ezeep user cache

Connections are opened with ``check_same_thread=False``; an owner that shares one between
threads serialises access itself (one lock per owner), and separate owners open their own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from station.errors import StorageError

log = logging.getLogger(__name__)

migrations = sqlite_utils.Migrations("release-station")


def wrap(conn: sqlite3.Connection) -> sqlite_utils.Database:
    """``conn`` as a sqlite-utils database, without sqlite-utils plugins.

    With plugins on, the first database looks through the entry points of every installed
    package for plugins that change connections: about 40 ms of every start here (more on a
    Pi), and no installed package should change the station's connections anyway.
    """
    return sqlite_utils.Database(conn, execute_plugins=False)


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


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def open_database(path: Path) -> sqlite_utils.Database:
    """Open (creating if needed) and migrate the database at ``path``.

    Raises :class:`StorageError` with a plain explanation when the directory cannot be made,
    the file is not a database, or the disk is full.
    """
    try:
        with _private_umask():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
            db = wrap(conn)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA secure_delete=ON")
            migrations.apply(db)
        os.chmod(path, 0o600)
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"the database {path} cannot be used: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"cannot create the state directory {path.parent}: {exc}") from exc
    return db


def memory_database() -> sqlite_utils.Database:
    """A migrated in-memory database, for tests and dry runs."""
    db = wrap(sqlite3.connect(":memory:", check_same_thread=False))
    db.execute("PRAGMA secure_delete=ON")
    migrations.apply(db)
    return db


@contextlib.contextmanager
def transaction(
    db: sqlite_utils.Database, what: str, *, write: bool = True
) -> Iterator[sqlite_utils.Database]:
    """Run the block as one transaction; SQLite's failures come out as :class:`StorageError`.

    A writing block starts with ``BEGIN IMMEDIATE`` so that a read-then-write never fails
    half-way because another connection wrote in between; ``write=False`` only reads a
    consistent snapshot and takes no lock (WAL). Nested blocks become savepoints. Everything
    commits together or not at all, so a full disk leaves nothing half-written.
    ``what`` completes "could not ...", e.g. ``"save the badge"``.
    """
    conn = db.conn
    try:
        if conn.in_transaction:
            with db.atomic():
                yield db
            return
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield db
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"could not {what}: {_explain(exc)}") from exc


def _explain(exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "full" in text:
        return f"the disk is full, nothing was saved; free some space ({text})"
    if "locked" in text or "busy" in text:
        return f"the database is busy in another process; try again ({text})"
    return f"the database failed ({text})"
