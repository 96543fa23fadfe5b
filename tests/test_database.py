"""The database file: private, migrated, and clear about failures."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlite_utils
from sqlite_utils import plugins

from station.database import memory_database, migrations, open_database
from station.errors import StorageError


def test_created_private_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state" / "station.db"
    db = open_database(path)
    db["settings"].insert({"key": "k", "value": "1", "updated_at": "now"})  # type: ignore[union-attr]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for companion in path.parent.glob("station.db-*"):
        assert stat.S_IMODE(companion.stat().st_mode) == 0o600
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert {"badges", "tokens", "settings", "audit", "releases"} <= set(db.table_names())
    assert migrations.pending(db) == []
    db.close()
    again = open_database(path)  # migrating twice is harmless
    assert again["settings"].count == 1


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="cannot be used"):
        open_database(path)


def test_an_unwritable_state_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="state directory"):
        open_database(blocker / "sub" / "station.db")


def test_every_connection_zeroes_what_it_deletes(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    first, second = open_database(path), open_database(path)
    assert [db.execute("PRAGMA secure_delete").fetchone()[0] for db in (first, second)] == [1, 1]
    assert memory_database().execute("PRAGMA secure_delete").fetchone()[0] == 1
    with first.atomic():
        first.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES ('k', '\"SECRET-VALUE-42\"', 'now')"
        )
    first.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with second.atomic():
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
    # Nor does the station look for plugins: that search costs every start about 40 ms.
    changer = _ConnectionChanger()
    plugins.pm.register(changer)
    try:
        open_database(tmp_path / "station.db").close()
        memory_database().close()
        assert changer.seen == []
    finally:
        plugins.pm.unregister(changer)
