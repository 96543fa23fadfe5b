"""End to end: two stations sharing one slapd, each built by the composition root against the
ezeep emulator. A badge self-enrolled at station A (write-back on) goes into the directory at
once and releases jobs at station B after B's next sync; a badge the directory gives to a person
ezeep does not know says "not an ezeep user" at B; B's technician page shows the sync."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from station.cli import EXIT_OK, main
from station.core import intents as i
from station.core.enrolment import Enrolling, Unknown
from station.core.health import Ready
from station.core.session import Done
from station.core.technician import Technician
from station.emulator import Emulator
from station.events import BadgeRead
from tests.support import slapd
from tests.support.core_rig import HARDWARE_ID, TECH_PIN, Parts, build_rig, wait_until
from tests.support.slapd import ADMIN_DN, ADMIN_PASSWORD, SERVICE_DN, STAFF, Slapd
from tests.support.views import Published

pytestmark = pytest.mark.skipif(not slapd.available(), reason="slapd is not installed (.ci/dev installs it)")

STRANGER = "0410203040FF01"  # the directory gives it to someone ezeep does not know
ENROLLED = bytes.fromhex("0410203040AA02")  # unknown everywhere, until self-enrolled at A


class Running:
    """One started station: its parts and the views it published."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.views = Published()
        parts.station.subscribe(self.views)
        parts.station.start()

    def tap(self, uid: bytes) -> None:
        self.parts.station.submit(BadgeRead(uid, "simulated", "sim", time.monotonic(), raw=uid.hex()))


def directory_toml(server: Slapd, password: Path, *, write_back: bool) -> str:
    return f"""
        [directory]
        source = "ldap"
        sync_interval_s = 3600
        write_back = {"true" if write_back else "false"}
        [directory.ldap]
        url = "{server.url}"
        bind_dn = "{SERVICE_DN}"
        password_file = "{password}"
        base_dn = "{STAFF}"
        filter = "(objectClass=inetOrgPerson)"
        badge_attribute = "badgeNumber"
        ca_file = "{server.ca_file}"
        """


@pytest.fixture
def shared(tmp_path: Path, emulator: Emulator) -> Iterator[tuple[Slapd, Path]]:
    people = [(f"u{n}", user.email, "") for n, user in enumerate(emulator.users)]
    people.append(("stranger", "stranger@example.com", STRANGER))
    password = slapd.password_file(tmp_path / "ldap-password")
    with Slapd(tmp_path / "slapd", people, badge_attribute="badgeNumber") as server:
        yield server, password


def test_a_badge_self_enrolled_at_one_station_releases_jobs_at_the_other_after_its_next_sync(
    tmp_path: Path, emulator: Emulator, shared: tuple[Slapd, Path]
) -> None:
    server, password = shared
    emulator.auto_approve_device = emulator.printers[0].id
    user = emulator.users[1]
    badge_id = ENROLLED.hex().upper()
    with contextlib.ExitStack() as stack:
        stations = {}
        for name, write_back in (("a", True), ("b", False)):
            more = directory_toml(server, password, write_back=write_back)
            parts = build_rig(tmp_path / name, emulator.url, config_more=more)
            stack.callback(parts.close)
            stations[name] = Running(parts)
            stations[name].views.next(Ready, info=lambda info: info.printer_name != "")
        a, b = stations["a"], stations["b"]

        # At A: the person signs in on a phone and taps the same badge again.
        emulator.auto_approve_user = user.email
        a.tap(ENROLLED)
        a.views.next(Enrolling, lambda view: view.stage == "confirm")
        a.tap(ENROLLED)
        a.views.next(Done)
        admin = ldap3.Connection(
            ldap3.Server("127.0.0.1", port=server.port), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True
        )

        def in_the_directory() -> bool:
            admin.search(STAFF, "(uid=u1)", attributes=["badgeNumber"])
            return badge_id in admin.entries[0].badgeNumber.values

        wait_until(in_the_directory)  # written back at once: the enrolment woke A's sync

        # At B: unknown until B's next sync (here asked for on the command line, as a technician
        # would), then the person's jobs come out.
        assert b.parts.directory.lookup(badge_id) is None
        config = tmp_path / "b.toml"
        config.write_text(
            f'[station]\nstate_dir = "{tmp_path / "b"}"\nhardware_id = "{HARDWARE_ID}"\n'
            f'[cloud]\naccount_url = "{emulator.url}"\napi_url = "{emulator.url}"\n'
            f'print_url = "{emulator.url}"\nclient_id = "core-tests"\n'
            + directory_toml(server, password, write_back=False)
        )
        assert main(["--config", str(config), "directory", "sync"]) == EXIT_OK
        entry = b.parts.directory.lookup(badge_id)
        assert entry is not None and entry.user_id == user.id and entry.origin == "source"
        jobs = {emulator.add_job(user.email, name=f"Doc {n}.pdf") for n in range(2)}
        b.tap(ENROLLED)
        done = b.views.next(Done)
        assert done.outcome == "released" and {job.id for job in done.jobs} == jobs
        assert emulator.waiting_jobs(user.email) == []

        # A badge the directory gives to someone ezeep does not know: said so at the station.
        b.parts.station.submit(i.Done())
        b.views.next(Ready)
        b.tap(bytes.fromhex(STRANGER))
        assert b.views.next(Unknown).reason == "not_ezeep_user"

        # B's technician page: the source, the entries and that enrolments stay local.
        b.parts.station.submit(i.Cancel())
        b.views.next(Ready)
        b.parts.station.submit(i.OpenTechnician())
        b.parts.station.submit(i.EnterPin(TECH_PIN))
        b.views.next(Technician)
        b.parts.station.submit(i.ShowPage("directory"))
        page = b.views.next(Technician, lambda view: view.directory is not None)
        facts = page.directory
        assert facts is not None and (facts.source, facts.write_back) == ("ldap", False)
        assert (facts.entries, facts.not_ezeep_users, facts.failures) == (1, 1, 0)
        assert facts.last_success_age_s is not None and facts.last_success_age_s < 600
