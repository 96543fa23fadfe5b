"""The ``ldap`` directory source against a real OpenLDAP slapd on loopback (StartTLS and LDAPS
with a throw-away CA): full and incremental sync through paged searches, write-back (a second
badge, an unlink), a removed person, the mass-removal guard, the server down and back, a wrong
password, missing attributes."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from station.audit import AuditLog
from station.cloud.models import UserInfo
from station.config import DirectoryLdapSection, DirectorySection, parse_config
from station.database import Database, open_database
from station.directory import Directory, HeldBackError
from station.directory_sources import start_sync
from station.directory_sources.ldap import FULL_READ_S, LdapSource
from station.directory_sync import DirectorySync, SourceError, read_status
from station.errors import ConfigError
from tests.support import slapd
from tests.support.clock import FakeClock
from tests.support.slapd import ADMIN_DN, ADMIN_PASSWORD, SERVICE_PASSWORD, STAFF, Slapd

pytestmark = pytest.mark.skipif(not slapd.available(), reason="slapd is not installed (.ci/dev installs it)")

# 25 people with badges (more than one page of 10), one without a mail, one without a badge.
PEOPLE = [(f"p{i}", f"p{i}@example.com", f"B{i:04d}") for i in range(25)]
SEEDED = [*PEOPLE, ("nomail", "", "B9999"), ("nobadge", "nobadge@example.com", "")]
USERS = {f"p{i}@example.com": UserInfo(f"u-{i}", f"p{i}@example.com", f"P{i}", "") for i in range(30)}
USERS["nobadge@example.com"] = UserInfo("u-nobadge", "nobadge@example.com", "No", "Badge")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Slapd]:
    with Slapd(tmp_path / "slapd", SEEDED) as running:
        yield running


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    return slapd.password_file(tmp_path / "ldap-password")


@pytest.fixture
def section(server: Slapd, password_file: Path) -> DirectoryLdapSection:
    # Pages of 10; a timeout of 5.5 s, as ldap3 wants whole seconds: the source rounds.
    return server.section(password_file, start_tls=True, page_size=10, timeout_s=5.5)


class Station:
    """One station's directory and sync against the shared slapd."""

    def __init__(
        self, db: Database, section: DirectoryLdapSection, *, write_back: bool, clock: FakeClock
    ) -> None:
        self.directory = Directory(db, write_back=write_back)
        self.db = db
        source = LdapSource(section, monotonic=clock)
        self.sync = DirectorySync(
            db, self.directory, source, USERS.get, max_removed_share=0.2, write_back=write_back
        )

    def owner(self, badge: str) -> str:
        entry = self.directory.lookup(badge)
        return "" if entry is None else entry.user_id


def station(
    tmp_path: Path,
    name: str,
    section: DirectoryLdapSection,
    *,
    write_back: bool = False,
    clock: FakeClock | None = None,
) -> Station:
    db = open_database(tmp_path / name / "station.db")
    return Station(db, section, write_back=write_back, clock=clock or FakeClock())


def admin(server: Slapd) -> ldap3.Connection:
    return ldap3.Connection(
        ldap3.Server("127.0.0.1", port=server.port), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True
    )


@pytest.mark.parametrize("ldaps", [False, True], ids=["starttls", "ldaps"])
def test_a_full_sync_reads_every_page_and_leaves_out_people_without_badge_or_mail(
    tmp_path: Path, server: Slapd, section: DirectoryLdapSection, ldaps: bool
) -> None:
    if ldaps:
        section = dataclasses.replace(section, url=server.ldaps_url)
    a = station(tmp_path, "a", section)
    outcome = a.sync.run()
    assert (outcome.applied.added, outcome.unresolved) == (25, 0)
    assert a.owner("B0024") == "u-24" and a.owner("B9999") == ""
    names = {entry.badge_id: entry.display_name for entry in a.directory.entries()}
    assert names["B0003"] == "P3 Example"  # the source's name, not ezeep's


def test_an_untrusted_server_certificate_is_refused(tmp_path: Path, section: DirectoryLdapSection) -> None:
    a = station(tmp_path, "a", dataclasses.replace(section, ca_file=""))
    with pytest.raises(SourceError, match="failed"):
        a.sync.run()
    assert a.directory.count() == 0


def test_an_enrolment_is_written_back_and_reaches_the_other_station(
    tmp_path: Path, server: Slapd, section: DirectoryLdapSection
) -> None:
    a = station(tmp_path, "a", section, write_back=True)
    b = station(tmp_path, "b", section)
    a.sync.run()
    b.sync.run()
    a.directory.enrol("C0042", "u-nobadge", email="nobadge@example.com", how="self")
    assert a.owner("C0042") == "u-nobadge" and b.owner("C0042") == ""  # A at once, B not yet
    outcome = a.sync.run()
    assert outcome.published == 1
    assert [e.origin for e in a.directory.entries() if e.badge_id == "C0042"] == ["source"]
    conn = admin(server)
    conn.search(STAFF, "(uid=nobadge)", attributes=["employeeNumber"])
    assert conn.entries[0].employeeNumber.value == "C0042"
    b.sync.run()
    assert b.owner("C0042") == "u-nobadge"


def test_a_removed_person_is_removed_and_a_broken_filter_is_held_back(
    tmp_path: Path, server: Slapd, section: DirectoryLdapSection
) -> None:
    a = station(tmp_path, "a", section)
    a.sync.run()
    admin(server).delete(f"uid=p7,{STAFF}")
    assert a.sync.run().applied.removed == 1 and a.owner("B0007") == ""
    broken = station(tmp_path, "a", dataclasses.replace(section, filter="(objectClass=typo)"))
    with pytest.raises(HeldBackError, match="remove 24 of 24"):
        broken.sync.run()
    assert broken.directory.count() == 24


def test_the_server_down_and_back(tmp_path: Path, server: Slapd, section: DirectoryLdapSection) -> None:
    a = station(tmp_path, "a", section)
    a.sync.run()
    server.stop()
    with pytest.raises(SourceError):
        a.sync.run()
    assert a.owner("B0001") == "u-1"  # the last good copy still answers taps
    status = read_status(a.db)
    assert status is not None and status.failures == 1
    server.start()
    a.sync.run()
    status = read_status(a.db)
    assert status is not None and status.failures == 0 and status.last_error == ""


def test_a_wrong_password_or_an_open_password_file_is_refused(
    tmp_path: Path, section: DirectoryLdapSection, password_file: Path
) -> None:
    password_file.write_text("wrong")
    with pytest.raises(SourceError, match="invalidCredentials"):
        station(tmp_path, "a", section).sync.run()
    password_file.write_text(SERVICE_PASSWORD)
    password_file.chmod(0o644)
    with pytest.raises(SourceError, match=r"mode 0644.*chmod 600") as info:
        station(tmp_path, "b", section).sync.run()
    assert SERVICE_PASSWORD not in str(info.value)


def test_plain_ldap_is_allowed_on_loopback_only() -> None:
    with pytest.raises(ConfigError, match="start_tls"):
        parse_config('[directory.ldap]\nurl = "ldap://dc1.example.com"\nstart_tls = false\n')
    loopback = parse_config('[directory.ldap]\nurl = "ldap://127.0.0.1:3389"\nstart_tls = false\n')
    assert loopback.directory.ldap.start_tls is False


def test_a_running_station_writes_an_enrolment_back_at_once(
    tmp_path: Path, server: Slapd, section: DirectoryLdapSection
) -> None:
    db = open_database(tmp_path / "a" / "station.db")
    enrolled = threading.Event()
    directory = Directory(db, on_enrol=enrolled.set)
    config = DirectorySection(source="ldap", sync_interval_s=3600, write_back=True, ldap=section)
    with contextlib.ExitStack() as stack:
        audit = AuditLog(open_database(tmp_path / "a" / "station.db"))
        loop = start_sync(config, directory, db, USERS.get, stack, audit=audit, wake=enrolled)
        assert loop is not None and loop.synced.wait(10)
        loop.synced.clear()
        directory.enrol("C0043", "u-nobadge", email="nobadge@example.com", how="technician")
        assert loop.synced.wait(10)  # woken by the enrolment, not after the hour
    conn = admin(server)
    conn.search(STAFF, "(uid=nobadge)", attributes=["employeeNumber"])
    assert conn.entries[0].employeeNumber.value == "C0043"


def test_a_search_cut_off_by_a_size_limit_is_refused(tmp_path: Path, password_file: Path) -> None:
    with Slapd(tmp_path / "limited", SEEDED, size_limit=12) as limited:
        section = limited.section(password_file, filter="(objectClass=*)", page_size=10)
        a = station(tmp_path, "a", section)
        with pytest.raises(SourceError, match="sizeLimitExceeded"):
            a.sync.run()
    assert a.directory.count() == 0


def test_later_syncs_read_only_what_changed_and_still_find_removals(
    tmp_path: Path, server: Slapd, section: DirectoryLdapSection
) -> None:
    clock = FakeClock()
    a = station(tmp_path, "a", section, clock=clock)
    assert a.sync.run().read == "full read"
    assert a.sync.run().unchanged  # nothing modified since the mark
    conn = admin(server)
    conn.modify(f"uid=p3,{STAFF}", {"employeeNumber": [(ldap3.MODIFY_REPLACE, ["N0003"])]})
    conn.delete(f"uid=p7,{STAFF}")
    conn.modify(f"uid=p9,{STAFF}", {"mail": [(ldap3.MODIFY_DELETE, [])]})  # no address: no badge
    outcome = a.sync.run()
    assert (outcome.applied.added, outcome.applied.removed, outcome.applied.entries) == (1, 3, 23)
    assert a.owner("N0003") == "u-3" and a.owner("B0003") == a.owner("B0007") == a.owner("B0009") == ""
    conn.modify(f"uid=p4,{STAFF}", {"employeeNumber": [(ldap3.MODIFY_REPLACE, ["N0004"])]})
    outcome = a.sync.run()
    # p4, and whichever of p3 and p9 changed in the mark's second (">=", so that a change made in
    # the same second as the last read is never missed); never the 21 others.
    assert outcome.read in ("incremental: 2 entries read", "incremental: 3 entries read")
    assert a.owner("N0004") == "u-4"
    clock.advance(FULL_READ_S)
    assert a.sync.run().unchanged is False and a.sync.run().unchanged  # once a day a full read
    restarted = station(tmp_path, "a", section)  # a restart forgets the mark: a full read
    assert restarted.sync.run().read == "full read"


def test_a_second_badge_joins_the_first_and_an_unlink_deletes_that_value_only(tmp_path: Path) -> None:
    seeded = [("ann", "ann@example.com", "B0001"), ("bob", "bob@example.com", "B0002")]
    users = {
        "ann@example.com": UserInfo("u-ann", "ann@example.com", "Ann", ""),
        "bob@example.com": UserInfo("u-bob", "bob@example.com", "Bob", ""),
    }
    with Slapd(tmp_path / "multi", seeded, badge_attribute="badgeNumber") as server:
        section = server.section(slapd.password_file(tmp_path / "password"))

        def at(name: str) -> Station:
            made = station(tmp_path, name, section, write_back=name == "a")
            made.sync = DirectorySync(
                made.db,
                made.directory,
                LdapSource(section),
                users.get,
                max_removed_share=0.5,
                write_back=name == "a",
            )
            return made

        def badges(uid: str) -> list[str]:
            conn = admin(server)
            conn.search(STAFF, f"(uid={uid})", attributes=["badgeNumber"])
            return sorted(conn.entries[0].badgeNumber.values)

        a, b = at("a"), at("b")
        a.sync.run()
        b.sync.run()
        a.directory.enrol("C0001", "u-ann", email="ann@example.com", how="self")
        assert a.sync.run().published == 1
        assert badges("ann") == ["B0001", "C0001"]  # added to the first, not replacing it
        b.sync.run()
        assert b.owner("B0001") == b.owner("C0001") == "u-ann"
        # A technician replaces Ann's first badge, and gives Bob's badge to Ann.
        a.directory.enrol("D0001", "u-ann", email="ann@example.com", how="technician", unlink="B0001")
        a.directory.enrol("B0002", "u-ann", email="ann@example.com", how="technician", replace=True)
        assert a.sync.run().published == 4  # two unlinks, two enrolments
        assert badges("ann") == ["B0002", "C0001", "D0001"] and badges("bob") == []
        outcome = b.sync.run()
        assert outcome.applied.removed == 1 and b.owner("B0001") == ""
        assert b.owner("B0002") == b.owner("D0001") == "u-ann"
        assert a.directory.local_unlinks() == [] and a.sync.run().unchanged


def test_a_refused_write_back_says_why_but_names_no_entry(
    tmp_path: Path, server: Slapd, section: DirectoryLdapSection
) -> None:
    wrong = dataclasses.replace(section, badge_attribute="dc")  # a person's entries may not hold it
    with pytest.raises(SourceError, match="objectClassViolation") as info:
        LdapSource(wrong).write_badge("p1@example.com", "C0001")
    assert "uid=" not in str(info.value) and "p1" not in str(info.value)
