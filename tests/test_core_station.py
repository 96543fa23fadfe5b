"""The station core end to end: the real runtime, EzeepClient, TokenKeeper, Pairer, ReleaseEngine,
Directory, AuditLog, StationSettings, PinGuard and RateLimiter, against the ezeep emulator over
loopback. Badge reads and intents go in through ``Station.submit`` as the reader threads and the
UI send them; what comes out is checked on the published views, the feedback patterns and the
emulator's own counters.

No assertion is about time: waits are bounded (a failing test ends), never measured.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from station.audit import AuditLog
from station.cloud.http import CloudHttp
from station.cloud.stack import CloudStack
from station.config import Config, StationSection
from station.core import intents as i
from station.core import view as v
from station.core.runtime import Station
from station.core.state import Tuning
from station.database import open_database
from station.directory import Directory
from station.emulator import Emulator
from station.events import BadgeRead, ReaderHealth
from station.feedback import Pattern
from station.pin import PinGuard
from station.ratelimit import RateLimiter
from station.release import ReleaseEngine
from station.settings import StationSettings
from tests.test_emulator_approval import browser, sign_in  # noqa: F401  (a fixture, used by name)

HARDWARE_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
WAIT_S = 30.0
V = TypeVar("V")


class Patterns:
    """A feedback that remembers what it was asked to show."""

    def __init__(self) -> None:
        self.played: list[Pattern] = []

    def play(self, pattern: Pattern) -> None:
        self.played.append(pattern)

    def close(self) -> None:
        pass


class Views:
    """Every published view, and a bounded wait for the next one of a kind."""

    def __init__(self) -> None:
        self._seen: list[v.View] = []
        self._cursor = 0
        self._changed = threading.Condition()

    def __call__(self, view: v.View) -> None:
        with self._changed:
            self._seen.append(view)
            self._changed.notify_all()

    def next(self, kind: type[V], check: Callable[[V], bool] = lambda _view: True) -> V:
        """The first view after the last one returned that is a ``kind`` and passes ``check``."""

        def find() -> int | None:
            for index in range(self._cursor, len(self._seen)):
                view = self._seen[index]
                if isinstance(view, kind) and check(view):
                    return index
            return None

        with self._changed:
            found = self._changed.wait_for(lambda: find() is not None, WAIT_S)
            assert found, (
                f"no {kind.__name__} came; last views: {[type(x).__name__ for x in self._seen[-5:]]}"
            )
            index = find()
            assert index is not None
            self._cursor = index + 1
            return self._seen[index]  # type: ignore[return-value]

    def all(self) -> list[v.View]:
        with self._changed:
            return list(self._seen)


@dataclasses.dataclass
class Rig:
    emulator: Emulator
    station: Station
    views: Views
    patterns: Patterns
    directory: Directory
    audit: AuditLog
    wall: list[float]

    def tap(self, uid: bytes) -> None:
        self.station.submit(BadgeRead(uid, "simulated", "sim", time.monotonic(), raw=uid.hex()))

    def send(self, intent: i.Intent) -> None:
        self.station.submit(intent)

    def enrol_user(self, index: int, uid: bytes) -> str:
        user = self.emulator.users[index]
        self.directory.enrol(uid.hex().upper(), user.id, email=user.email, how="cli")
        return user.email


def badge(n: int) -> bytes:
    return bytes([0x04, 0x10, 0x20, 0x30, 0x40, 0x50, n])


@pytest.fixture
def make_rig(tmp_path: Path, emulator: Emulator) -> Iterator[Callable[..., Rig]]:
    started: list[tuple[Station, CloudStack]] = []

    def make(
        *,
        mode: str = "all",
        clock: Callable[[], float] = time.monotonic,
        tuning: dict[str, Any] | None = None,
        paired: bool = True,
    ) -> Rig:
        path = tmp_path / "station.db"
        if paired:
            emulator.auto_approve_device = emulator.printers[0].id
        http = CloudHttp(
            account_url=emulator.url,
            api_url=emulator.url,
            print_url=emulator.url,
            client_id="core-tests",
            timeout_s=2.0,
        )
        # Every owner opens its own connection, as the composition root does.
        cloud = CloudStack.create(http, open_database(path), hardware_id=HARDWARE_ID, poll_interval_s=0.01)
        engine = ReleaseEngine(
            cloud.client, open_database(path), parallelism=4, job_timeout_s=20, poll_interval_s=0.05
        )
        section = StationSection(name="Test", release_mode=mode, session_timeout_s=60)  # type: ignore[arg-type]
        wall = [1_000_000.0]
        directory = Directory(open_database(path))
        audit = AuditLog(open_database(path))
        station = Station(
            cloud=cloud.client,
            tokens=cloud.keeper,
            pairer=cloud.pairer,
            releaser=engine,
            directory=directory,
            audit=audit,
            settings=StationSettings(open_database(path), Config(station=section)),
            pins={
                purpose: PinGuard(open_database(path), purpose, clock=lambda: wall[0])
                for purpose in ("technician", "release")
            },
            limiter=RateLimiter(burst=3, period_s=60),
            feedback=(patterns := Patterns()),
            identify=lambda read: read.canonical_id,
            tuning=Tuning(
                station_name="Test",
                hardware_id=HARDWARE_ID,
                **{"printer_recheck_s": 0.3, "done_linger_s": 60.0, **(tuning or {})},
            ),
            clock=clock,
        )
        views = Views()
        station.subscribe(views)
        station.start()
        started.append((station, cloud))
        return Rig(emulator, station, views, patterns, directory, audit, wall)

    yield make
    for station, cloud in started:
        station.stop()
        cloud.close()


def ready(rig: Rig) -> v.ReadyView:
    return rig.views.next(v.ReadyView, lambda view: view.info.printer_name != "")


def assert_forgotten(view: v.View, *secrets: str) -> None:
    text = repr(dataclasses.asdict(view))
    for secret in secrets:
        assert secret not in text


# --- pairing and release all --------------------------------------------------------------------


def test_pairs_by_itself_then_releases_all_jobs_of_a_tap(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = make_rig()
    rig.views.next(v.PairingView)
    first = rig.views.next(v.ReadyView)
    assert first.just_paired
    printer = ready(rig).info
    assert printer.printer_name == rig.emulator.printers[0].name and printer.cloud == "ok"
    email = rig.enrol_user(0, badge(1))
    user = rig.emulator.users[0]
    waiting = {job["id"] for job in rig.emulator.waiting_jobs(email)}
    assert waiting

    rig.tap(badge(1))
    rig.views.next(v.IdentifyingView)
    rig.views.next(v.ReleasingView)
    done = rig.views.next(v.DoneView)
    assert done.outcome == "released", done
    assert {job.id for job in done.jobs} == waiting
    assert rig.patterns.played[-1] is Pattern.RELEASED
    assert Pattern.READ in rig.patterns.played
    counts = rig.emulator.release_counts()
    assert {job_id: counts.get(job_id) for job_id in waiting} == dict.fromkeys(waiting, 1)
    assert rig.emulator.waiting_jobs(email) == []

    rig.send(i.Done())
    after = rig.views.next(v.ReadyView)
    assert_forgotten(after, user.first_name, email, *waiting)
    assert [entry.event for entry in rig.audit.entries()][:2] == ["release", "tap"]
    assert "state Identifying -> Releasing" in caplog.text
    assert badge(1).hex().upper() not in caplog.text.upper()


def test_printer_offline_holds_the_jobs_and_recovers(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    email = rig.enrol_user(1, badge(2))
    waiting = {job["id"] for job in rig.emulator.waiting_jobs(email)}
    printer = rig.emulator.printers[0]
    rig.emulator.set_printer_status(printer.id, "Offline")

    rig.tap(badge(2))
    done = rig.views.next(v.DoneView)
    assert done.outcome == "printer_offline"
    assert {job["id"] for job in rig.emulator.waiting_jobs(email)} == waiting
    rig.send(i.Done())
    unavailable = rig.views.next(v.PrinterUnavailableView)
    assert unavailable.status == "Offline"

    rig.emulator.set_printer_status(printer.id, "Online")
    assert ready(rig).info.printer == "ok"
    assert rig.emulator.release_counts() == {}


# --- pick mode ----------------------------------------------------------------------------------


def test_pick_release_selected_delete_and_second_tap_logout(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(mode="pick")
    ready(rig)
    email = rig.enrol_user(3, badge(4))  # four waiting jobs
    rig.tap(badge(4))
    session = rig.views.next(v.SessionView, lambda view: not view.busy)
    assert len(session.jobs) == 4 and session.user_name
    first, second, *rest = session.jobs

    rig.send(i.ToggleJob(first.id))
    rig.views.next(v.SessionView, lambda view: view.selected == {first.id})
    rig.send(i.DeleteSelected())
    rig.views.next(v.SessionView, lambda view: view.confirm_delete == (first.id,))
    rig.send(i.ConfirmDelete())
    after_delete = rig.views.next(v.SessionView, lambda view: not view.busy and len(view.jobs) == 3)
    assert first.id not in {job.id for job in after_delete.jobs}
    assert first.id not in {job["id"] for job in rig.emulator.waiting_jobs(email)}

    rig.send(i.ToggleJob(second.id))
    rig.views.next(v.SessionView, lambda view: view.selected == {second.id})
    rig.send(i.ReleaseSelected())
    done = rig.views.next(v.DoneView)
    assert [job.id for job in done.jobs] == [second.id] and done.outcome == "released"
    assert rig.emulator.release_counts() == {second.id: 1}

    # On the summary the same badge logs out; the next tap starts a fresh session, and a
    # second tap of the same badge logs out of it at once.
    rig.tap(badge(4))
    rig.views.next(v.ReadyView)
    rig.tap(badge(4))
    rig.views.next(v.SessionView, lambda view: len(view.jobs) == len(rest))
    rig.tap(badge(4))
    assert_forgotten(rig.views.next(v.ReadyView), email, *(job.name for job in rest))


def test_session_ends_after_its_idle_time(make_rig: Callable[..., Rig]) -> None:
    # The clock jumps past the 60 s timeout; any event wakes the core to notice.
    offset = [0.0]
    rig = make_rig(mode="pick", clock=lambda: time.monotonic() + offset[0])
    ready(rig)
    rig.enrol_user(1, badge(2))
    rig.tap(badge(2))
    session = rig.views.next(v.SessionView, lambda view: not view.busy)
    rig.send(i.Touched())
    touched = rig.views.next(v.SessionView)
    assert touched.expires_at > session.expires_at
    offset[0] += 61
    rig.station.submit(ReaderHealth("simulated", "sim", True, "", time.monotonic()))
    rig.views.next(v.ReadyView)
    assert all(not isinstance(view, v.DoneView) for view in rig.views.all())
    assert rig.emulator.release_counts() == {}


def test_another_badge_ends_the_session_and_starts_its_own(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(mode="pick")
    ready(rig)
    rig.enrol_user(1, badge(2))
    rig.enrol_user(2, badge(3))
    rig.tap(badge(2))
    one = rig.views.next(v.SessionView, lambda view: not view.busy)
    rig.tap(badge(3))
    two = rig.views.next(v.SessionView, lambda view: not view.busy)
    assert {job.id for job in one.jobs}.isdisjoint({job.id for job in two.jobs})
    assert len(two.jobs) == 3


# --- unknown badges -----------------------------------------------------------------------------


@pytest.mark.chromium
def test_self_enrolment_through_the_approval_page(make_rig: Callable[..., Rig], browser: Any) -> None:  # noqa: F811
    rig = make_rig()
    ready(rig)
    user = rig.emulator.users[2]
    waiting = {job["id"] for job in rig.emulator.waiting_jobs(user.email)}
    revokes = rig.emulator.stats()["revoke"]
    rig.tap(badge(9))
    offer = rig.views.next(v.EnrolView, lambda view: view.stage == "waiting")
    assert offer.code and offer.qr_url

    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, rig.emulator, offer.auth_url, user.email)
    page.click("#approve")
    page.locator("#result").wait_for()
    context.close()

    done = rig.views.next(v.DoneView)
    assert done.outcome == "released" and {job.id for job in done.jobs} == waiting
    entry = rig.directory.lookup(badge(9).hex().upper())
    assert entry is not None and entry.user_id == user.id and entry.enrolled_by == "self"
    assert rig.emulator.stats()["revoke"] == revokes + 1


def test_self_enrolment_cancel_leaves_nothing(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    rig.tap(badge(9))
    rig.views.next(v.EnrolView, lambda view: view.stage == "waiting")
    rig.send(i.Cancel())
    assert_forgotten(ready(rig), badge(9).hex().upper())
    assert rig.directory.lookup(badge(9).hex().upper()) is None


def test_random_uid_is_refused_and_repeated_unknown_taps_are_limited(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(tuning={"self_enrolment": False})
    ready(rig)
    rig.tap(bytes([0x08, 1, 2, 3]))
    assert rig.views.next(v.UnknownBadgeView).reason == "random_uid"
    reasons = []
    for _ in range(4):
        rig.tap(badge(8))
        reasons.append(rig.views.next(v.UnknownBadgeView).reason)
        rig.send(i.Cancel())
        ready(rig)
    assert reasons == ["not_enrolled"] * 3 + ["rate_limited"]


def test_technician_enrolment(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    user = rig.emulator.users[0]
    rig.send(i.OpenTechnician())
    rig.views.next(v.TechnicianView)
    rig.send(i.ShowPage("enrol"))
    rig.tap(badge(7))
    rig.views.next(v.TechnicianView, lambda view: view.enrol.stage == "search")
    rig.send(i.SearchUsers(user.email.split("@")[0]))
    found = rig.views.next(
        v.TechnicianView, lambda view: view.enrol.stage == "search" and bool(view.enrol.results)
    )
    assert user.id in {choice.id for choice in found.enrol.results}
    rig.send(i.ChooseUser(user.id))
    rig.views.next(v.TechnicianView, lambda view: view.enrol.stage == "saved")
    entry = rig.directory.lookup(badge(7).hex().upper())
    assert entry is not None and entry.user_id == user.id and entry.enrolled_by == "technician"
    rig.send(i.CloseTechnician())
    ready(rig)
    rig.tap(badge(7))
    assert rig.views.next(v.DoneView).outcome == "released"


# --- offline ------------------------------------------------------------------------------------


def outage(make_rig: Callable[..., Rig], outage_s: float) -> None:
    rig = make_rig()
    ready(rig)
    rig.enrol_user(0, badge(1))
    rig.emulator.set_faults(offline=True)
    rig.tap(badge(1))
    offline = rig.views.next(v.OfflineView)
    assert offline.reason == "network" and offline.info.cloud == "down"
    assert Pattern.ERROR in rig.patterns.played
    stop = threading.Event()
    stop.wait(outage_s)  # the cloud stays away this long
    assert isinstance(rig.station.view, v.OfflineView)
    probes_before = rig.emulator.stats()["api"]
    rig.emulator.set_faults(offline=False)
    back = ready(rig)
    assert back.info.cloud == "ok" and back.info.paired
    assert rig.emulator.stats()["pair"] == 1  # never paired again
    assert rig.emulator.stats()["api"] > probes_before
    rig.tap(badge(1))
    assert rig.views.next(v.DoneView).outcome == "released"


def test_cloud_outage_then_back_to_ready(make_rig: Callable[..., Rig]) -> None:
    outage(make_rig, 3.0)


@pytest.mark.slow
def test_sixty_second_cloud_outage_then_back_to_ready(make_rig: Callable[..., Rig]) -> None:
    outage(make_rig, 60.0)


# --- PIN and readers ----------------------------------------------------------------------------


def test_release_pin_lockout(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    rig.enrol_user(1, badge(2))
    rig.send(i.OpenTechnician())
    rig.views.next(v.TechnicianView)
    rig.send(i.SetPin("release", "2468"))
    rig.views.next(v.TechnicianView, lambda view: view.message == "pin_set" and view.release_pin_set)
    rig.send(i.CloseTechnician())
    ready(rig)

    rig.tap(badge(2))
    rig.views.next(v.PinEntryView, lambda view: view.purpose == "release")
    errors = []
    for wrong in ("1111", "2222", "3333"):
        rig.send(i.EnterPin(wrong))
        errors.append(rig.views.next(v.PinEntryView, lambda view: not view.checking and bool(view.error)))
    assert [view.error for view in errors] == ["wrong", "wrong", "locked"]
    assert errors[-1].locked_until is not None
    rig.send(i.EnterPin("2468"))  # right, but locked out: not even compared
    assert (
        rig.views.next(v.PinEntryView, lambda view: not view.checking and bool(view.error)).error == "locked"
    )
    assert rig.emulator.release_counts() == {}

    rig.wall[0] += 31  # the first lockout lasts 30 s
    rig.send(i.EnterPin("2468"))
    assert rig.views.next(v.DoneView).outcome == "released"
    events = [entry.outcome for entry in rig.audit.entries() if entry.event == "pin_release"]
    assert events[:2] == ["ok", "locked"]


def test_reader_missing_and_back(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    rig.station.submit(ReaderHealth("simulated", "sim", False, "unplugged", time.monotonic()))
    missing = rig.views.next(v.ReaderMissingView)
    assert missing.detail == "unplugged"
    rig.station.submit(ReaderHealth("simulated", "sim", True, "", time.monotonic()))
    assert ready(rig).info.reader == "ok"
