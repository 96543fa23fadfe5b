"""PINs: format, hashing, the growing lockout, restarts and clocks that jump."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.database import memory_database, open_database
from station.pin import MAX_LOCK_S, PinGuard, lock_seconds
from station.settings import DamagedSettingError, read_value


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_no_pin_means_no_second_factor() -> None:
    guard = PinGuard(memory_database(), "release", clock=Clock())
    assert guard.is_set is False
    assert guard.check("0000").ok
    assert guard.clear() is False


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", "", "\uff11\uff12\uff13\uff14", " 1234"])
def test_a_pin_is_four_to_eight_digits(pin: str) -> None:
    guard = PinGuard(memory_database(), clock=Clock())
    with pytest.raises(ValueError, match="4 to 8 digits"):
        guard.set_pin(pin)
    assert guard.is_set is False


def test_only_a_salted_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    db = open_database(path)
    PinGuard(db, "technician").set_pin("80462931")
    PinGuard(db, "release").set_pin("80462931")
    technician, release = read_value(db, "pin.technician"), read_value(db, "pin.release")
    assert technician["salt"] != release["salt"] and technician["hash"] != release["hash"]
    db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"80462931" not in raw


def test_right_and_wrong_pins() -> None:
    guard = PinGuard(memory_database(), clock=Clock())
    guard.set_pin("2468")
    assert guard.is_set
    assert guard.check("2468").ok
    wrong = guard.check("1357")
    assert (wrong.outcome, wrong.failures, wrong.locked_until) == ("wrong", 1, None)
    assert guard.check("2468").ok  # a right PIN forgives
    assert guard.status().failures == 0
    assert guard.check("9" * 1000).outcome == "wrong"


def test_the_lockout_grows_and_is_capped() -> None:
    assert [lock_seconds(n) for n in range(1, 10)] == [0, 0, 30, 60, 120, 240, 480, 900, 900]
    assert lock_seconds(10_000) == MAX_LOCK_S
    clock = Clock()
    guard = PinGuard(memory_database(), clock=clock)
    guard.set_pin("2468")
    assert [guard.check("0000").outcome for _ in range(2)] == ["wrong", "wrong"]
    third = guard.check("0000")
    assert (third.outcome, third.failures, third.retry_in_s) == ("locked", 3, 30)
    assert third.locked_until == clock.now + 30
    clock.now += 29
    locked = guard.check("2468")  # even the right PIN is not looked at while locked
    assert (locked.outcome, locked.failures, locked.retry_in_s) == ("locked", 3, 1)
    clock.now += 1
    fourth = guard.check("0000")
    assert (fourth.outcome, fourth.retry_in_s) == ("locked", 60)
    clock.now += 60
    assert guard.check("2468").ok
    assert guard.status().failures == 0


def test_a_restart_does_not_reset_the_lockout(tmp_path: Path) -> None:
    clock = Clock()
    db = open_database(tmp_path / "station.db")
    guard = PinGuard(db, clock=clock)
    guard.set_pin("2468")
    for _ in range(3):
        guard.check("0000")
    db.close()
    clock.now += 10
    again = PinGuard(open_database(tmp_path / "station.db"), clock=clock)
    status = again.status()
    assert (status.failures, status.retry_in_s, status.locked_until) == (3, 20, clock.now + 20)
    assert again.check("2468").outcome == "locked"


def test_a_clock_that_jumps_back_cannot_make_the_lockout_endless_or_vanish() -> None:
    clock = Clock()
    guard = PinGuard(memory_database(), clock=clock)
    guard.set_pin("2468")
    for _ in range(3):
        guard.check("0000")
    clock.now -= 365 * 24 * 3600  # booted without a real-time clock
    assert guard.check("2468").retry_in_s == 30  # restarted from now, no longer than it was
    clock.now += 30
    assert guard.check("2468").ok


def test_purposes_are_independent_and_setting_a_pin_lifts_the_lockout() -> None:
    db, clock = memory_database(), Clock()
    technician, release = PinGuard(db, "technician", clock=clock), PinGuard(db, "release", clock=clock)
    technician.set_pin("1111")
    release.set_pin("2222")
    for _ in range(3):
        technician.check("0000")
    assert technician.check("1111").outcome == "locked"
    assert release.check("2222").ok
    technician.set_pin("3333")
    assert technician.check("3333").ok
    assert technician.clear() is True
    assert technician.is_set is False and release.is_set is True


def test_a_damaged_hash_is_an_error_not_an_open_door() -> None:
    db = memory_database()
    guard = PinGuard(db, clock=Clock())
    guard.set_pin("2468")
    db.execute("UPDATE settings SET value = '{\"salt\": \"zz\"}' WHERE key = 'pin.technician'")
    with pytest.raises(DamagedSettingError, match=r"pin.technician is damaged; set the PIN again"):
        guard.check("2468")


def test_unknown_purpose() -> None:
    with pytest.raises(ValueError, match="purpose"):
        PinGuard(memory_database(), "admin")  # type: ignore[arg-type]
