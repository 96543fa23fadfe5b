"""The database file: private, migrated only when it is not current, and clear about failures."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils
from sqlite_utils import plugins

from station.database import KNOWN_MIGRATIONS, Database, memory_database, open_database, transaction
from station.errors import StorageError
from station.migrations import migrations
from tests.support.child import ROOT

TABLES = {"badges", "tokens", "settings", "audit", "releases", "directory_sync", "directory_people"}


def user_version(db: Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def tables(db: Database) -> set[str]:
    return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def applied(path: Path) -> list[tuple[str, str]]:
    """The migrations the file remembers: name and when it was applied."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name, applied_at FROM _sqlite_migrations ORDER BY id").fetchall()
    conn.close()
    return [(str(name), str(at)) for name, at in rows]


def migrated_by_name(path: Path, *, stop_before: str | None = None) -> None:
    """A database as firmware from before ``user_version`` left it: migrations by name only."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # as every firmware opened it
    migrations.apply(sqlite_utils.Database(conn, execute_plugins=False), stop_before=stop_before)
    conn.close()


def test_created_private_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state" / "station.db"
    db = open_database(path)
    db.execute("INSERT INTO settings (key, value, updated_at) VALUES ('k', '1', 'now')")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for companion in path.parent.glob("station.db-*"):
        assert stat.S_IMODE(companion.stat().st_mode) == 0o600
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert tables(db) >= TABLES
    assert migrations.pending(sqlite_utils.Database(db.conn, execute_plugins=False)) == []
    assert user_version(db) == KNOWN_MIGRATIONS
    db.close()
    again = open_database(path)  # opening twice is harmless
    assert again.execute("SELECT count(*) FROM settings").fetchone()[0] == 1


def test_the_firmware_counts_every_migration_it_registers() -> None:
    # A migration added without raising the count would never run on a card that is current.
    assert len(migrations.pending(sqlite_utils.Database(memory=True))) == KNOWN_MIGRATIONS


def test_a_cards_database_from_before_user_version_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    migrated_by_name(path)
    before = applied(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO badges (badge_id, user_id, enrolled_by, enrolled_at) VALUES ('AA', 'u', 'cli', 'x')"
        )
    conn.close()
    db = open_database(path)
    assert user_version(db) == KNOWN_MIGRATIONS
    assert applied(path) == before  # nothing applied twice
    assert db.execute("SELECT user_id FROM badges").fetchall() == [("u",)]


def test_a_half_migrated_database_gets_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    migrated_by_name(path, stop_before="0004_directory_source")
    before = Database(sqlite3.connect(path))
    assert "directory_sync" not in tables(before)
    before.close()
    db = open_database(path)
    assert tables(db) >= TABLES
    assert [name for name, _ in applied(path)][-2:] == ["0004_directory_source", "0005_directory_sync_state"]
    assert user_version(db) == KNOWN_MIGRATIONS


def test_a_database_from_newer_firmware_still_opens(tmp_path: Path) -> None:
    # After an A/B rollback the older firmware finds a migration it does not know.
    path = tmp_path / "station.db"
    open_database(path).close()
    newer = sqlite_utils.Migrations("release-station")

    @newer(name="9999_from_the_future")
    def _future(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE future (id INTEGER PRIMARY KEY)")

    conn = sqlite3.connect(path)
    newer.apply(sqlite_utils.Database(conn, execute_plugins=False))
    conn.execute(f"PRAGMA user_version = {KNOWN_MIGRATIONS + 1}")
    conn.close()
    db = open_database(path)
    assert "future" in tables(db)  # left alone
    assert user_version(db) == KNOWN_MIGRATIONS
    assert [name for name, _ in applied(path)][-1] == "9999_from_the_future"
    # When the newer firmware comes back, it finds its own migration applied by name.
    assert newer.pending(sqlite_utils.Database(db.conn, execute_plugins=False)) == []


# Each child opens the database when the parent says go, once every child has loaded the
# station: the opens then overlap far more often than processes merely started together.
OPEN_ON_GO = """
import sys
from pathlib import Path
from station.database import open_database
print("ready", flush=True)
sys.stdin.readline()
open_database(Path(sys.argv[1])).close()
"""


def open_at_once(path: Path, processes: int) -> list[str]:
    """Open ``path`` in ``processes`` processes at the same instant; the failures' stderr."""
    command = [sys.executable, "-c", OPEN_ON_GO, str(path)]
    pipe = subprocess.PIPE
    children = [
        subprocess.Popen(command, cwd=ROOT, stdin=pipe, stdout=pipe, stderr=pipe, text=True)
        for _ in range(processes)
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    errors = [child.communicate(timeout=60)[1] for child in children]
    return [error for child, error in zip(children, errors, strict=True) if child.returncode != 0]


def test_two_processes_opening_a_database_that_needs_migrating_take_turns(tmp_path: Path) -> None:
    # After an update the station and a command can open the database at the same moment.
    path = tmp_path / "station.db"
    migrated_by_name(path, stop_before="0004_directory_source")
    assert open_at_once(path, 2) == []
    assert [name for name, _ in applied(path)].count("0004_directory_source") == 1


def test_processes_creating_the_database_at_once_all_open_it(tmp_path: Path) -> None:
    # A new card: the station and a command both create the file and switch it to WAL. Several
    # rounds, as one round of a lost race only sometimes shows it.
    for round_ in range(8):
        path = tmp_path / str(round_) / "station.db"
        assert open_at_once(path, 3) == []
        assert applied(path) != []


def test_a_new_database_another_process_keeps_locked_is_refused_clearly(tmp_path: Path) -> None:
    # Another process holds the write lock on the new file for longer than the station waits
    # (about ten seconds with this test's connection holding it).
    path = tmp_path / "station.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError, match="write-ahead logging: other processes kept it locked"):
            open_database(path)
    finally:
        holder.close()
    open_database(path).close()
    assert applied(path) != []


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="cannot be used: file is not a database"):
        open_database(path)


def test_an_unwritable_state_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="state directory"):
        open_database(blocker / "sub" / "station.db")


def test_a_statement_outside_a_transaction_is_committed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    first, second = open_database(path), open_database(path)
    first.execute("INSERT INTO settings (key, value, updated_at) VALUES ('k', '1', 'now')")
    assert not first.conn.in_transaction
    with transaction(second, "write after the other connection"):  # no lock left behind
        second.execute("UPDATE settings SET value = '2' WHERE key = 'k'")
    assert first.execute("SELECT value FROM settings").fetchall() == [("2",)]


def test_a_failed_nested_block_undoes_only_itself() -> None:
    db = memory_database()
    insert = "INSERT INTO settings (key, value, updated_at) VALUES (?, '1', 'now')"
    with transaction(db, "write the outer row"):
        db.execute(insert, ["outer"])
        with (
            pytest.raises(StorageError, match="could not write the inner rows"),
            transaction(db, "write the inner rows"),
        ):
            db.execute(insert, ["inner"])
            db.execute(insert, ["outer"])  # the key is taken
        with transaction(db, "write the last row"):
            db.execute(insert, ["last"])
    assert db.execute("SELECT key FROM settings ORDER BY key").fetchall() == [("last",), ("outer",)]


def test_every_connection_zeroes_what_it_deletes(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    first, second = open_database(path), open_database(path)
    assert [db.execute("PRAGMA secure_delete").fetchone()[0] for db in (first, second)] == [1, 1]
    assert memory_database().execute("PRAGMA secure_delete").fetchone()[0] == 1
    with transaction(first, "write the secret"):
        first.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES ('k', '\"SECRET-VALUE-42\"', 'now')"
        )
    first.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with transaction(second, "delete the secret"):
        second.execute("DELETE FROM settings WHERE key = 'k'")
    second.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    first.close()
    second.close()
    assert b"SECRET-VALUE-42" not in path.read_bytes()


class _ConnectionChanger:
    """A sqlite-utils plugin, as an installed package could bring one: it sees every connection."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    @sqlite_utils.hookimpl
    def prepare_connection(self, conn: object) -> None:
        self.seen.append(conn)


def test_no_sqlite_utils_plugin_touches_the_stations_connections(tmp_path: Path) -> None:
    # Not even while migrating (the only time the station uses sqlite-utils): nor does the
    # station look for plugins, a search that costs every start about 40 ms.
    changer = _ConnectionChanger()
    plugins.pm.register(changer)
    try:
        open_database(tmp_path / "station.db").close()
        memory_database().close()
        assert changer.seen == []
    finally:
        plugins.pm.unregister(changer)
