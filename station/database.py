"""The station's one SQLite database: opening it safely, keeping its schema current, and the
small handle (:class:`Database`) every part of the station uses.

The file lives in the state directory with mode 0600 (and so do its ``-wal`` and ``-shm``
companions), uses WAL with ``synchronous=FULL`` so that a committed write survives a pulled
plug, and overwrites deleted content with zeros (``secure_delete``: a removed badge or secret
does not linger in free pages). The schema is sqlite-utils :class:`~sqlite_utils.Migrations`
in :mod:`station.migrations`, applied by name. SQLite's ``user_version`` remembers how many
migrations the firmware that last opened the file knew: when it equals
:data:`KNOWN_MIGRATIONS` the schema is current and neither the migrations nor sqlite-utils are
loaded (they cost about a fifth of the station's start). Otherwise (a new card, an older
database, or one from newer firmware after an A/B rollback) the migrations apply by name, leave
unknown newer ones alone, and ``user_version`` is set to this firmware's count.

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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from station.errors import StorageError

log = logging.getLogger(__name__)

# How many migrations station.migrations registers (tests/test_database.py checks it); raise it
# with every new migration, or cards would never apply that one.
KNOWN_MIGRATIONS = 5

# How often the first switch of a new file to WAL is tried when other processes switch it at the
# same instant (see _switch_to_wal); after each refusal one of them has completed its switch.
_WAL_ATTEMPTS = 3


class Database:
    """An open station database: what the station does with it, over a :class:`sqlite3.Connection`.

    The connection runs in autocommit mode (``isolation_level=None``): a statement outside
    :func:`transaction` commits on its own, and a transaction is always an explicit one, so no
    implicit ``BEGIN`` of the :mod:`sqlite3` module can hold a write lock that nobody commits.
    Use :func:`open_database` or :func:`memory_database` to get one.
    """

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()) -> sqlite3.Cursor:
        """Run one statement; its rows (if any) come from the cursor."""
        return self.conn.execute(sql, parameters)

    def close(self) -> None:
        self.conn.close()


def connect(target: str, *, timeout: float = 5.0, uri: bool = False) -> Database:
    """A :class:`Database` on a new connection to ``target`` (a path, ``:memory:``, or with
    ``uri`` a ``file:`` URI); ``timeout``: how long a statement waits for another's lock."""
    return Database(sqlite3.connect(target, timeout, isolation_level=None, check_same_thread=False, uri=uri))


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def open_database(path: Path) -> Database:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date.

    Raises :class:`StorageError` with a plain explanation when the directory cannot be made,
    the file is not a database, or the disk is full.
    """
    try:
        with _private_umask():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = connect(str(path), timeout=10.0)
            _switch_to_wal(db, path)
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA secure_delete=ON")
            _make_current(db)
        os.chmod(path, 0o600)
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"the database {path} cannot be used: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"cannot create the state directory {path.parent}: {exc}") from exc
    return db


def _switch_to_wal(db: Database, path: Path) -> None:
    """Put the file in WAL mode; once it is (the mode is stored in the file) this changes nothing.

    The first switch of a new file upgrades a read lock to a write lock. When processes create
    the file at the same instant (the station and a command on a new card), SQLite refuses the
    upgrade of all but one at once with "database is locked" rather than call the busy handler,
    as waiting would deadlock (see ``sqlite3_busy_handler``): it expects the refused one to drop
    its read lock and try again. The failed statement has dropped it; trying again at once would
    only take the read lock back and starve the winner, so the loser first waits for the
    winner's write lock through the busy handler (``BEGIN IMMEDIATE``, which holds no lock while
    it waits), and then finds the file in WAL.
    """
    for _ in range(_WAL_ATTEMPTS):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            refused = exc
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            refused = exc
            break
    raise StorageError(
        f"the database {path} could not be switched to write-ahead logging: other processes kept "
        f"it locked; stop other station commands and try again ({refused})"
    ) from refused


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """True if another connection's lock caused ``exc`` (SQLITE_BUSY, any extended code)."""
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


def memory_database() -> Database:
    """A migrated in-memory database, for tests and dry runs."""
    db = connect(":memory:")
    db.execute("PRAGMA secure_delete=ON")
    _make_current(db)
    return db


def _make_current(db: Database) -> None:
    """Apply the migrations unless ``user_version`` says this firmware's are all in."""
    if db.execute("PRAGMA user_version").fetchone()[0] == KNOWN_MIGRATIONS:
        return
    from station import migrations  # sqlite-utils: only when there is something to check

    # One write transaction for the migrations (each a savepoint in it) and the count: two
    # processes that open the database at once after an update (the station, a command) take
    # turns, and the second finds nothing pending instead of applying a migration again. The
    # count is lowered too when newer firmware left a higher one: that firmware checks again when
    # it returns, and finds its own migrations applied by name.
    with transaction(db, "bring the database's tables up to date"):
        migrations.apply(db.conn)
        db.execute(f"PRAGMA user_version = {KNOWN_MIGRATIONS}")


@contextlib.contextmanager
def transaction(db: Database, what: str, *, write: bool = True) -> Iterator[Database]:
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
            with _savepoint(conn):
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


@contextlib.contextmanager
def _savepoint(conn: sqlite3.Connection) -> Iterator[None]:
    # One name for every depth: SQLite rolls back to and releases the most recent savepoint of
    # that name, which is always the innermost open block's.
    conn.execute("SAVEPOINT nested")
    try:
        yield
    except BaseException:
        # A failure such as a full disk can end the whole transaction, savepoints included.
        if conn.in_transaction:
            conn.execute("ROLLBACK TO nested")
            conn.execute("RELEASE nested")
        raise
    conn.execute("RELEASE nested")


def _explain(exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "full" in text:
        return f"the disk is full, nothing was saved; free some space ({text})"
    if "locked" in text or "busy" in text:
        return f"the database is busy in another process; try again ({text})"
    return f"the database failed ({text})"
