"""Syncing the badge directory from a source: the model (one transaction, last good copy kept,
broken snapshots refused, mass removals held back, conflicts to the source), the ``url``
source against a real HTTPS server on loopback, and the sync loop."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.audit import AuditLog
from station.cli import EXIT_FAILURE, EXIT_OK, main
from station.cli.cmd_doctor import check_directory
from station.cloud.errors import UsersRefusedError
from station.cloud.models import UserInfo
from station.config import DirectorySection, DirectoryUrlSection, parse_config
from station.database import Database, open_database
from station.directory import Directory, HeldBackError
from station.directory_sources import open_sync, synced_directory
from station.directory_sources.url import UrlSource
from station.directory_sync import (
    NEGATIVE_TTL,
    DirectorySync,
    SnapshotError,
    SourceError,
    SyncLoop,
    publish_status,
    read_status,
)
from station.metrics import Metrics, render
from tests.support.clock import FakeClock
from tests.support.core_rig import wait_until
from tests.support.tls_files import FileServer, self_signed

PEOPLE = {f"p{i}@example.com": UserInfo(f"u-{i}", f"p{i}@example.com", f"Person{i}", "") for i in range(8)}


def csv_of(rows: list[tuple[str, str]]) -> bytes:
    return ("badge,email\n" + "".join(f"{badge},{email}\n" for badge, email in rows)).encode()


class Resolver:
    """The ezeep users by address, and who was asked (the cache must spare repeat questions)."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.people = dict(PEOPLE)

    def __call__(self, email: str) -> UserInfo | None:
        self.asked.append(email)
        return self.people.get(email)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(tls: tuple[Path, Path]) -> Iterator[FileServer]:
    with FileServer(*tls) as running:
        yield running


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_database(tmp_path / "station.db")


class Rig:
    def __init__(self, db: Database, server: FileServer, ca: Path) -> None:
        self.db = db
        self.directory = Directory(db)
        self.resolver = Resolver()
        self.audit = AuditLog(db)
        self.source = UrlSource(DirectoryUrlSection(url=server.url, ca_file=str(ca)))
        self.sync = DirectorySync(
            db, self.directory, self.source, self.resolver, max_removed_share=0.2, audit=self.audit
        )

    def owner(self, badge: str) -> str:
        entry = self.directory.lookup(badge)
        return "" if entry is None else entry.user_id


@pytest.fixture
def rig(db: Database, server: FileServer, tls: tuple[Path, Path]) -> Iterator[Rig]:
    made = Rig(db, server, tls[0])
    yield made
    made.source.close()


SIX = [(f"B{i:04d}", f"p{i}@example.com") for i in range(6)]


def test_a_users_list_refused_to_the_device_token_fails_the_sync_and_says_the_way_out(
    rig: Rig, server: FileServer
) -> None:
    def refused(email: str) -> UserInfo | None:
        raise UsersRefusedError("GET /v1/users/: not authorised (HTTP 403)", status=403)

    server.body = csv_of(SIX)
    sync = DirectorySync(rig.db, rig.directory, rig.source, refused, max_removed_share=0.2, audit=rig.audit)
    with pytest.raises(SourceError, match=r"device token read its users list.*signs a technician in once"):
        sync.run()
    assert rig.directory.lookup(SIX[0][0]) is None  # nothing applied


def test_a_snapshot_adds_changes_and_removes_in_one_go_and_keeps_local_enrolments(
    rig: Rig, server: FileServer
) -> None:
    server.body = csv_of(SIX)
    first = rig.sync.run()
    assert (first.applied.added, first.applied.entries) == (6, 6)
    rig.directory.enrol("LOCAL1", "u-7", email="p7@example.com", how="technician")
    server.body = csv_of([*SIX[:5], ("B0099", "p6@example.com")])  # one gone, one new
    second = rig.sync.run()
    counts = (second.applied.added, second.applied.removed, second.applied.kept_local)
    assert counts == (1, 1, 1)
    assert rig.owner("B0005") == "" and rig.owner("B0099") == "u-6" and rig.owner("LOCAL1") == "u-7"
    origins = {entry.badge_id: entry.origin for entry in rig.directory.entries()}
    assert origins["B0099"] == "source" and origins["LOCAL1"] == "local"
    status = read_status(rig.db)
    assert status is not None and status.last_success is not None and status.failures == 0
    assert "added 1" in status.summary and "B0099" not in status.summary


def test_an_unchanged_file_is_a_304_and_changes_nothing(rig: Rig, server: FileServer) -> None:
    server.body = csv_of(SIX)
    rig.sync.run()
    again = rig.sync.run()
    assert again.unchanged and server.answers == [200, 304]
    assert rig.directory.count() == 6


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"badge,email\nB1,p1@example.com\nB1,p2@example.com\n", "one badge is given to several people"),
        (b"badge,email\nB1,p1@example.com\nB 2,p2@example.com\n", "line 3: the badge id contains whitespace"),
        (b"badge,email\nB1,p1@example.com\nB2,not-an-address\n", "line 3: an invalid e-mail address"),
        (b"badge,email\nB1,p1@example.com\n,p2@example.com\n", "line 3: missing badge"),
    ],
)
def test_a_broken_snapshot_is_refused_and_the_last_good_copy_kept(
    rig: Rig, server: FileServer, body: bytes, words: str
) -> None:
    server.body = csv_of(SIX)
    rig.sync.run()
    server.body = body
    with pytest.raises(SnapshotError, match=words) as info:
        rig.sync.run()
    assert "not-an-address" not in str(info.value)
    assert rig.directory.count() == 6
    status = read_status(rig.db)
    assert status is not None and status.failures == 1 and words in status.last_error


def test_a_file_that_shrank_is_held_back_unless_forced(rig: Rig, server: FileServer) -> None:
    server.body = csv_of(SIX)
    rig.sync.run()
    server.body = csv_of(SIX[:2])
    with pytest.raises(HeldBackError, match="remove 4 of 6"):
        rig.sync.run()
    assert rig.directory.count() == 6
    dry = rig.sync.run(force=True, dry_run=True)
    assert dry.applied.removed == 4 and rig.directory.count() == 6
    assert rig.sync.run(force=True).applied.removed == 4
    assert rig.directory.count() == 2


def test_a_local_enrolment_the_source_contradicts_gives_way_and_is_audited(
    rig: Rig, server: FileServer
) -> None:
    rig.directory.enrol("B0001", "u-7", email="p7@example.com", how="self")
    server.body = csv_of(SIX)
    outcome = rig.sync.run()
    assert len(outcome.applied.conflicts) == 1 and rig.owner("B0001") == "u-1"
    assert [e.event for e in rig.audit.entries()] == ["directory_conflict"]


def test_addresses_are_resolved_once_and_strangers_left_out(rig: Rig, server: FileServer) -> None:
    server.body = csv_of([*SIX, ("B0050", "stranger@example.com")])
    first = rig.sync.run()
    assert first.unresolved == 1 and rig.owner("B0050") == ""
    server.body = csv_of([*SIX, ("B0050", "stranger@example.com"), ("B0051", "p6@example.com")])
    rig.sync.run()
    assert sorted(rig.resolver.asked) == sorted(
        [*(e for _, e in SIX), "stranger@example.com", "p6@example.com"]
    )


def test_a_stranger_is_asked_about_again_after_a_day_even_from_an_unchanged_source(
    db: Database, server: FileServer, tls: tuple[Path, Path]
) -> None:
    clock = FakeClock()
    rig = Rig(db, server, tls[0])
    rig.sync = DirectorySync(
        db, rig.directory, rig.source, rig.resolver, max_removed_share=0.2, now=clock.wall
    )
    server.body = csv_of([*SIX, ("B0050", "stranger@example.com")])
    rig.sync.run()
    assert rig.directory.not_ezeep_user("B0050") and not rig.directory.not_ezeep_user("B0001")
    assert rig.sync.run().unchanged  # a 304: nobody is asked again within the day
    rig.resolver.people["stranger@example.com"] = UserInfo("u-new", "stranger@example.com", "New", "")
    clock.advance(NEGATIVE_TTL)  # invited to ezeep meanwhile
    outcome = rig.sync.run()  # the whole file again, though it has not changed
    assert (outcome.applied.added, outcome.unresolved) == (1, 0)
    assert rig.owner("B0050") == "u-new" and not rig.directory.not_ezeep_user("B0050")
    assert rig.resolver.asked.count("stranger@example.com") == 2


def test_an_untrusted_certificate_or_a_too_large_file_is_refused(
    server: FileServer, tls: tuple[Path, Path]
) -> None:
    server.body = csv_of(SIX)
    untrusted = UrlSource(DirectoryUrlSection(url=server.url))
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.fetch("")
    small = UrlSource(DirectoryUrlSection(url=server.url, ca_file=str(tls[0]), max_bytes=1024))
    server.body = csv_of(SIX * 20)
    with pytest.raises(SourceError, match="more than max_bytes = 1024"):
        small.fetch("")


def test_the_loop_retries_after_a_failure_and_stops_at_once(rig: Rig, server: FileServer) -> None:
    server.body = b"badge,email\nB1,p1@example.com\nB1,p2@example.com\n"
    loop = SyncLoop(rig.sync, interval_s=3600, first_retry_s=3600)
    loop.start()
    try:
        assert loop.synced.wait(10)
        status = read_status(rig.db)
        assert status is not None and status.failures == 1 and status.last_success is None
        loop.synced.clear()
        server.body = csv_of(SIX)
        loop.wake()
        assert loop.synced.wait(10)
    finally:
        stopped = threading.Event()

        def stop() -> None:
            loop.stop()
            stopped.set()

        threading.Thread(target=stop, daemon=True).start()
        assert stopped.wait(5)  # not after the hour's wait
    assert rig.directory.count() == 6


def test_the_metrics_file_shows_the_last_sync_entries_failures_and_a_held_back_removal(
    rig: Rig, server: FileServer
) -> None:
    metrics = Metrics()

    def gauges() -> dict[str, float]:
        status = rig.sync.status()
        assert status is not None
        publish_status(metrics, status)
        prefix = "release_station_directory_"
        return {s.name.removeprefix(prefix): s.value for s in metrics.samples() if s.name.startswith(prefix)}

    rig.directory.enrol("B0001", "u-7", email="p7@example.com", how="technician")  # the source wins
    server.body = csv_of([*SIX, ("B0099", "stranger@example.com")])
    rig.sync.run()
    assert gauges() == {
        "last_success_timestamp_seconds": pytest.approx(time.time(), abs=60),
        "entries": 6,
        "failures": 0,
        "held_back": 0,
        "conflicts": 1,
        "not_ezeep_users": 1,
    }
    server.body = csv_of(SIX[:1])
    with pytest.raises(HeldBackError):
        rig.sync.run()
    assert (gauges()["failures"], gauges()["held_back"], gauges()["entries"]) == (1, 1, 6)
    assert "release_station_directory_held_back 1" in render(metrics.samples())


def test_a_synced_station_directory_feeds_the_metrics_after_each_sync(
    tmp_path: Path, server: FileServer, tls: tuple[Path, Path]
) -> None:
    metrics = Metrics()
    server.body = csv_of(SIX)
    section = DirectorySection(source="url", url=DirectoryUrlSection(url=server.url, ca_file=str(tls[0])))
    with contextlib.ExitStack() as stack:

        def connection() -> Database:
            db = open_database(tmp_path / "station.db")
            stack.callback(db.close)
            return db

        directory = synced_directory(section, connection, Resolver(), stack, metrics=metrics)
        wait_until(lambda: any(s.name == "release_station_directory_entries" for s in metrics.samples()))
        assert directory.count() == 6
    assert "release_station_directory_entries 6" in render(metrics.samples())


def test_directory_sync_and_status_on_the_command_line(
    tmp_path: Path, server: FileServer, tls: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "station.toml"
    config.write_text(
        f'[station]\nstate_dir = "{tmp_path / "state"}"\n'
        '[cloud]\naccount_url = "http://127.0.0.1:9"\napi_url = "http://127.0.0.1:9"\n'
        'print_url = "http://127.0.0.1:9"\n'
        f'[directory]\nsource = "url"\n[directory.url]\nurl = "{server.url}"\nca_file = "{tls[0]}"\n'
    )
    server.body = ("badge,user_id\n" + "".join(f"B{i:04d},u-{i}\n" for i in range(6))).encode()
    assert main(["--config", str(config), "directory", "status"]) == EXIT_OK
    assert "last sync: never" in capsys.readouterr().out
    assert main(["--config", str(config), "directory", "sync", "--dry-run"]) == EXIT_OK
    assert "would do: added 6" in capsys.readouterr().out
    assert main(["--config", str(config), "directory", "sync"]) == EXIT_OK
    assert "synced: added 6" in capsys.readouterr().out
    server.body = b"badge,user_id\nB0000,u-0\n"
    assert main(["--config", str(config), "directory", "sync"]) == EXIT_FAILURE
    assert "remove 5 of 6" in capsys.readouterr().err
    assert main(["--config", str(config), "directory", "status"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "entries: 6 from the source, 0 enrolled on this station" in out
    assert "errors: failing 1 times in a row: the source would remove 5 of 6" in out
    assert main(["--config", str(config), "directory", "sync", "--force"]) == EXIT_OK
    assert "removed 5" in capsys.readouterr().out


def test_doctor_reports_the_last_sync_and_a_missing_ca_file(
    tmp_path: Path, server: FileServer, tls: tuple[Path, Path]
) -> None:
    text = (
        f'[station]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[directory]\nsource = "url"\n[directory.url]\nurl = "{server.url}"\nca_file = "{tls[0]}"\n'
    )
    config = parse_config(text)
    assert [(f.status, f.detail[:13]) for f in check_directory(config)] == [("warn", "never synced:")]
    server.body = csv_of(SIX)
    with contextlib.ExitStack() as stack:
        db = open_database(config.database_path)
        stack.callback(db.close)
        sync = open_sync(config.directory, Directory(db), db, Resolver(), stack)
        assert sync is not None
        sync.run()
        server.body = b"badge,email\n,p1@example.com\n"
        with pytest.raises(SnapshotError):
            sync.run()
    [finding] = check_directory(config)
    assert finding.status == "warn" and "last success 0 min ago" in finding.detail
    assert "failing 1 times in a row" in finding.detail and "missing badge" in finding.detail
    broken = parse_config(text.replace(str(tls[0]), str(tmp_path / "missing.pem")))
    assert [f.status for f in check_directory(broken)] == ["fail", "warn"]
