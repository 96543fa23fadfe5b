"""The technician PIN from system.toml's [technician]: first boot hands it over, the station imports it."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.database import open_database
from station.firstboot import run
from station.pin import MAX_LOCK_S, PERMANENT_AFTER, Pins, hash_pin
from station.pin_handoff import HANDOFF_FILE, handoff_path, import_handoff
from tests.support.clock import FakeClock
from tests.support.firstboot_paths import make_paths

PIN = "97531864"


def test_a_pin_hash_reaches_the_station_once_and_unlock_lifts_a_lockout(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    (paths.boot / "system.toml").write_text(f'[technician]\npin_hash = "{hash_pin(PIN)}"\n')
    assert run(paths).line() == "FIRSTBOOT station=missing system=applied"
    handed = paths.station_config.parent / HANDOFF_FILE
    assert oct(handed.stat().st_mode & 0o777) == oct(0o640)
    assert PIN.encode() not in b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    # The station finds it next to its configuration (the image links /etc/... to /data/config).
    link = tmp_path / "etc" / "station.toml"
    link.symlink_to(paths.station_config)
    found = handoff_path(str(link))
    assert found == handed and handoff_path("(defaults)") is None
    clock = FakeClock(0.0)
    pins = Pins(open_database(tmp_path / "station.db"), clock=clock)
    assert import_handoff(found, pins) == "technician PIN set"
    assert pins.check_technician(PIN).ok
    assert import_handoff(found, pins) == "already imported"  # a later restart changes nothing
    for _ in range(PERMANENT_AFTER):
        clock.advance(MAX_LOCK_S)
        pins.check_technician("0")
    assert pins.check_technician(PIN).permanent
    assert import_handoff(found, pins) == "already imported"  # the old file does not unlock

    (paths.boot / "system.toml").write_text("[technician]\nunlock = true\n")
    assert run(paths).system == "applied"
    assert import_handoff(found, pins) == "technician PIN unlocked"
    assert pins.check_technician(PIN).ok  # the same PIN, no longer locked


def test_a_new_pin_hash_lifts_the_permanent_lock(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    clock = FakeClock(0.0)
    pins = Pins(open_database(tmp_path / "station.db"), clock=clock)
    pins.set_technician("11112222")
    for _ in range(PERMANENT_AFTER):
        clock.advance(MAX_LOCK_S)
        pins.check_technician("0")
    (paths.boot / "system.toml").write_text(f'[technician]\npin_hash = "{hash_pin(PIN)}"\n')
    run(paths)
    assert import_handoff(paths.station_config.parent / HANDOFF_FILE, pins) == "technician PIN set"
    assert pins.check_technician(PIN).ok


@pytest.mark.parametrize(
    "section",
    [
        'pin_hash = "97531864"',  # the digits themselves
        'pin_hash = "$scrypt$ln=20,r=8,p=1$' + "A" * 22 + "$" + "A" * 43 + '"',
        "pin_hash = 12",
        'unlock = "yes"',
        "[technician.nested]\nx = 1",
    ],
)
def test_a_bad_technician_section_rejects_the_file_and_hands_nothing_over(
    tmp_path: Path, section: str
) -> None:
    paths = make_paths(tmp_path)
    (paths.boot / "system.toml").write_text(f'hostname = "station-9"\n[technician]\n{section}\n')
    outcome = run(paths)
    assert outcome.system == "rejected" and "technician" in outcome.errors[0]
    assert PIN not in outcome.errors[0]
    assert not (paths.station_config.parent / HANDOFF_FILE).exists()
    assert not (paths.data / "system" / "hostname").exists()


def test_a_damaged_handoff_file_changes_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pins = Pins(open_database(tmp_path / "station.db"))
    path = tmp_path / HANDOFF_FILE
    assert import_handoff(path, pins) == "none"
    for text in ("{", '{"id": 1, "pin_hash": "", "unlock": true}', "[]", "x" * 10_000):
        path.write_text(text)
        assert import_handoff(path, pins) == "damaged"
    path.write_text('{"id": "a", "pin_hash": "$scrypt$nonsense", "unlock": false}')
    assert import_handoff(path, pins) == "damaged"
    assert pins.technician_set is False and "nonsense" not in caplog.text


def test_a_headless_station_without_a_pin_says_how_to_set_one(caplog: pytest.LogCaptureFixture) -> None:
    from station.cli.compose import MissingPinLog
    from station.core import listener as ev

    for quiet in (ev.PairingNeeded(repair=False), ev.TechnicianRefused()):
        ev.deliver(MissingPinLog(), quiet)
    assert caplog.text == ""
    ev.deliver(MissingPinLog(), ev.TechnicianPinNeeded())
    assert "release-station pin set" in caplog.text and "pin_hash" in caplog.text
