"""PINs: formats, the hash text, lockouts counted in running time, the permanent lock, per-badge PINs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station.database import memory_database, open_database
from station.directory import Directory
from station.pin import (
    MAX_LOCK_S,
    PERMANENT_AFTER,
    PERSIST_S,
    Pins,
    check_pin_format,
    hash_pin,
    lock_seconds,
    parse_pin_hash,
)
from station.settings import DamagedSettingError, read_value, write_value
from tests.support.clock import FakeClock

TECH = "24681357"


def pins_with_pin(clock: FakeClock | None = None, db: object = None) -> Pins:
    pins = Pins(db or memory_database(), clock=clock or FakeClock(1000.0))  # type: ignore[arg-type]
    pins.set_technician(TECH)
    return pins


@pytest.mark.parametrize("pin", ["12345", "1234567890123", "12a456", "", "\uff11" * 6, " 123456"])
def test_a_technician_pin_is_six_to_twelve_digits(pin: str) -> None:
    pins = Pins(memory_database(), clock=FakeClock(1000.0))
    with pytest.raises(ValueError, match="6 to 12 digits"):
        pins.set_technician(pin)
    assert pins.technician_set is False


def test_a_release_pin_is_four_to_eight_digits() -> None:
    check_pin_format("1234", "release")
    with pytest.raises(ValueError, match="a release PIN must be 4 to 8 digits"):
        check_pin_format("123456789", "release")


def test_the_hash_text_and_its_strict_parser() -> None:
    text = hash_pin(TECH)
    assert text.startswith("$scrypt$ln=14,r=8,p=1$") and "=" not in text.split("$", 3)[3]
    parsed = parse_pin_hash(text)
    assert str(parsed) == text and parsed.matches(TECH) and not parsed.matches("24681358")
    assert hash_pin(TECH) != text  # a new salt each time
    assert TECH not in repr(parsed)
    _, _, params, salt, digest = text.split("$")
    hostile = [
        None,
        42,
        "",
        text + " ",
        text.replace("ln=14", "ln=30"),  # must not choose the cost
        text.replace("r=8", "r=99"),
        f"$scrypt${params}${salt}A${digest}",  # salt too long
        f"$scrypt${params}${salt[:-1]}${digest}",  # too short
        f"$scrypt${params}${salt[:-1]}!${digest}",  # not base64
        f"$scrypt${params}${salt}${digest[:-1]}B",  # stray bits: not canonical
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "x" * 100_000,
    ]
    for value in hostile:
        with pytest.raises(ValueError, match="PIN hash"):
            parse_pin_hash(value)


def test_only_a_salted_hash_is_stored(tmp_path: Path) -> None:
    db = open_database(tmp_path / "station.db")
    pins = Pins(db)
    pins.set_technician("80462931")
    Directory(db).enrol("B1", "u1", how="cli")
    pins.set_badge("B1", "8046")
    db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"80462931" not in raw and b'8046"' not in raw


def test_right_and_wrong_pins() -> None:
    pins = pins_with_pin()
    assert pins.check_technician(TECH).ok
    wrong = pins.check_technician("11111111")
    assert (wrong.outcome, wrong.failures) == ("wrong", 1)
    assert pins.check_technician(TECH).ok  # a right PIN forgives
    assert pins.status().failures == 0
    assert pins.check_technician("9" * 1000).outcome == "wrong"
    assert Pins(memory_database()).check_technician(TECH).outcome == "no_pin"


def test_the_lockout_grows_and_counts_running_time() -> None:
    assert [lock_seconds(n) for n in range(1, 10)] == [0, 0, 30, 60, 120, 240, 480, 900, 900]
    assert lock_seconds(10_000) == MAX_LOCK_S
    clock = FakeClock(1000.0)
    pins = pins_with_pin(clock)
    assert [pins.check_technician("0").outcome for _ in range(2)] == ["wrong", "wrong"]
    third = pins.check_technician("0")
    assert (third.outcome, third.failures, third.retry_in_s) == ("locked", 3, 30)
    clock.now += 29
    locked = pins.check_technician(TECH)  # even the right PIN is not looked at while locked
    assert (locked.outcome, locked.failures, locked.retry_in_s) == ("locked", 3, 1)
    clock.now += 1
    fourth = pins.check_technician("0")
    assert (fourth.outcome, fourth.retry_in_s) == ("locked", 60)
    clock.now += 60
    assert pins.check_technician(TECH).ok


def test_stepping_the_wall_clock_forward_does_not_lift_the_lockout(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(1000.0)
    pins = pins_with_pin(clock)
    for _ in range(3):
        pins.check_technician("0")
    import time

    wall = time.time()
    monkeypatch.setattr(time, "time", lambda: wall + 365 * 24 * 3600)  # a year later, by the wall
    status = pins.status()
    assert (status.failures, status.retry_in_s) == (3, 30)
    assert pins.check_technician(TECH).outcome == "locked"


def test_the_remaining_seconds_are_stored_and_a_restart_does_not_reset_them(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    clock = FakeClock(1000.0)
    pins = pins_with_pin(clock, open_database(path))
    for _ in range(3):
        pins.check_technician("0")
    clock.now += PERSIST_S + 1  # the station's regular look writes the countdown back
    assert pins.status().retry_in_s == 30 - PERSIST_S - 1
    stored = read_value(open_database(path), "pin.technician.lockout")
    assert stored == {"failures": 3, "remaining_s": 30 - PERSIST_S - 1, "permanent": False}
    clock.now += 2  # then the station is killed: these 2 s are lost, not more
    # Restarted after a day switched off: the downtime does not count, the lock is still there.
    again = Pins(open_database(path), clock=FakeClock(5.0))
    status = again.status()
    assert (status.failures, status.retry_in_s) == (3, 30 - PERSIST_S - 1)
    assert again.check_technician(TECH).outcome == "locked"


def test_ten_wrong_pins_lock_the_menu_until_a_technician_unlocks_it() -> None:
    clock = FakeClock(1000.0)
    pins = pins_with_pin(clock)
    for _ in range(PERMANENT_AFTER - 1):
        clock.now += MAX_LOCK_S
        assert pins.check_technician("0").failures < PERMANENT_AFTER
    clock.now += MAX_LOCK_S
    tenth = pins.check_technician("0")
    assert (tenth.outcome, tenth.failures, tenth.permanent) == ("locked", PERMANENT_AFTER, True)
    clock.now += 10 * 365 * 24 * 3600.0  # no time lifts it
    assert pins.check_technician(TECH).permanent and pins.status().permanent
    assert pins.unlock_technician()  # the first-boot file's `unlock = true`
    assert pins.check_technician(TECH).ok
    for _ in range(PERMANENT_AFTER):
        clock.now += MAX_LOCK_S
        pins.check_technician("0")
    assert pins.status().permanent
    pins.set_technician("11223344")  # `pin set` (and a new first-boot hash)
    assert pins.check_technician("11223344").ok
    for _ in range(PERMANENT_AFTER):
        clock.now += MAX_LOCK_S
        pins.check_technician("0")
    assert pins.clear_technician() is True  # `pin clear`
    assert pins.status() == pins.status().__class__(False, 0, 0.0, False, False)


def test_a_wrong_badge_pin_locks_that_badge_only() -> None:
    db, clock = memory_database(), FakeClock(1000.0)
    directory, pins = Directory(db), Pins(db, clock=clock)
    directory.enrol("B1", "u1", how="cli")
    directory.enrol("B2", "u2", how="cli")
    with pytest.raises(ValueError, match="not enrolled"):
        pins.set_badge("B9", "1234")
    assert pins.check_badge("B1", "1234").outcome == "no_pin"
    pins.set_badge("B1", "1234")
    pins.set_badge("B2", "5678")
    assert pins.badge_pin_set("B1") and not pins.badge_pin_set("B9")
    for _ in range(3):
        pins.check_badge("B1", "0000")
    assert pins.check_badge("B1", "1234").outcome == "locked"
    assert pins.check_badge("B2", "5678").ok
    clock.now += 30
    assert pins.check_badge("B1", "1234").ok
    for _ in range(PERMANENT_AFTER):
        clock.now += MAX_LOCK_S
        pins.check_badge("B1", "0000")
    assert pins.check_badge("B1", "1234").permanent
    assert pins.reset_user("u1") == 1
    assert pins.check_badge("B1", "1234").outcome == "no_pin"  # they choose a new one


def test_a_badge_lockout_is_counted_down_by_the_regular_look() -> None:
    db, clock = memory_database(), FakeClock(1000.0)
    Directory(db).enrol("B1", "u1", how="cli")
    pins = Pins(db, clock=clock)
    pins.set_badge("B1", "1234")
    for _ in range(3):
        pins.check_badge("B1", "0000")
    clock.now += PERSIST_S + 1
    pins.status()
    row = db.execute("SELECT pin_lockout FROM badges WHERE badge_id = 'B1'").fetchone()
    assert json.loads(row[0])["remaining_s"] == 30 - PERSIST_S - 1


def test_a_badge_that_changes_hands_loses_its_pin_the_same_person_keeps_it() -> None:
    db = memory_database()
    directory, pins = Directory(db), Pins(db, clock=FakeClock(1000.0))
    directory.enrol("B1", "u1", how="cli")
    pins.set_badge("B1", "1234")
    directory.enrol("B1", "u1", email="a@example.com", how="technician")
    assert pins.badge_pin_set("B1")
    directory.enrol("B1", "u2", how="technician", replace=True)
    assert not pins.badge_pin_set("B1")


def test_the_release_switch() -> None:
    pins = Pins(memory_database(), clock=FakeClock(1000.0))
    assert pins.release_on is False
    pins.set_release_on(True)
    assert pins.release_on and pins.status().release_on


def test_the_shared_release_pin_of_old_versions_switches_per_person_pins_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "station.db"
    db = open_database(path)
    # An old database: rewind the second migration and leave a shared PIN behind (and
    # user_version, which firmware of that time did not set).
    db.execute("DELETE FROM _sqlite_migrations WHERE name = '0003_release_pin_per_badge'")
    db.execute("PRAGMA user_version = 0")
    db.execute("DROP INDEX badges_pin_locked")
    db.execute("ALTER TABLE badges DROP COLUMN pin_hash")
    db.execute("ALTER TABLE badges DROP COLUMN pin_lockout")
    from datetime import UTC, datetime

    write_value(
        db, "pin.release", {"salt": "00", "hash": "00", "n": 16384, "r": 8, "p": 1}, datetime.now(UTC)
    )
    db.close()
    again = open_database(path)
    assert read_value(again, "pin.release") is None
    assert Pins(again).release_on
    assert "release PINs are now per person" in caplog.text


def test_an_old_technician_hash_still_works_and_a_damaged_one_is_an_error() -> None:
    import hashlib
    from datetime import UTC, datetime

    db = memory_database()
    salt = bytes(16)
    old = hashlib.scrypt(b"2468", salt=salt, n=2**14, r=8, p=1, dklen=32)
    record = {"salt": salt.hex(), "hash": old.hex(), "n": 2**14, "r": 8, "p": 1}
    write_value(db, "pin.technician", record, datetime.now(UTC))
    pins = Pins(db, clock=FakeClock(1000.0))
    assert pins.check_technician("2468").ok  # set before PINs had 6 digits: still opens
    db.execute("UPDATE settings SET value = '{\"salt\": \"zz\"}' WHERE key = 'pin.technician'")
    with pytest.raises(DamagedSettingError, match=r"technician PIN is damaged; set the PIN again"):
        pins.check_technician("2468")


def test_a_damaged_lockout_locks_and_a_technician_can_lift_it() -> None:
    db = memory_database()
    pins = pins_with_pin(db=db)
    db.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES ('pin.technician.lockout', '{\"x\": 1}', '')"
    )
    assert pins.status().permanent  # the station still starts and looks at its PINs
    assert pins.check_technician(TECH).permanent
    pins.set_technician(TECH)
    assert pins.check_technician(TECH).ok
