"""``release-station badges …``, ``pin …`` and ``audit verify`` through the real command line and database."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest

from station.audit import AuditLog
from station.cli import EXIT_FAILURE, EXIT_OK, main
from station.cloud.http import CloudHttp
from station.cloud.stack import CloudStack
from station.config import load_config_file
from station.database import open_database, transaction
from station.directory import Directory
from station.emulator import Emulator
from station.pin import MAX_LOCK_S, PERMANENT_AFTER, Pins, parse_pin_hash
from tests.support.clock import FakeClock

HW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CLIENT = "release-station-demo"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A station whose cloud is a closed loopback port: any cloud call would fail loudly."""
    path = tmp_path / "station.toml"
    path.write_text(
        f'[station]\nstate_dir = "{tmp_path / "state"}"\n'
        '[cloud]\naccount_url = "http://127.0.0.1:9"\napi_url = "http://127.0.0.1:9"\n'
        'print_url = "http://127.0.0.1:9"\nclient_id = "release-station-demo"\n'
    )
    return path


def _directory(config: Path) -> Directory:
    return Directory(open_database(load_config_file(config).database_path))


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_add_list_export_remove(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "badges", "list") == EXIT_OK
    assert "no badges are enrolled" in capsys.readouterr().out
    assert run(config, "badges", "add", "04A1B2C3", "--user-id", "u-ann", "--name", "Ann Arbor") == EXIT_OK
    assert run(config, "badges", "add", "0012345678", "--user-id", "u-bob") == EXIT_OK
    capsys.readouterr()
    assert run(config, "badges", "list") == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["BADGE", "USER", "EMAIL", "HOW", "ENROLLED", "LAST", "SEEN"]
    assert lines[1].split()[:4] == ["0012345678", "u-bob", "-", "cli"]
    assert lines[2].split()[:3] == ["04A1B2C3", "Ann", "Arbor"]
    assert lines[2].endswith("never")
    assert run(config, "badges", "export", "--format", "json") == EXIT_OK
    assert json.loads(capsys.readouterr().out) == [
        {"badge": "0012345678", "user_id": "u-bob", "email": "", "name": ""},
        {"badge": "04A1B2C3", "user_id": "u-ann", "email": "", "name": "Ann Arbor"},
    ]
    assert run(config, "badges", "export") == EXIT_OK
    assert capsys.readouterr().out.splitlines()[0] == "badge,user_id,email,name"
    assert run(config, "badges", "remove", "04A1B2C3") == EXIT_OK
    assert run(config, "badges", "remove", "04A1B2C3") == EXIT_FAILURE
    assert "04A1B2C3 is not enrolled" in capsys.readouterr().err
    assert [e.badge_id for e in _directory(config).entries()] == ["0012345678"]


def test_add_refuses_bad_ids_and_other_users_badges(config: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert run(config, "badges", "add", "04 A1", "--user-id", "u-ann") == EXIT_FAILURE
    assert "the badge id contains whitespace" in caplog.text
    assert run(config, "badges", "add", "AA", "--user-id", "u-ann") == EXIT_OK
    assert run(config, "badges", "add", "AA", "--user-id", "u-bob") == EXIT_FAILURE
    assert "already belongs to u-ann; --replace takes it over" in caplog.text
    assert run(config, "badges", "add", "AA", "--user-id", "u-bob", "--replace") == EXIT_OK
    entry = _directory(config).lookup("AA")
    assert entry is not None and entry.user_id == "u-bob"


def _audited(config: Path) -> list[tuple[str, str | None, str]]:
    """(event, user id, outcome) of every audit entry, oldest first."""
    entries = AuditLog(open_database(load_config_file(config).database_path)).entries()
    return [(entry.event, entry.user_id, entry.outcome) for entry in reversed(entries)]


def test_add_and_remove_are_audited(config: Path) -> None:
    assert run(config, "badges", "add", "AA", "--user-id", "u-ann") == EXIT_OK
    assert run(config, "badges", "add", "AA", "--user-id", "u-ann", "--name", "Ann") == EXIT_OK
    assert run(config, "badges", "add", "AA", "--user-id", "u-bob", "--replace") == EXIT_OK
    assert run(config, "badges", "remove", "AA") == EXIT_OK
    assert run(config, "badges", "remove", "AA") == EXIT_FAILURE  # nothing removed: nothing audited
    assert _audited(config) == [
        ("enrol_cli", "u-ann", "added"),
        ("enrol_cli", "u-ann", "updated"),
        ("badge_unlinked", "u-ann", "moved"),
        ("enrol_cli", "u-bob", "moved"),
        ("badge_unlinked", "u-bob", "cli"),
    ]


def test_add_keeps_to_the_badge_limit(config: Path, caplog: pytest.LogCaptureFixture) -> None:
    with config.open("a") as f:
        f.write("[enrolment]\nmax_badges_per_user = 1\n")
    assert run(config, "badges", "add", "AA", "--user-id", "u-ann") == EXIT_OK
    assert run(config, "badges", "add", "AA", "--user-id", "u-ann", "--name", "Ann") == EXIT_OK  # the same
    assert run(config, "badges", "add", "BB", "--user-id", "u-ann") == EXIT_FAILURE
    assert "this user already has 1 badges; at most 1 are allowed" in caplog.text
    assert _directory(config).lookup("BB") is None
    assert [event for event, _user, _outcome in _audited(config)] == ["enrol_cli", "enrol_cli"]


def test_import_refuses_the_rows_beyond_the_badge_limit_and_is_audited(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with config.open("a") as f:
        f.write("[enrolment]\nmax_badges_per_user = 2\n")
    assert run(config, "badges", "add", "AA", "--user-id", "u-ann") == EXIT_OK
    file = tmp_path / "badges.csv"
    file.write_text("badge,user_id\nBB,u-ann\nCC,u-ann\nDD,u-bob\nAA,u-ann\n")
    assert run(config, "badges", "import", str(file)) == EXIT_FAILURE
    assert "line 3: this user already has 2 badges; at most 2 are allowed" in capsys.readouterr().err
    assert _directory(config).count() == 1
    assert run(config, "badges", "import", str(file), "--partial") == EXIT_OK
    assert "imported: 2 add, 0 replace, 0 update; 1 unchanged; 1 bad line(s)" in capsys.readouterr().out
    assert {e.badge_id: e.user_id for e in _directory(config).entries()} == {
        "AA": "u-ann",
        "BB": "u-ann",
        "DD": "u-bob",
    }
    outcome = "2 add, 0 replace, 0 update; 1 refused (badge limit)"
    assert _audited(config)[-1] == ("enrol_import", None, outcome)


def test_an_email_needs_a_paired_station(config: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert run(config, "badges", "add", "AA", "--email", "ann@example.com") == EXIT_FAILURE
    assert "not paired" in caplog.text


BAD_FILE = "badge,user_id,name\nAA,u-ann,Ann\nBB,u-bob\nbad id,u-carl\nAA,u-dora\nCC\n"


def test_a_bad_file_imports_nothing_and_reports_every_line(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "badges.csv"
    file.write_text(BAD_FILE)
    assert run(config, "badges", "import", str(file)) == EXIT_FAILURE
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "line 4: the badge id contains whitespace",
        "line 5: badge AA is already on line 2",
        "line 6: missing email or user_id",
        "nothing imported: 3 bad line(s); fix them, or use --partial to import the good ones",
    ]
    assert _directory(config).count() == 0


def test_dry_run_then_partial_import(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "badges.csv"
    file.write_text(BAD_FILE)
    assert run(config, "badges", "import", str(file), "--dry-run", "--partial") == EXIT_OK
    out = capsys.readouterr().out
    assert "line 2: would add badge AA -> u-ann" in out
    assert "dry run, would do: 2 add, 0 replace, 0 update; 0 unchanged; 3 bad line(s) skipped" in out
    assert _directory(config).count() == 0
    assert run(config, "badges", "import", str(file), "--partial") == EXIT_OK
    assert "imported: 2 add" in capsys.readouterr().out
    assert {e.badge_id: e.enrolled_by for e in _directory(config).entries()} == {
        "AA": "import",
        "BB": "import",
    }


def test_conflicts_need_replace_and_stdin_works(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(config, "badges", "add", "AA", "--user-id", "u-zed") == EXIT_OK
    json_file = '[\n  {"badge": "AA", "user_id": "u-ann"},\n  {"badge": "BB", "user_id": "u-bob"}\n]\n'
    monkeypatch.setattr("sys.stdin", io.StringIO(json_file))
    assert run(config, "badges", "import", "-") == EXIT_FAILURE
    assert "line 2: badge AA already belongs to u-zed (use --replace to overwrite)" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(json_file))
    assert run(config, "badges", "import", "-", "--replace") == EXIT_OK
    assert "imported: 1 add, 1 replace" in capsys.readouterr().out
    entry = _directory(config).lookup("AA")
    assert entry is not None and entry.user_id == "u-ann"


def test_an_unreadable_file(config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert run(config, "badges", "import", str(tmp_path / "missing.csv")) == EXIT_FAILURE
    assert "cannot read" in caplog.text
    (tmp_path / "latin1.csv").write_bytes("badge,user_id,name\nAA,u,Jürgen\n".encode("latin-1"))
    assert run(config, "badges", "import", str(tmp_path / "latin1.csv")) == EXIT_FAILURE
    assert "utf-8" in caplog.text


@pytest.mark.slow
def test_emails_are_resolved_through_the_paired_cloud(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    config = tmp_path / "station.toml"
    config.write_text(
        f'[station]\nstate_dir = "{state}"\n[cloud]\naccount_url = "{emulator.url}"\n'
        f'api_url = "{emulator.url}"\nprint_url = "{emulator.url}"\nclient_id = "{CLIENT}"\n'
    )
    http = CloudHttp(account_url=emulator.url, api_url=emulator.url, print_url=emulator.url, client_id=CLIENT)
    emulator.auto_approve_device = emulator.printers[0].id
    with CloudStack.create(
        http, open_database(state / "station.db"), hardware_id=HW, poll_interval_s=0.05
    ) as cloud:
        pair = cloud.pairer.wait(cloud.pairer.start(), threading.Event())
        cloud.keeper.install(pair, hardware_id=HW)
    ann, bob = emulator.users[0], emulator.users[1]
    file = tmp_path / "badges.csv"
    file.write_text(
        f"badge,email\nAA,{ann.email}\nBB,{bob.email.upper()}\nCC,nobody@example.com\nDD,{ann.email}\n"
    )
    assert run(config, "badges", "import", str(file)) == EXIT_FAILURE
    assert "line 4: no ezeep user has the e-mail address nobody@example.com" in capsys.readouterr().err
    assert run(config, "badges", "import", str(file), "--partial") == EXIT_OK
    entries = {e.badge_id: e for e in _directory(config).entries()}
    assert {badge: e.user_id for badge, e in entries.items()} == {"AA": ann.id, "BB": bob.id, "DD": ann.id}
    assert entries["AA"].email == ann.email
    assert entries["AA"].display_name == f"{ann.first_name} {ann.last_name}".strip()
    assert run(config, "badges", "add", "EE", "--email", bob.email) == EXIT_OK
    entry = _directory(config).lookup("EE")
    assert entry is not None and (entry.user_id, entry.enrolled_by) == (bob.id, "cli")
    # ezeep refuses its users list to the device token: an administrator signs in once.
    emulator.set_faults(refuse_device_users=True)
    emulator.auto_approve_user = ann.email  # an administrator
    revoked = emulator.stats().get("revoke", 0)
    alan, kate = emulator.users[2], emulator.users[3]
    file.write_text(f"badge,email\nFF,{alan.email}\nGG,{kate.email}\n")
    assert run(config, "badges", "import", str(file)) == EXIT_OK
    err = capsys.readouterr().err
    assert "ezeep shows its users only to an administrator" in err and "Pairing code: " in err
    entries = {e.badge_id: e for e in _directory(config).entries()}
    assert (entries["FF"].user_id, entries["GG"].user_id) == (alan.id, kate.id)
    assert emulator.stats().get("revoke", 0) == revoked + 1  # the sign-in is not kept


# -- pin ---------------------------------------------------------------------------------------


def _pins(config: Path) -> Pins:
    return Pins(open_database(load_config_file(config).database_path))


def test_pin_set_status_clear(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(config, "pin", "status") == EXIT_OK
    assert capsys.readouterr().out == "technician PIN: not set\nrelease PINs per person: off\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("24681357\n"))
    assert run(config, "pin", "set", "--stdin") == EXIT_OK
    pins = _pins(config)
    assert pins.check_technician("24681357").ok
    for _ in range(3):
        pins.check_technician("0")
    capsys.readouterr()
    assert run(config, "pin", "status") == EXIT_OK
    out = capsys.readouterr().out
    assert "technician PIN: set" in out and "wrong PINs in a row: 3" in out
    assert "locked for another 30 s of running time" in out
    assert run(config, "pin", "clear") == EXIT_OK
    assert "removed; the technician menu stays shut" in capsys.readouterr().out
    assert pins.technician_set is False


def test_pin_set_asks_twice_and_wants_six_to_twelve_digits(
    config: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["135791", "135792"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert run(config, "pin", "set") == EXIT_FAILURE
    assert "the two PINs differ; nothing was changed" in caplog.text
    answers = iter(["135791", "135791"])
    assert run(config, "pin", "set") == EXIT_OK
    answers = iter(["1357"])
    assert run(config, "pin", "set") == EXIT_FAILURE
    assert "a technician PIN must be 6 to 12 digits (0-9); nothing was changed" in caplog.text
    assert _pins(config).check_technician("135791").ok


def test_pin_hash_prints_a_hash_and_stores_nothing(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["864213579", "864213579"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert main(["pin", "hash"]) == EXIT_OK  # no configuration needed
    printed = capsys.readouterr().out.strip()
    assert parse_pin_hash(printed).matches("864213579") and "864213579" not in printed
    assert not load_config_file(config).database_path.exists()
    monkeypatch.setattr("sys.stdin", io.StringIO("12\n"))
    assert main(["pin", "hash", "--stdin"]) == EXIT_FAILURE


def test_ten_wrong_pins_then_pin_status_says_how_to_unlock(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(0.0)
    pins = Pins(open_database(load_config_file(config).database_path), clock=clock)
    pins.set_technician("24681357")
    for _ in range(PERMANENT_AFTER):
        clock.advance(MAX_LOCK_S)
        pins.check_technician("0")
    assert run(config, "pin", "status") == EXIT_OK
    assert "locked until unlocked: `pin set`, `pin clear` or [technician]" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("24681357\n"))
    assert run(config, "pin", "set", "--stdin") == EXIT_OK
    assert _pins(config).check_technician("24681357").ok


def test_release_pins_switch_and_reset_one_person(
    config: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert run(config, "pin", "release", "on") == EXIT_OK
    assert _pins(config).release_on
    db = open_database(load_config_file(config).database_path)
    directory = Directory(db)
    directory.enrol("B1", "u1", email="Anna@example.com", how="cli")
    directory.enrol("B2", "u1", email="anna@example.com", how="cli")
    directory.enrol("B3", "u2", email="bob@example.com", how="cli")
    pins = Pins(db)
    for badge in ("B1", "B2", "B3"):
        pins.set_badge(badge, "1234")
    capsys.readouterr()
    assert run(config, "pin", "reset", "--user", "anna@example.com") == EXIT_OK
    assert "(2 badge(s))" in capsys.readouterr().out
    assert [pins.badge_pin_set(b) for b in ("B1", "B2", "B3")] == [False, False, True]
    assert run(config, "pin", "reset", "--user", "nobody@example.com") == EXIT_FAILURE
    assert run(config, "pin", "release", "off") == EXIT_OK
    assert not _pins(config).release_on


def test_audit_verify_says_what_is_wrong(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = load_config_file(config).state_dir
    assert run(config, "audit", "verify") == EXIT_FAILURE  # no key yet: verifying never makes one
    assert "audit.key is missing; without it the audit log cannot be verified" in capsys.readouterr().err
    db = open_database(state / "station.db")
    audit = AuditLog(db)
    audit.record("enrol_technician", badge_id="04A1B2C3", user_id="u-ann", outcome="added")
    audit.record("tap", badge_id="04A1B2C3", outcome="known")
    assert run(config, "audit", "verify") == EXIT_OK
    assert capsys.readouterr().out == "the audit log verifies: 2 entries\n"
    with transaction(db, "change the row by hand"):
        db.execute("UPDATE audit SET user_id = 'u-mallory' WHERE event = 'enrol_technician'")
    assert run(config, "audit", "verify") == EXIT_FAILURE
    assert "entry 1 was changed, or written with another audit secret" in capsys.readouterr().out
    (state / "audit.key").write_text("garbage")
    assert run(config, "audit", "verify") == EXIT_FAILURE
    assert "audit.key is damaged" in capsys.readouterr().err
