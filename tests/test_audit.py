"""The audit log: keyed badge hashes, a per-station secret outside the database, a chain, a bound,
and a full disk."""

from __future__ import annotations

import hashlib
import hmac
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.audit import LEGACY_SECRET_SETTING, SECRET_FILE, AuditCheck, AuditLog, AuditSecretError
from station.database import memory_database, open_database, transaction
from station.errors import StorageError
from station.settings import read_value, write_value

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
    key_file = tmp_path / SECRET_FILE
    secret = bytes.fromhex(key_file.read_text())
    assert len(secret) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert read_value(db, LEGACY_SECRET_SETTING) is None
    assert oldest.badge_hash == hmac.new(secret, b"04A1B2C3D4", hashlib.sha256).hexdigest()
    assert oldest.badge_hash == audit.hash_badge("04A1B2C3D4")
    assert middle.badge_hash not in (None, oldest.badge_hash)
    assert newest.badge_hash is None and newest.user_id is None and newest.jobs is None
    db.close()
    raw = path.read_bytes() + (
        path.with_name("station.db-wal").read_bytes() if path.with_name("station.db-wal").exists() else b""
    )
    assert b"04A1B2C3D4" not in raw and b"0099887766" not in raw
    assert secret.hex().encode() not in raw


def test_the_secret_is_per_station_and_survives_a_restart(tmp_path: Path) -> None:
    first = open_database(tmp_path / "a.db")
    hashed = AuditLog(first).hash_badge("04A1B2C3")
    first.close()
    assert AuditLog(open_database(tmp_path / "a.db")).hash_badge("04A1B2C3") == hashed
    assert AuditLog(open_database(tmp_path / "other" / "a.db")).hash_badge("04A1B2C3") != hashed


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


def test_a_damaged_secret_file_is_reported_not_replaced(tmp_path: Path) -> None:
    db = open_database(tmp_path / "station.db")
    (tmp_path / SECRET_FILE).write_text("not hex")
    with pytest.raises(AuditSecretError, match=r"audit\.key is damaged; it is kept"):
        AuditLog(db).record("tap", badge_id="AA")
    assert (tmp_path / SECRET_FILE).read_text() == "not hex"
    assert AuditLog(db).count() == 0


def test_a_secret_kept_in_the_database_is_moved_to_its_file(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    db = open_database(path)
    legacy = bytes(range(32))
    with transaction(db, "change the rows by hand"):
        write_value(db, LEGACY_SECRET_SETTING, legacy.hex(), AT)
    hashed = AuditLog(db).hash_badge("04A1B2C3")
    assert hashed == hmac.new(legacy, b"04A1B2C3", hashlib.sha256).hexdigest()  # same hashes as before
    assert (tmp_path / SECRET_FILE).read_text() == legacy.hex()
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    assert read_value(db, LEGACY_SECRET_SETTING) is None
    db.close()
    raw = path.read_bytes() + (
        path.with_name("station.db-wal").read_bytes() if path.with_name("station.db-wal").exists() else b""
    )
    assert legacy.hex().encode() not in raw  # secure_delete: not left in a free page either


def test_a_damaged_secret_in_the_database_is_reported_not_replaced(tmp_path: Path) -> None:
    db = open_database(tmp_path / "station.db")
    with transaction(db, "change the rows by hand"):
        write_value(db, LEGACY_SECRET_SETTING, "not hex", AT)
    with pytest.raises(AuditSecretError, match=r"audit\.secret in the database is damaged"):
        AuditLog(db).record("tap", badge_id="AA")
    assert read_value(db, LEGACY_SECRET_SETTING) == "not hex"
    assert not (tmp_path / SECRET_FILE).exists()


def test_the_chain_verifies_and_finds_a_changed_or_removed_entry(tmp_path: Path) -> None:
    db = open_database(tmp_path / "station.db")
    audit = AuditLog(db, now=lambda: AT)
    for n in range(5):
        audit.record("release", badge_id="AA", user_id="u-ann", jobs=n, outcome="printed")
    assert audit.verify() == AuditCheck(checked=5)
    with transaction(db, "change the rows by hand"):
        db.execute("UPDATE audit SET user_id = 'u-mallory' WHERE id = 3")
    check = audit.verify()
    assert not check.ok and check.problem == "entry 3 was changed, or written with another audit secret"
    with transaction(db, "change the rows by hand"):
        db.execute("UPDATE audit SET user_id = 'u-ann' WHERE id = 3")
        db.execute("DELETE FROM audit WHERE id = 2")
    assert audit.verify().problem == "entry 3 does not follow entry 1: entries were removed"


def test_the_database_alone_cannot_forge_or_verify_the_chain(tmp_path: Path) -> None:
    """Whoever holds a copy of the database but not the key file can neither check nor add."""
    station, thief = tmp_path / "station", tmp_path / "thief"
    station.mkdir()
    thief.mkdir()
    audit = AuditLog(open_database(station / "station.db"))
    audit.record("enrol_technician", badge_id="AA", user_id="u-ann", outcome="added")
    copied = open_database(station / "station.db")
    copied.execute("VACUUM INTO ?", [str(thief / "station.db")])
    stolen = open_database(thief / "station.db")
    with pytest.raises(AuditSecretError, match=r"audit\.key is missing; without it the audit log cannot"):
        AuditLog(stolen).verify()
    assert not (thief / SECRET_FILE).exists()  # verifying never makes a key
    forger = AuditLog(stolen)  # recording makes a new key: its entries do not verify at the station
    forger.record("enrol_technician", badge_id="BB", user_id="u-mallory", outcome="added")
    check = AuditLog(stolen, secret_file=station / SECRET_FILE).verify()  # back at the station
    assert check.checked == 1 and check.problem == "entry 2 was changed, or written with another audit secret"


def test_entries_from_before_the_chain_are_counted_not_checked() -> None:
    db = memory_database()
    with transaction(db, "change the rows by hand"):
        db.execute("INSERT INTO audit (at, event, outcome) VALUES (?, 'tap', 'known')", [AT.isoformat()])
    audit = AuditLog(db)
    audit.record("tap")
    assert audit.verify() == AuditCheck(checked=1, unchained=1)
    with transaction(db, "change the rows by hand"):
        db.execute("INSERT INTO audit (at, event, outcome) VALUES (?, 'tap', 'forged')", [AT.isoformat()])
    assert audit.verify().problem == "entry 3 has no MAC: it was added by hand"


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


def test_a_secret_file_that_cannot_be_made_is_an_audit_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "audit.key"  # its directory does not exist
    audit = AuditLog(open_database(tmp_path / "station.db"), secret_file=missing)
    with pytest.raises(AuditSecretError, match=f"cannot create the audit secret file {missing}"):
        audit.record("tap", outcome="known")
    assert audit.count() == 0 and not missing.exists()
