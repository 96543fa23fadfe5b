"""The audit log: keyed badge hashes, a per-station secret, a bound, and a full disk."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.audit import HASH_KEY_SETTING, AuditLog
from station.database import memory_database, open_database
from station.errors import StorageError
from station.settings import DamagedSettingError, read_value, write_value

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_an_entry_has_every_field_and_no_badge_number(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    db = open_database(path)
    audit = AuditLog(db, now=lambda: AT)
    audit.record("release", badge_id="04A1B2C3D4", user_id="u-ann", jobs=3, outcome="printed")
    audit.record("unknown-badge", badge_id="0099887766", outcome="offered enrolment")
    audit.record("technician-menu", outcome="opened")
    newest, middle, oldest = audit.entries()
    assert (oldest.at, oldest.event, oldest.user_id, oldest.jobs, oldest.outcome) == (
        AT,
        "release",
        "u-ann",
        3,
        "printed",
    )
    secret = bytes.fromhex(read_value(db, HASH_KEY_SETTING))
    assert len(secret) == 32
    assert oldest.badge_hash == hmac.new(secret, b"04A1B2C3D4", hashlib.sha256).hexdigest()
    assert oldest.badge_hash == audit.hash_badge("04A1B2C3D4")
    assert middle.badge_hash not in (None, oldest.badge_hash)
    assert newest.badge_hash is None and newest.user_id is None and newest.jobs is None
    db.close()
    raw = path.read_bytes() + (
        path.with_name("station.db-wal").read_bytes() if path.with_name("station.db-wal").exists() else b""
    )
    assert b"04A1B2C3D4" not in raw and b"0099887766" not in raw


def test_the_secret_is_per_station_and_survives_a_restart(tmp_path: Path) -> None:
    first = open_database(tmp_path / "a.db")
    hashed = AuditLog(first).hash_badge("04A1B2C3")
    first.close()
    assert AuditLog(open_database(tmp_path / "a.db")).hash_badge("04A1B2C3") == hashed
    assert AuditLog(open_database(tmp_path / "b.db")).hash_badge("04A1B2C3") != hashed


def test_the_log_keeps_only_the_newest_rows() -> None:
    audit = AuditLog(memory_database(), max_rows=5)
    for n in range(12):
        audit.record("tap", outcome=str(n))
    assert audit.count() == 5
    assert [e.outcome for e in audit.entries()] == ["11", "10", "9", "8", "7"]
    assert [e.outcome for e in audit.entries(limit=2)] == ["11", "10"]


def test_the_default_bound_is_ten_thousand() -> None:
    audit = AuditLog(memory_database())
    for _ in range(10_050):
        audit.record("tap")
    assert audit.count() == 10_000


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        AuditLog(memory_database(), max_rows=0)
    with pytest.raises(ValueError, match="event"):
        AuditLog(memory_database()).record("")


def test_a_damaged_secret_is_reported_not_replaced() -> None:
    db = memory_database()
    with db.atomic():
        write_value(db, HASH_KEY_SETTING, "not hex", AT)
    with pytest.raises(DamagedSettingError, match=r"audit\.secret"):
        AuditLog(db).record("tap", badge_id="AA")
    assert read_value(db, HASH_KEY_SETTING) == "not hex"


def test_a_full_disk_writes_nothing(tmp_path: Path) -> None:
    db = open_database(tmp_path / "station.db")
    audit = AuditLog(db)
    audit.record("start")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StorageError, match="could not write the audit entry 'tap': the disk is full"):
        for _ in range(10_000):
            audit.record("tap", badge_id="AA", user_id="u" * 200, outcome="x" * 500)
    before = audit.count()
    with pytest.raises(StorageError):
        audit.record("tap", outcome="y" * 5000)
    assert audit.count() == before
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
