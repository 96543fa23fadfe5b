"""The station core end to end: the real runtime, EzeepClient, TokenKeeper, Pairer, ReleaseEngine,
Directory, AuditLog, StationSettings, Pins and RateLimiter, against the ezeep emulator over
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
from typing import Any

import pytest

from station.audit import SECRET_FILE, AuditEntry, AuditLog
from station.causes import Cause, Reason
from station.cloud.api import EzeepClient
from station.cloud.contract import JOBS_PATH
from station.core import intents as i
from station.core import view as v
from station.core.enrolment import Enrolling, Unknown
from station.core.health import Offline, PrinterUnavailable, ReaderMissing, Ready
from station.core.identify import Identifying
from station.core.pairing import Pairing, Unpaired
from station.core.pins import PinCheck, PinSetup
from station.core.runtime import Station
from station.core.session import Done, Picking, Releasing
from station.core.state import Tuning
from station.core.technician import Technician
from station.database import open_database
from station.directory import Directory, mask_email
from station.emulator import Emulator
from station.events import BadgeRead, ReaderHealth
from station.feedback import Pattern
from station.pin import MAX_LOCK_S, PERMANENT_AFTER, Pins, PinStatus
from tests.support.approval_page import sign_in
from tests.support.clock import FakeClock
from tests.support.core_rig import TECH_PIN, WAIT_S, Parts, Patterns, build_rig, wait_until
from tests.support.cutting_proxy import CuttingProxy
from tests.support.views import Published


@dataclasses.dataclass
class Rig:
    emulator: Emulator
    parts: Parts
    views: Published

    @property
    def station(self) -> Station:
        return self.parts.station

    @property
    def patterns(self) -> Patterns:
        return self.parts.patterns

    @property
    def directory(self) -> Directory:
        return self.parts.directory

    @property
    def audit(self) -> AuditLog:
        return self.parts.audit

    def tap(self, uid: bytes) -> None:
        self.station.submit(BadgeRead(uid, "simulated", "sim", time.monotonic(), raw=uid.hex()))

    def send(self, intent: i.Intent) -> None:
        self.station.submit(intent)

    def open_menu(self) -> Technician:
        """The long press and the technician PIN."""
        self.send(i.OpenTechnician())
        self.views.next(PinCheck, lambda view: view.purpose == "technician")
        self.send(i.EnterPin(TECH_PIN))
        return self.views.next(Technician)

    def enrol_user(self, index: int, uid: bytes) -> str:
        user = self.emulator.users[index]
        self.directory.enrol(uid.hex().upper(), user.id, email=user.email, how="cli")
        return user.email


def badge(n: int) -> bytes:
    return bytes([0x04, 0x10, 0x20, 0x30, 0x40, 0x50, n])


@pytest.fixture
def make_rig(tmp_path: Path, emulator: Emulator) -> Iterator[Callable[..., Rig]]:
    started: list[Parts] = []

    def make(*, url: str = "", **options: Any) -> Rig:
        emulator.auto_approve_device = emulator.printers[0].id
        parts = build_rig(tmp_path, url or emulator.url, **options)
        views = Published()
        parts.station.subscribe(views)
        parts.station.start()
        started.append(parts)
        return Rig(emulator, parts, views)

    yield make
    for parts in started:
        parts.close()


def ready(rig: Rig) -> Ready:
    return rig.views.next(Ready, info=lambda info: info.printer_name != "")


def audited(rig: Rig, event: str) -> list[AuditEntry]:
    return [entry for entry in rig.audit.entries() if entry.event == event]


def assert_forgotten(rig: Rig, mode: object, *secrets: str) -> None:
    """None of ``secrets`` in ``mode`` (hidden fields included) or the station info shown with it."""
    text = repr(dataclasses.asdict(v.View(rig.views.info, mode)))  # type: ignore[arg-type]
    for secret in secrets:
        assert secret not in text


# --- pairing and release all --------------------------------------------------------------------


def test_pairs_by_itself_then_releases_all_jobs_of_a_tap(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = make_rig()
    rig.views.next(Pairing)
    first = rig.views.next(Ready)
    assert first.just_paired
    ready(rig)
    printer = rig.views.info
    assert printer.printer_name == rig.emulator.printers[0].name and printer.cloud == "ok"
    email = rig.enrol_user(0, badge(1))
    user = rig.emulator.users[0]
    waiting = {job["id"] for job in rig.emulator.waiting_jobs(email)}
    assert waiting

    rig.tap(badge(1))
    rig.views.next(Identifying)
    rig.views.next(Releasing)
    done = rig.views.next(Done)
    assert done.outcome == "released", done
    assert {job.id for job in done.jobs} == waiting
    assert rig.patterns.played[-1] is Pattern.RELEASED
    assert Pattern.READ in rig.patterns.played
    counts = rig.emulator.release_counts()
    assert {job_id: counts.get(job_id) for job_id in waiting} == dict.fromkeys(waiting, 1)
    assert rig.emulator.waiting_jobs(email) == []

    rig.send(i.Done())
    after = rig.views.next(Ready)
    assert_forgotten(rig, after, user.first_name, email, *waiting)
    wait_until(lambda: bool(audited(rig, "tap")))  # written after the release started
    (release,), (tap,) = audited(rig, "release"), audited(rig, "tap")
    assert (release.user_id, release.jobs) == (user.id, len(waiting))
    assert release.outcome == f"{len(waiting)}/{len(waiting)} printed" and tap.outcome == "known"
    assert tap.badge_hash == release.badge_hash == rig.audit.hash_badge(badge(1).hex().upper())
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
    done = rig.views.next(Done)
    assert done.outcome == "printer_offline"
    assert {job.cause for job in done.jobs} == {Cause(Reason.PRINTER_OFFLINE, printer.name, "Offline")}
    assert {job["id"] for job in rig.emulator.waiting_jobs(email)} == waiting
    rig.send(i.Done())
    unavailable = rig.views.next(PrinterUnavailable)
    assert unavailable.status == "Offline"

    rig.emulator.set_printer_status(printer.id, "Online")
    ready(rig)
    assert rig.views.info.printer == "ok"
    assert rig.emulator.release_counts() == {}


# --- pick mode ----------------------------------------------------------------------------------


def test_pick_release_selected_delete_and_second_tap_logout(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(mode="pick")
    ready(rig)
    email = rig.enrol_user(3, badge(4))  # four waiting jobs
    rig.tap(badge(4))
    session = rig.views.next(Picking, lambda view: not view.busy)
    assert len(session.jobs) == 4 and session.user_name
    first, second, *rest = session.jobs

    rig.send(i.ToggleJob(first.id))
    rig.views.next(Picking, lambda view: view.selected == {first.id})
    rig.send(i.DeleteSelected())
    rig.views.next(Picking, lambda view: view.confirm_delete == (first.id,))
    rig.send(i.ConfirmDelete())
    after_delete = rig.views.next(Picking, lambda view: not view.busy and len(view.jobs) == 3)
    assert first.id not in {job.id for job in after_delete.jobs}
    assert first.id not in {job["id"] for job in rig.emulator.waiting_jobs(email)}
    (delete,) = audited(rig, "delete")
    assert (delete.jobs, delete.outcome) == (1, "1/1 deleted")

    rig.send(i.ToggleJob(second.id))
    rig.views.next(Picking, lambda view: view.selected == {second.id})
    rig.send(i.ReleaseSelected())
    done = rig.views.next(Done)
    assert [job.id for job in done.jobs] == [second.id] and done.outcome == "released"
    assert rig.emulator.release_counts() == {second.id: 1}

    # On the summary the same badge logs out; the next tap starts a fresh session, and a
    # second tap of the same badge logs out of it at once.
    rig.tap(badge(4))
    rig.views.next(Ready)
    rig.tap(badge(4))
    rig.views.next(Picking, lambda view: len(view.jobs) == len(rest))
    rig.tap(badge(4))
    assert_forgotten(rig, rig.views.next(Ready), email, *(job.name for job in rest))


def test_the_session_greets_by_name_never_by_the_full_address(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(mode="pick")
    ready(rig)
    first, second = rig.emulator.users[0], rig.emulator.users[1]
    rig.directory.enrol(badge(5).hex().upper(), first.id, email=first.email, how="cli")  # no name
    rig.directory.enrol(badge(6).hex().upper(), second.id, email="", display_name=second.email, how="cli")
    shown = []
    for uid in (badge(5), badge(6)):
        rig.tap(uid)
        shown.append(rig.views.next(Picking, lambda view: not view.busy).user_name)
        rig.tap(uid)
        ready(rig)
    assert shown == [mask_email(first.email), mask_email(second.email)]
    assert all("•••@" in name for name in shown)


def test_session_ends_after_its_idle_time(make_rig: Callable[..., Rig]) -> None:
    # The clock jumps past the 60 s timeout; any event wakes the core to notice.
    offset = [0.0]
    rig = make_rig(mode="pick", clock=lambda: time.monotonic() + offset[0])
    ready(rig)
    rig.enrol_user(1, badge(2))
    rig.tap(badge(2))
    session = rig.views.next(Picking, lambda view: not view.busy)
    rig.send(i.Touched())
    touched = rig.views.next(Picking)
    assert touched.expires_at > session.expires_at
    offset[0] += 61
    rig.station.submit(ReaderHealth("simulated", "sim", True, "", time.monotonic()))
    rig.views.next(Ready)
    assert all(not isinstance(view, Done) for view in rig.views.modes())
    assert rig.emulator.release_counts() == {}


def test_another_badge_ends_the_session_and_starts_its_own(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(mode="pick")
    ready(rig)
    rig.enrol_user(1, badge(2))
    rig.enrol_user(2, badge(3))
    rig.tap(badge(2))
    one = rig.views.next(Picking, lambda view: not view.busy)
    rig.tap(badge(3))
    two = rig.views.next(Picking, lambda view: not view.busy)
    assert {job.id for job in one.jobs}.isdisjoint({job.id for job in two.jobs})
    assert len(two.jobs) == 3


# --- unknown badges -----------------------------------------------------------------------------


@pytest.mark.chromium
def test_self_enrolment_through_the_approval_page(make_rig: Callable[..., Rig], browser: Any) -> None:
    rig = make_rig()
    ready(rig)
    user = rig.emulator.users[2]
    waiting = {job["id"] for job in rig.emulator.waiting_jobs(user.email)}
    revokes = rig.emulator.stats()["revoke"]
    rig.tap(badge(9))
    offer = rig.views.next(Enrolling, lambda view: view.stage == "waiting")
    assert offer.code and offer.auth_url

    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, offer.auth_url, user.email)  # the phone scans the QR code
    page.click("#approve")
    page.locator("#result").wait_for()
    context.close()

    confirm = rig.views.next(Enrolling, lambda view: view.stage == "confirm")
    assert confirm.user_name == f"{user.first_name} {user.last_name}"
    assert rig.directory.lookup(badge(9).hex().upper()) is None  # not before the second tap
    rig.tap(badge(9))
    done = rig.views.next(Done)
    assert done.outcome == "released" and {job.id for job in done.jobs} == waiting
    entry = rig.directory.lookup(badge(9).hex().upper())
    assert entry is not None and entry.user_id == user.id and entry.enrolled_by == "self"
    assert rig.emulator.stats()["revoke"] == revokes + 1


def test_self_enrolment_cancel_leaves_nothing(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    rig.tap(badge(9))
    rig.views.next(Enrolling, lambda view: view.stage == "waiting")
    rig.send(i.Cancel())
    assert_forgotten(rig, ready(rig), badge(9).hex().upper())
    assert rig.directory.lookup(badge(9).hex().upper()) is None


def signed_in_at_the_kiosk(rig: Rig, user_index: int, uid: bytes) -> Enrolling:
    """Tap an unknown badge; the emulator's user approves the sign-in as a phone would."""
    rig.emulator.auto_approve_user = rig.emulator.users[user_index].email
    rig.tap(uid)
    return rig.views.next(Enrolling, lambda view: view.stage == "confirm")


def test_self_enrolment_links_only_after_the_same_badge_is_tapped_again(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = make_rig()
    ready(rig)
    user = rig.emulator.users[1]
    revokes = rig.emulator.stats()["revoke"]
    confirm = signed_in_at_the_kiosk(rig, 1, badge(9))
    assert confirm.user_name == f"{user.first_name} {user.last_name}"
    # Who signed in, never the address, on the public screen or in a log line (the mode keeps the
    # address, out of its repr, only to link the badge to it).
    assert user.email not in repr(v.View(rig.views.info, confirm)) and user.email not in confirm.user_name
    assert rig.emulator.stats()["revoke"] == revokes + 1  # the user's token is gone already
    assert rig.directory.lookup(badge(9).hex().upper()) is None
    rig.tap(badge(9))
    assert rig.views.next(Done).outcome == "released"
    entry = rig.directory.lookup(badge(9).hex().upper())
    assert entry is not None and entry.user_id == user.id and entry.enrolled_by == "self"
    (confirmed,) = audited(rig, "enrol_self_confirmed")
    assert confirmed.user_id == user.id and confirmed.badge_hash == rig.audit.hash_badge(
        badge(9).hex().upper()
    )
    assert badge(9).hex().upper() not in caplog.text and user.email not in caplog.text


@pytest.mark.parametrize(
    ("ending", "reason", "event"),
    [
        ("another badge", "other_badge", "enrol_self_refused"),
        ("cancel", "not_confirmed", "enrol_self_cancelled"),
        ("timeout", "not_confirmed", "enrol_self_timed_out"),
    ],
)
def test_self_enrolment_not_confirmed_links_nothing(
    make_rig: Callable[..., Rig], ending: str, reason: str, event: str
) -> None:
    rig = make_rig(tuning={"confirm_tap_s": 0.5 if ending == "timeout" else 60.0})
    ready(rig)
    signed_in_at_the_kiosk(rig, 1, badge(9))
    if ending == "another badge":
        rig.tap(badge(8))
    elif ending == "cancel":
        rig.send(i.Cancel())
    assert rig.views.next(Unknown).reason == reason
    assert rig.directory.lookup(badge(9).hex().upper()) is None
    assert rig.directory.lookup(badge(8).hex().upper()) is None
    wait_until(lambda: bool(audited(rig, event)))  # the core's audit effect runs after the view
    (entry,) = audited(rig, event)
    assert entry.user_id == rig.emulator.users[1].id and entry.badge_hash == rig.audit.hash_badge(
        badge(9).hex().upper()
    )
    assert not audited(rig, "enrol_self_confirmed")


def test_self_enrolment_beyond_the_badge_limit_is_refused(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(tuning={"max_badges_per_user": 2})
    ready(rig)
    rig.enrol_user(1, badge(1))
    rig.enrol_user(1, badge(2))
    rig.emulator.auto_approve_user = rig.emulator.users[1].email
    rig.tap(badge(9))
    assert rig.views.next(Unknown).reason == "too_many_badges"
    assert rig.directory.lookup(badge(9).hex().upper()) is None
    wait_until(lambda: bool(audited(rig, "enrol_self_refused")))
    (refused,) = audited(rig, "enrol_self_refused")
    assert (refused.user_id, refused.outcome) == (rig.emulator.users[1].id, "too_many_badges")


def test_random_uid_is_refused_and_repeated_unknown_taps_are_limited(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(tuning={"self_enrolment": False})
    ready(rig)
    rig.tap(bytes([0x08, 1, 2, 3]))
    assert rig.views.next(Unknown).reason == "random_uid"
    reasons = []
    for _ in range(4):
        rig.tap(badge(8))
        reasons.append(rig.views.next(Unknown).reason)
        rig.send(i.Cancel())
        ready(rig)
    assert reasons == ["not_enrolled"] * 3 + ["rate_limited"]


def test_technician_enrolment(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    user = rig.emulator.users[0]
    rig.open_menu()
    rig.send(i.ShowPage("enrol"))
    rig.tap(badge(7))
    rig.views.next(Technician, lambda view: view.enrol.stage == "search")
    rig.send(i.SearchUsers(user.email.split("@")[0]))
    found = rig.views.next(Technician, lambda view: view.enrol.stage == "search" and bool(view.enrol.results))
    assert user.id in {choice.id for choice in found.enrol.results}
    rig.send(i.ChooseUser(user.id))
    rig.views.next(Technician, lambda view: view.enrol.stage == "saved")
    entry = rig.directory.lookup(badge(7).hex().upper())
    assert entry is not None and entry.user_id == user.id and entry.enrolled_by == "technician"
    (audit,) = audited(rig, "enrol_technician")
    assert (audit.user_id, audit.outcome) == (user.id, "added")
    rig.send(i.CloseTechnician())
    ready(rig)
    rig.tap(badge(7))
    assert rig.views.next(Done).outcome == "released"


def test_technician_signs_in_once_when_ezeep_refuses_the_users_list_to_the_station(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    ready(rig)
    rig.emulator.set_faults(refuse_device_users=True)
    user, admin = rig.emulator.users[1], rig.emulator.users[0]
    rig.open_menu()
    rig.send(i.ShowPage("enrol"))
    rig.tap(badge(7))
    rig.views.next(Technician, lambda view: view.enrol.stage == "search")
    rig.send(i.SearchUsers(user.last_name))
    sign_in = rig.views.next(Technician, lambda view: view.enrol.stage == "sign_in").enrol.sign_in
    assert sign_in is not None and sign_in.code
    revoked = rig.emulator.stats().get("revoke", 0)
    rig.emulator.approve(sign_in.code, admin.email)
    found = rig.views.next(Technician, lambda view: view.enrol.stage == "search" and bool(view.enrol.results))
    assert [choice.id for choice in found.enrol.results] == [user.id] and found.enrol.sign_in is None
    wait_until(lambda: rig.emulator.stats().get("revoke", 0) == revoked + 1)  # the sign-in is not kept


def tech_choose(rig: Rig, uid: bytes, user_index: int) -> Technician:
    user = rig.emulator.users[user_index]
    rig.open_menu()
    rig.send(i.ShowPage("enrol"))
    rig.tap(uid)
    rig.views.next(Technician, lambda view: view.enrol.stage == "search")
    rig.send(i.SearchUsers(user.email))
    rig.views.next(Technician, lambda view: bool(view.enrol.results))
    rig.send(i.ChooseUser(user.id))
    return rig.views.next(Technician, lambda view: view.enrol.stage in ("confirm", "saved"))


def test_technician_sees_the_users_badge_and_replaces_it(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    rig.enrol_user(0, badge(1))
    old = badge(1).hex().upper()
    confirm = tech_choose(rig, badge(7), 0)
    (shown,) = confirm.enrol.user_badges
    assert shown.masked == "…" + old[-4:] and shown.enrolled_by == "cli"
    assert rig.directory.lookup(badge(7).hex().upper()) is None  # nothing until confirmed
    rig.send(i.ConfirmEnrolment(replace=0))
    saved = rig.views.next(Technician, lambda view: view.enrol.stage == "saved")
    assert saved.enrol.outcome == "replaced"
    assert rig.directory.lookup(old) is None
    new = rig.directory.lookup(badge(7).hex().upper())
    assert new is not None and new.user_id == rig.emulator.users[0].id
    (enrolled,) = audited(rig, "enrol_technician")
    (unlinked,) = audited(rig, "badge_unlinked")
    assert (enrolled.outcome, unlinked.outcome) == ("replaced", "replaced")
    assert unlinked.badge_hash == rig.audit.hash_badge(old) and unlinked.user_id == rig.emulator.users[0].id
    assert rig.audit.verify().ok


def test_technician_adds_a_second_badge_but_never_beyond_the_limit(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(tuning={"max_badges_per_user": 2})
    ready(rig)
    rig.enrol_user(0, badge(1))
    tech_choose(rig, badge(7), 0)
    rig.send(i.ConfirmEnrolment(replace=None))
    rig.views.next(Technician, lambda view: view.enrol.stage == "saved")
    assert [e.user_id for e in rig.directory.badges_of(rig.emulator.users[0].id)] == [
        rig.emulator.users[0].id
    ] * 2
    rig.send(i.CloseTechnician())
    ready(rig)
    confirm = tech_choose(rig, badge(8), 0)
    assert len(confirm.enrol.user_badges) == 2 and confirm.enrol.max_badges == 2
    rig.send(i.ConfirmEnrolment(replace=None))  # at the limit: the screen offers no "add"
    rig.send(i.ConfirmEnrolment(replace=1))
    rig.views.next(Technician, lambda view: view.enrol.stage == "saved")
    assert len(rig.directory.badges_of(rig.emulator.users[0].id)) == 2
    assert rig.directory.lookup(badge(8).hex().upper()) is not None


# --- offline ------------------------------------------------------------------------------------


def outage(make_rig: Callable[..., Rig], outage_s: float) -> Done:
    """ezeep goes away for ``outage_s``, long enough for the access token to run out; the
    summary of a tap once it is back."""
    rig = make_rig()
    ready(rig)
    rig.enrol_user(0, badge(1))
    rig.emulator.set_faults(offline=True)
    rig.tap(badge(1))
    offline = rig.views.next(Offline)
    assert offline.reason == "network" and rig.views.info.cloud == "down"
    assert Pattern.ERROR in rig.patterns.played
    rig.parts.token_offset[0] += 7200  # the token runs out on the station's clock
    stop = threading.Event()
    stop.wait(outage_s)  # the cloud stays away this long
    assert isinstance(rig.station.view.mode, Offline)
    before = rig.emulator.stats()
    rig.emulator.set_faults(offline=False)
    ready(rig)
    back = rig.views.info
    assert back.cloud == "ok" and back.paired
    after = rig.emulator.stats()
    assert after["pair"] == before["pair"] == 1  # never paired again
    assert after["refresh"] > before["refresh"]  # the token was refreshed instead
    rig.tap(badge(1))
    return rig.views.next(Done)


def test_cloud_outage_then_back_to_ready(make_rig: Callable[..., Rig]) -> None:
    assert outage(make_rig, 3.0).outcome == "released"


def test_a_tap_during_an_outage_never_waits_for_a_token_refresh(make_rig: Callable[..., Rig]) -> None:
    # The keeper pauses 500 to 1000 s between tries and the answer safety net is ten minutes
    # away: a tap or a probe that sat in the keeper's retries would never get anywhere.
    rig = make_rig(refresh_backoff_s=(1000.0, 1000.0), tuning={"answer_s": 600.0})
    ready(rig)
    rig.enrol_user(0, badge(1))
    rig.emulator.set_faults(offline=True)
    rig.tap(badge(1))
    rig.views.next(Offline)
    rig.parts.token_offset[0] += 7200  # the token runs out: every call needs a refresh first
    rig.tap(badge(1))
    rig.views.next(Identifying)
    offline = rig.views.next(Offline)
    assert offline.reason == "network"
    refreshes = rig.emulator.stats()["refresh"]
    rig.emulator.set_faults(offline=False)
    ready(rig)  # the next probe refreshes the token with one try of its own
    assert rig.views.info.cloud == "ok"
    assert rig.emulator.stats()["refresh"] == refreshes + 1
    rig.tap(badge(1))
    assert rig.views.next(Done).outcome == "released"


class GatedPins(Pins):
    """The real PINs, whose ``status`` waits while the gate is shut (a stuck database read)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.gate.set()
        self.reads = 0
        self.stuck = threading.Semaphore(0)

    def status(self) -> PinStatus:
        self.reads += 1
        if not self.gate.is_set():
            self.stuck.release()
            self.gate.wait(WAIT_S)
        return super().status()


def test_one_pin_read_at_a_time_and_a_stuck_lookup_gives_up(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(pins_type=GatedPins, tuning={"answer_s": 2.0, "pin_idle_poll_s": 0.5})
    pins = rig.parts.pins
    assert isinstance(pins, GatedPins)
    ready(rig)
    rig.enrol_user(0, badge(1))
    pins.gate.clear()
    assert pins.stuck.acquire(timeout=WAIT_S)  # one PIN read hangs on the local thread
    reads = pins.reads
    rig.tap(badge(1))  # its lookup waits behind the stuck read
    offline = rig.views.next(Offline)  # after 2 s: four polls came meanwhile
    assert offline.cause is not None and offline.cause.reason is Reason.NO_ANSWER
    assert pins.reads == reads  # none of them started another read
    pins.gate.set()
    wait_until(lambda: pins.reads > reads + 1)  # the polls go on
    ready(rig)
    rig.tap(badge(1))
    assert rig.views.next(Done).outcome == "released"


def test_a_lookup_never_waits_behind_a_slow_ezeep(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(mode="pick", workers=1, tuning={"self_enrolment": False})
    ready(rig)
    rig.enrol_user(0, badge(1))
    # The job list trickles in a byte at a time: no read waits long enough to time out, and the
    # request holds the one cloud thread until its 20 s deadline.
    rig.emulator.set_faults(trickle_s=0.2, trickle_path=JOBS_PATH)
    rig.tap(badge(1))
    rig.views.next(Picking, lambda view: view.busy == "loading")  # holds the one cloud thread
    rig.tap(badge(8))  # unknown: looked up in the database alone
    tapped = time.monotonic()
    assert rig.views.next(Unknown).reason == "not_enrolled"
    assert time.monotonic() - tapped < 10.0  # not behind the list, whose request ends at 20 s


def test_ezeep_too_slow_to_answer_a_tap_shows_offline(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(tuning={"answer_s": 0.3})
    ready(rig)
    rig.enrol_user(0, badge(1))
    rig.emulator.set_faults(latency_s=3.0)  # longer than the answer time and the request timeout
    rig.tap(badge(1))
    offline = rig.views.next(Offline)
    assert offline.cause is not None and offline.cause.reason is Reason.NO_ANSWER
    rig.emulator.set_faults(latency_s=0.0)
    ready(rig)
    assert rig.emulator.release_counts() == {}  # the printer check never answered: nothing sent


@pytest.mark.slow
def test_sixty_second_cloud_outage_then_back_to_ready(make_rig: Callable[..., Rig]) -> None:
    assert outage(make_rig, 60.0).outcome == "released"


def test_failed_jobs_are_retried_from_the_summary(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    email = rig.enrol_user(1, badge(2))
    waiting = {job["id"] for job in rig.emulator.waiting_jobs(email)}
    printer = rig.emulator.printers[0]
    rig.emulator.set_printer_fails(printer.id, True)
    rig.tap(badge(2))
    failed = rig.views.next(Done)
    assert failed.outcome == "failed" and failed.can_retry
    assert {(job.phase, job.cause) for job in failed.jobs} == {
        ("failed", Cause(Reason.PRINTER_ERROR, code=3011))
    }

    rig.emulator.set_printer_fails(printer.id, False)
    rig.send(i.RetryFailed())
    rig.views.next(Releasing)
    done = rig.views.next(Done)
    assert done.outcome == "released" and not done.can_retry
    assert rig.emulator.release_counts() == dict.fromkeys(waiting, 2)  # once failed, once printed
    (retry,), (release,) = audited(rig, "retry"), audited(rig, "release")
    assert (retry.jobs, retry.outcome) == (2, "2/2 printed")
    assert (release.jobs, release.outcome) == (2, "0/2 printed")


def test_answers_lost_mid_release_are_reconciled_never_resent(
    make_rig: Callable[..., Rig], emulator: Emulator
) -> None:
    with CuttingProxy(emulator.url) as proxy:
        rig = make_rig(mode="pick", url=proxy.url, tuning={"heartbeat_s": 0.3})
        ready(rig)
        email = rig.enrol_user(3, badge(4))
        waiting = {job["id"] for job in emulator.waiting_jobs(email)}
        rig.tap(badge(4))
        rig.views.next(Picking, lambda view: not view.busy)
        # Every release reaches ezeep, every answer is lost, and the queue cannot be read.
        proxy.cut_after, proxy.cut_lists = b"POST /sfapi/Print/", True
        rig.send(i.ReleaseAll())
        done = rig.views.next(Done)
        assert {job.phase for job in done.jobs} == {"unconfirmed"} and not done.can_retry
        assert rig.parts.engine.unsettled() == len(waiting)

        proxy.cut_after, proxy.cut_lists = b"", False
        wait_until(lambda: rig.parts.engine.unsettled() == 0)  # the core reconciled by itself
        # The worker writes its audit entry once the reconcile has returned, a moment later.
        wait_until(lambda: bool(audited(rig, "reconcile")))
        # Jobs found released are never sent again; any request that never got through (a
        # timeout on a loaded machine) left its job waiting, and the next tap releases it.
        left = {job["id"] for job in emulator.waiting_jobs(email)}
        rig.send(i.Done())
        ready(rig)
        rig.tap(badge(4))
        assert rig.views.next(Done).outcome == ("released" if left else "nothing_to_print")
    assert emulator.release_counts() == dict.fromkeys(waiting, 1)
    assert emulator.waiting_jobs(email) == []


# --- PIN and readers ----------------------------------------------------------------------------


def test_release_pins_per_person_with_a_lockout_per_badge(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    rig.enrol_user(1, badge(2))
    rig.enrol_user(2, badge(3))
    rig.open_menu()
    rig.send(i.SwitchReleasePins(True))
    rig.views.next(Technician, lambda view: view.message == "saved", info=lambda info: info.release_pins_on)
    rig.send(i.CloseTechnician())
    ready(rig)

    rig.tap(badge(2))  # no PIN of their own yet: choose one, twice
    rig.views.next(PinSetup, lambda view: view.purpose == "release" and view.stage == "choose")
    rig.send(i.EnterPin("2468"))
    rig.views.next(PinSetup, lambda view: view.stage == "repeat")
    rig.send(i.EnterPin("2468"))
    assert rig.views.next(Done).outcome in ("released", "nothing_to_print")
    rig.send(i.Done())
    ready(rig)

    rig.tap(badge(2))
    rig.views.next(PinCheck, lambda view: view.purpose == "release")
    errors = []
    for wrong in ("1111", "2222", "3333"):
        rig.send(i.EnterPin(wrong))
        errors.append(rig.views.next(PinCheck, lambda view: not view.checking and bool(view.error)))
    assert [view.error for view in errors] == ["wrong", "wrong", "locked"]
    assert errors[-1].locked_until is not None
    rig.send(i.EnterPin("2468"))  # right, but locked out: not even compared
    assert rig.views.next(PinCheck, lambda view: not view.checking and bool(view.error)).error == "locked"
    rig.send(i.Cancel())
    ready(rig)

    rig.tap(badge(3))  # another person's badge is not locked
    rig.views.next(PinSetup, lambda view: view.stage == "choose")
    for _ in range(2):
        rig.send(i.EnterPin("97531"))
    assert rig.views.next(Done).outcome in ("released", "nothing_to_print")
    rig.send(i.Done())
    ready(rig)

    rig.parts.pin_offset[0] += 31  # the first lockout lasts 30 s of running time
    rig.tap(badge(2))
    rig.views.next(PinCheck, lambda view: view.purpose == "release")
    rig.send(i.EnterPin("2468"))
    assert rig.views.next(Done).outcome in ("released", "nothing_to_print")
    events = [entry.outcome for entry in rig.audit.entries() if entry.event == "pin_release"]
    assert events[:3] == ["ok", "set", "locked"]
    assert_no_pin_in_the_log = [entry for entry in rig.audit.entries() if "2468" in repr(entry)]
    assert assert_no_pin_in_the_log == []


def test_a_pin_set_or_cleared_from_the_command_line_takes_effect_within_a_second(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    # The station's clock moves only when the test moves it: "within a second" is counted on
    # the station's own clock (its PIN poll, every 0.5 s), however loaded the machine.
    clock = FakeClock()
    rig = make_rig(technician_pin=False, clock=clock)
    poll_s = Tuning().pin_poll_s
    assert poll_s <= 0.5

    def a_poll_later() -> None:
        clock.advance(poll_s)
        rig.send(i.Touched())  # wakes the core, which finds its PIN timer due

    rig.views.next(PinSetup, lambda view: view.purpose == "technician")
    rig.emulator.auto_approve_device = None  # keep the pairing code on screen
    rig.send(i.OpenTechnician())  # no menu without a PIN
    cli = Pins(open_database(tmp_path / "station.db"))  # what `release-station pin set` does
    cli.set_technician("11223344")
    a_poll_later()
    rig.views.next(Pairing)
    cli.clear_technician()  # `release-station pin clear`: no pairing code without a PIN
    a_poll_later()
    rig.views.next(PinSetup, lambda view: view.purpose == "technician")
    assert not any(isinstance(view, Technician | PinCheck) for view in rig.views.modes())


def test_a_station_paired_before_asks_for_its_pin_over_ssh_not_on_the_screen(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    rig = make_rig(tuning={"heartbeat_s": 0.2})
    ready(rig)
    cli = Pins(open_database(tmp_path / "station.db"))
    cli.clear_technician()  # `release-station pin clear`
    record = rig.parts.keeper.record
    assert record is not None and record.pair is not None
    EzeepClient(rig.parts.http, rig.parts.keeper).revoke(record.pair.refresh_token)  # a hostile 401
    rig.emulator.auto_approve_device = None  # a code would stay on screen
    rig.parts.token_offset[0] += 7200  # the next probe must refresh: ezeep rejects it
    rig.views.next(Unpaired, lambda view: view.problem == "no_pin")
    assert not rig.views.info.paired
    rig.send(i.EnterPin(TECH_PIN))
    rig.send(i.StartPairing())
    cli.set_technician("11223344")  # `release-station pin set`
    rig.views.next(Pairing)
    assert not any(isinstance(view, PinSetup) for view in rig.views.modes())
    assert not cli.check_technician(TECH_PIN).ok


def test_an_audit_log_that_cannot_write_never_fails_the_work(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    blocked = tmp_path / SECRET_FILE
    blocked.mkdir()  # the key cannot be read or made: every entry fails
    rig = make_rig()
    ready(rig)
    rig.open_menu()  # the right PIN still opens the menu
    rig.send(i.Cancel())
    ready(rig)
    rig.enrol_user(0, badge(7))
    rig.tap(badge(7))
    assert rig.views.next(Done).outcome == "released"
    assert rig.audit.count() == 0 and blocked.is_dir()


def test_ten_wrong_technician_pins_lock_the_menu_until_pin_set(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    rig = make_rig()
    ready(rig)
    errors = []
    for _ in range(PERMANENT_AFTER):
        rig.parts.pin_offset[0] += MAX_LOCK_S  # every timed lock has run out
        rig.send(i.OpenTechnician())
        rig.views.next(PinCheck, lambda view: view.purpose == "technician")
        rig.send(i.EnterPin("99999999"))
        errors.append(rig.views.next(PinCheck, lambda view: bool(view.error)).error)
        rig.send(i.Cancel())
        ready(rig)
    assert errors[-1] == "blocked" and "blocked" not in errors[:-1]
    rig.parts.pin_offset[0] += 365 * 24 * 3600.0
    rig.send(i.OpenTechnician())
    rig.send(i.EnterPin(TECH_PIN))  # the right PIN: still locked
    assert rig.views.next(PinCheck, lambda view: bool(view.error)).error == "blocked"
    Pins(open_database(tmp_path / "station.db")).set_technician("55556666")  # `release-station pin set`
    rig.send(i.Cancel())
    ready(rig)
    rig.send(i.OpenTechnician())
    rig.views.next(PinCheck)
    rig.send(i.EnterPin("55556666"))
    rig.views.next(Technician)


def test_reader_missing_and_back(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    ready(rig)
    rig.station.submit(ReaderHealth("simulated", "sim", False, "unplugged", time.monotonic()))
    missing = rig.views.next(ReaderMissing)
    assert missing.detail == "unplugged"
    rig.station.submit(ReaderHealth("simulated", "sim", True, "", time.monotonic()))
    ready(rig)
    assert rig.views.info.reader == "ok"


# --- a job list that ignores user= ---------------------------------------------------------------


def test_a_tap_lists_releases_and_deletes_only_the_tappers_jobs(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(mode="pick")
    ready(rig)
    rig.emulator.set_faults(ignore_user_filter=True)  # ezeep's list holds everybody's jobs
    email = rig.enrol_user(2, badge(8))  # three waiting jobs; three colleagues have seven more
    mine = {job["id"] for job in rig.emulator.waiting_jobs(email)}
    others = {u.email: rig.emulator.waiting_jobs(u.email) for u in rig.emulator.users if u.email != email}
    assert len(mine) == 3 and sum(map(len, others.values())) == 7

    rig.tap(badge(8))
    session = rig.views.next(Picking, lambda view: not view.busy)
    assert {job.id for job in session.jobs} == mine
    first = session.jobs[0]
    rig.send(i.ToggleJob(first.id))
    rig.views.next(Picking, lambda view: view.selected == {first.id})
    rig.send(i.DeleteSelected())
    rig.views.next(Picking, lambda view: view.confirm_delete == (first.id,))
    rig.send(i.ConfirmDelete())
    rig.views.next(Picking, lambda view: not view.busy and len(view.jobs) == 2)
    rig.send(i.ReleaseAll())
    done = rig.views.next(Done)
    assert done.outcome == "released" and {job.id for job in done.jobs} == mine - {first.id}
    assert rig.emulator.release_counts() == dict.fromkeys(mine - {first.id}, 1)
    assert {u: rig.emulator.waiting_jobs(u) for u in others} == others  # nobody else's job moved
