"""``release-station doctor --live`` against the emulator, in both profiles and with each fault switch.

The station is paired as the running one would be (its database in the configured state
directory); the doctor then runs as the command, with the station's own token store.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import httpx
import pytest

from station.cli import main
from station.cli.doctor_live import ReleaseTest, live_findings
from station.cloud.tokens import TokenStore
from station.config import CloudSection
from station.database import open_database
from station.emulator import Emulator
from station.findings import Finding
from tests.support.cloud import CLIENT_ID, EmulatorFactory, config_for, pair, profile_options, stack_for
from tests.support.core_rig import wait_until
from tests.support.emulator_http import device_tokens


def paired_station(
    make_emulator: EmulatorFactory, tmp_path: Path, profile: str = "default", extra: str = ""
) -> tuple[Emulator, str]:
    """An emulator of ``profile`` and the configuration (plus ``extra`` TOML) of a station paired to
    its first printer."""
    emulator = make_emulator(**profile_options(profile))
    config = config_for(tmp_path, emulator, client_id=CLIENT_ID, extra=extra)
    (tmp_path / "state").mkdir()
    db = open_database(tmp_path / "state" / "station.db")
    pair(emulator, db)
    db.conn.close()
    return emulator, config


def live(config: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["--config", config, "doctor", "--live", *args])
    return status, capsys.readouterr().out


def line(out: str, topic: str) -> str:
    """The line about ``topic``, with its fix line if it has one."""
    lines = out.splitlines()
    for n, text in enumerate(lines):
        if f" {topic}: " in text:
            fix = lines[n + 1] if n + 1 < len(lines) and lines[n + 1].lstrip().startswith("fix:") else ""
            return f"{text}\n{fix}".strip()
    raise AssertionError(f"no line about {topic!r} in:\n{out}")


def test_the_default_profile_keeps_every_assumption(
    make_emulator: EmulatorFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator, config = paired_station(make_emulator, tmp_path)
    stored = TokenStore(open_database(tmp_path / "state" / "station.db")).load()
    assert stored is not None and stored.pair is not None
    status, out = live(config, capsys)
    assert status == 0, out
    assert line(out, "ezeep refresh token").startswith(
        "ok    ezeep refresh token: issued, and a refresh rotated it"
    )
    assert line(out, "ezeep token claims").startswith("ok    ezeep token claims: tp_id 1001 (an integer)")
    assert "ok    ezeep station's printer: Floor 2 MFP" in out
    assert line(out, "ezeep is_queue flags").startswith("unknown ezeep is_queue flags: no printer carries")
    assert "ok    ezeep job list: readable with the device token: 10 job(s) wait" in out
    assert "ok    ezeep job fields: jobs carry created, id, name, owner_id, pages, size, status" in out
    assert "ok    ezeep user filter: honoured" in out
    assert "ok    ezeep users list: /v1/users/ reachable, with e-mail addresses" in out
    # The refresh it caused is stored, and the station goes on with the new pair.
    after = TokenStore(open_database(tmp_path / "state" / "station.db")).load()
    assert after is not None and after.pair is not None
    assert after.pair.refresh_token != stored.pair.refresh_token
    assert emulator.stats()["refresh"] == 1
    for secret in (stored.pair.access_token, stored.pair.refresh_token, after.pair.refresh_token):
        assert secret not in out
    status, out = live(config, capsys)
    assert status == 0 and emulator.stats()["refresh"] == 2


def test_the_strict_profile(
    make_emulator: EmulatorFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _emulator, config = paired_station(make_emulator, tmp_path, "strict")
    status, out = live(config, capsys)
    assert status == 1
    assert line(out, "ezeep refresh token").startswith("ok ")
    assert line(out, "ezeep token claims").startswith("ok    ezeep token claims: tp_id 1001 (an integer)")
    printer = line(out, "ezeep station's printer")
    assert printer.startswith("ok    ezeep station's printer: Floor 2 MFP")
    assert "(on 2 printers; the token's connector picks one)" in printer
    assert "queues (never used): AnyPrinter" in line(out, "ezeep is_queue flags")
    ignored = line(out, "ezeep user filter")
    assert ignored.startswith("FAIL  ezeep user filter: ignored: user=<a user who does not exist> lists 10")
    assert "the station must not release" in ignored and "jobs_user_param" in ignored
    # api2's users carry no e-mail under strict, but the station asks the account host.
    assert line(out, "ezeep users list").startswith(
        "ok    ezeep users list: /v1/users/ reachable, with e-mail"
    )


@pytest.mark.parametrize(
    ("switch", "topic", "expected"),
    [
        (
            {"tp_id_claim_clients": ""},
            "ezeep token claims",
            ("FAIL", "no tp_id claim", f"client id {CLIENT_ID}"),
        ),
        (
            {"refresh_token_clients": "someone-else"},
            "ezeep refresh token",
            (
                "FAIL",
                "unauthorized_client",
                f"enable refresh tokens (with rotation) for client id {CLIENT_ID}",
            ),
        ),
        ({"ignore_user_filter": True}, "ezeep user filter", ("FAIL", "ignored", "jobs_user_param")),
        (
            {"refuse_device_users": True},
            "ezeep users list",
            ("unknown", "refused for the device token", "sign in once"),
        ),
        ({"hide_job_owner": True}, "ezeep job fields", ("FAIL", "no 'owner_id'", "job_owner")),
        ({"shared_tp_id": True}, "ezeep station's printer", ("ok", "on 2 printers", "connector picks one")),
        ({"queue_printers": True}, "ezeep is_queue flags", ("ok", "AnyPrinter", "never used")),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else None,
)
def test_each_fault_switch_has_its_line(
    make_emulator: EmulatorFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    switch: dict[str, object],
    topic: str,
    expected: tuple[str, str, str],
) -> None:
    emulator, config = paired_station(make_emulator, tmp_path)
    emulator.set_faults(**switch)  # the doctor's refresh comes first: its token is issued under the switch
    status, out = live(config, capsys)
    mark, detail, fix = expected
    found = line(out, topic)
    assert found.startswith(f"{mark:<5} {topic}: ") and detail in found and fix in found, out
    assert status == (1 if mark == "FAIL" else 0), out


@pytest.mark.parametrize(
    ("extra", "switch", "detail", "fix"),
    [
        (  # the users where ezeep's pages say they carry no e-mail
            '[cloud.contract]\nusers_host = "api"\nusers_path = "/printing/v1/users/"\n',
            {"users_without_email": True},
            "/printing/v1/users/ lists users without e-mail",
            'users_host = "account"',
        ),
        (  # a synced directory resolves its addresses with nobody there to sign in
            '[directory]\nsource = "url"\n[directory.url]\nurl = "https://directory.example/badges.csv"\n',
            {"refuse_device_users": True},
            "/v1/users/ is refused for the device token, and the synced directory needs it",
            "ezeep user ids",
        ),
    ],
    ids=["users-without-email", "synced-directory-refused"],
)
def test_a_users_list_the_station_cannot_use_is_a_failure_with_its_fix(
    make_emulator: EmulatorFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: str,
    switch: dict[str, object],
    detail: str,
    fix: str,
) -> None:
    emulator, config = paired_station(make_emulator, tmp_path, extra=extra)
    emulator.set_faults(**switch)
    status, out = live(config, capsys)
    users = line(out, "ezeep users list")
    assert users.startswith(f"FAIL  ezeep users list: {detail}") and fix in users, out
    assert status == 1


def test_a_printer_its_tp_id_alone_names_among_many_asks_for_a_pin(
    make_emulator: EmulatorFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator, config = paired_station(make_emulator, tmp_path)
    emulator.set_faults(more_printers=150)
    status, out = live(config, capsys)
    assert line(out, "ezeep station's printer").startswith("ok    ezeep station's printer: Floor 2 MFP")
    device_tokens(emulator, hardware_id="another-station")  # now the printer's connector
    status, out = live(config, capsys)
    found = line(out, "ezeep station's printer")
    assert found.startswith("warn  ezeep station's printer: Floor 2 MFP")
    assert "by tp_id 1001 alone, not on the token's connector: with 152 printers listed" in found
    assert f'[cloud] printer_id = "{emulator.printers[0].id}"' in found
    assert status == 0


def test_a_tp_id_no_connector_tells_apart_asks_for_a_pinned_printer(
    make_emulator: EmulatorFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator, config = paired_station(make_emulator, tmp_path)
    emulator.set_faults(shared_tp_id=True)
    device_tokens(emulator, hardware_id="another-station")  # now the printer's connector
    status, out = live(config, capsys)
    found = line(out, "ezeep station's printer")
    assert found.startswith("FAIL  ezeep station's printer: 2 printers have tp_id 1001 and none is on")
    assert f'Floor 2 MFP = "{emulator.printers[0].id}"' in found and "[cloud] printer_id" in found
    assert status == 1


def test_an_unpaired_station_is_told_to_pair(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = live(config_for(tmp_path, emulator), capsys)
    assert status == 1
    assert (
        "FAIL  ezeep refresh token: the station is not paired\n      fix: pair it: release-station pair"
        in out
    )
    assert "ezeep printers" not in out


class Technician(io.StringIO):
    """Where the doctor writes: when it asks for a page, the technician prints one to AnyPrinter
    (through the emulator's admin API)."""

    def __init__(self, emulator: Emulator, email: str) -> None:
        super().__init__()
        self.emulator, self.email = emulator, email

    def write(self, text: str) -> int:
        if text.startswith("Print a page to AnyPrinter"):
            page = {"email": self.email, "name": "Test page.pdf"}
            httpx.post(f"{self.emulator.url}/_emulator/jobs", json=page, timeout=10).raise_for_status()
        return super().write(text)


def release_test(emulator: Emulator, tmp_path: Path, user: str) -> Finding:
    """The release test's line for ``user`` (the fifth member, by id or e-mail address), who prints
    a page when asked; the doctor's checks run as the command runs them."""
    db = open_database(tmp_path / "state" / "station.db")
    technician = Technician(emulator, emulator.users[4].email)
    with stack_for(emulator.url, db) as cloud:
        test = ReleaseTest(user, wait_s=20)
        found = list(
            live_findings(cloud, CloudSection(client_id=CLIENT_ID), release_test=test, out=technician)
        )
    assert technician.getvalue().startswith(f"Print a page to AnyPrinter as {user} now")
    return found[-1]


def test_the_release_test_releases_the_technicians_page_and_follows_it_to_printed(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emulator, _config = paired_station(make_emulator, tmp_path)
    technician = emulator.users[4]
    found = release_test(emulator, tmp_path, technician.email)
    assert found.status == "ok" and found.detail.startswith("released to Floor 2 MFP and printed (1 page(s))")
    assert emulator.waiting_jobs(technician.email) == []


def test_the_release_test_reports_a_failing_printer(make_emulator: EmulatorFactory, tmp_path: Path) -> None:
    emulator, _config = paired_station(make_emulator, tmp_path)
    emulator.set_printer_fails(emulator.printers[0].id)
    found = release_test(emulator, tmp_path, emulator.users[4].id)
    assert found.status == "fail" and found.detail.startswith("the printer reported status 3011")
    assert "paper" in found.fix


def test_the_release_test_shows_ezeeps_print_error_code(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emulator, _config = paired_station(make_emulator, tmp_path)
    emulator.set_faults(print_error_code=804)
    emulator.set_printer_fails(emulator.printers[0].id)
    found = release_test(emulator, tmp_path, emulator.users[4].id)
    assert found.status == "fail" and "804" in found.detail


def test_no_page_means_a_failed_release_test(
    make_emulator: EmulatorFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator, config = paired_station(make_emulator, tmp_path)
    user = emulator.users[4].id
    status, out = live(config, capsys, "--release-test", user, "--release-wait", "0.5")
    # The prompt comes once the other lines are out, just before the release test's own.
    assert out.index("ezeep users list:") < out.index(f"Print a page to AnyPrinter as {user} now")
    assert "FAIL  ezeep release test: no new job" in out and status == 1


class SlowTechnician(Technician):
    """A technician who prints the page only once the doctor has looked for it ``looks`` times
    (each look at the job list is one request the emulator counts)."""

    def __init__(self, emulator: Emulator, email: str, looks: int) -> None:
        super().__init__(emulator, email)
        self.looks = looks
        self.printing: threading.Thread | None = None

    def write(self, text: str) -> int:
        if not text.startswith("Print a page to AnyPrinter"):
            return io.StringIO.write(self, text)
        asked = self.emulator.stats()["api"]

        def print_later() -> None:
            wait_until(lambda: self.emulator.stats()["api"] >= asked + self.looks)
            super(SlowTechnician, self).write(text)  # prints the page now

        self.printing = threading.Thread(target=print_later, daemon=True)
        self.printing.start()
        return len(text)


def test_the_release_test_says_once_that_the_list_holds_others_jobs(
    make_emulator: EmulatorFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A profile that ignores the user filter: every look at the list holds the others' jobs.
    The doctor says so once; the station's own run still warns at every list."""
    emulator, _config = paired_station(make_emulator, tmp_path)
    emulator.set_faults(ignore_user_filter=True)
    technician = emulator.users[4]
    db = open_database(tmp_path / "state" / "station.db")
    slow = SlowTechnician(emulator, technician.email, looks=5)
    warning = "the job list held 10 job(s) that are someone else's"
    with stack_for(emulator.url, db) as cloud:
        test = ReleaseTest(technician.id, wait_s=30, poll_s=0.02)
        found = list(live_findings(cloud, CloudSection(client_id=CLIENT_ID), release_test=test, out=slow))
        assert found[-1].status == "ok", found[-1]
        assert caplog.text.count(warning) == 1  # five looks and more, one warning
        cloud.client.waiting_jobs(technician.id)
        cloud.client.waiting_jobs(technician.id)
    assert caplog.text.count(warning) == 3


def test_release_test_needs_live(emulator: Emulator, tmp_path: Path) -> None:
    assert main(["--config", config_for(tmp_path, emulator), "doctor", "--release-test", "x"]) != 0
