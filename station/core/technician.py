"""The technician menu: opened by a long press and the technician PIN; never without a PIN.

Pages: pairing info and re-pair, release mode, language, session timeout, network, reader test
(raw / canonical / transformed id of the next tap), LED and buzzer test, badge enrolment (tap a
badge, search a user by email, choose; a user who has badges already is shown them, masked,
and one is replaced or, below the badge limit, the new one added), PINs (change the technician
PIN, switch per-person release PINs on or off), directory (the ``[directory]`` source and its
last sync, read when the page opens), about (version, restart). Every intent pushes
the menu's idle deadline back; the menu closes by itself when left alone. Saving a setting or a
PIN runs as work; the page shows ``busy`` until the answer and then a message code.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from station.core import messages as m
from station.core.view import BadgeRef, UserChoice
from station.directory import mask_badge

if TYPE_CHECKING:
    from station.core.worker import Emit, Worker, WorkHandlers

import dataclasses
from dataclasses import dataclass, field

from station.causes import Cause, Reason
from station.cloud.errors import UsersRefusedError
from station.cloud.models import UserInfo
from station.core import enrolment, exits, health, pairing, pins, session
from station.core import listener as ev
from station.core.intents import (
    INTENT_TYPES,
    Cancel,
    ChooseUser,
    CloseTechnician,
    ConfirmEnrolment,
    Intent,
    RePair,
    Restart,
    SearchUsers,
    SetLanguage,
    SetPin,
    SetReleaseMode,
    SetSessionTimeout,
    ShowPage,
    SwitchReleasePins,
    TestFeedback,
)
from station.core.messages import (
    Announce,
    Deadline,
    DirectoryRead,
    Effect,
    FindUsers,
    ListUserBadges,
    NetworkRead,
    PinSaved,
    Play,
    ReadDirectory,
    ReadNetwork,
    RequestRestart,
    SaveEnrolment,
    SavePin,
    SaveSetting,
    SearchSignIn,
    SetTimer,
    SettingSaved,
    Tap,
    TechBadgeChecked,
    TechCheckBadge,
    TechEnrolled,
    TechUserBadges,
    UsersFound,
    WorkFailed,
)
from station.core.state import CoreState, Tick
from station.core.transition import Routes, Step, close, every, in_mode, leave
from station.core.view import (
    DirectoryFacts,
    ReaderTestResult,
    SignInCode,
    TechEnrol,
    TechMessage,
    TechnicianPage,
)
from station.feedback import Pattern


@dataclass(frozen=True, slots=True)
class Technician:
    """The technician menu; ``page`` says which page to draw (the station's facts are in
    :class:`~station.core.view.StationInfo`).

    Network page: ``hostname``, ``addresses``. Directory page: ``directory`` (``None`` until
    read). Reader test: ``reader_test`` (``None`` until a
    badge is tapped). Enrol: ``enrol``. ``busy`` is ``True`` while an action runs (saving a
    setting, a PIN); ``message`` is a code for the last action's outcome (:data:`TechMessage`);
    an enrolment's failure says why in ``enrol.cause``. The menu closes by itself at
    ``expires_at`` (idle).
    """

    ticket: int
    page: TechnicianPage
    expires_at: float
    reader_test: ReaderTestResult | None = None
    enrol: TechEnrol = field(default_factory=TechEnrol)
    busy: bool = False
    message: TechMessage = ""
    hostname: str = ""
    addresses: tuple[str, ...] = ()
    directory: DirectoryFacts | None = None


def open_menu(core: CoreState, tick: Tick) -> Step:
    """The long press: ask the technician PIN; without one set the menu stays shut."""
    opens_from = (health.Idle, pairing.Unpaired, pairing.Pairing, enrolment.Unknown, session.Done)
    if not isinstance(core.mode, opens_from):  # no user is in the middle of something
        return core, []
    if "technician" not in core.pins:
        return core, [Announce(ev.TechnicianRefused())]
    effects = leave(core)
    core, ticket = core.fresh()
    at = tick.now + core.tuning.pin_timeout_s
    core = core.with_mode(pins.PinCheck(ticket, "technician", at))
    return core, [*effects, SetTimer("mode", at, ticket)]


def enter(core: CoreState, ticket: int, tick: Tick) -> Step:
    at = tick.now + core.tuning.technician_timeout_s
    menu = Technician(ticket, "menu", at)
    return core.with_mode(menu), [Play(Pattern.TECHNICIAN), SetTimer("mode", at, ticket)]


def _with(core: CoreState, mode: Technician, effects: list[Effect], **changes: object) -> Step:
    return core.with_mode(dataclasses.replace(mode, **changes)), effects  # type: ignore[arg-type]


def on_intent(core: CoreState, mode: Technician, intent: Intent, tick: Tick) -> Step:
    """What a touch in the menu does; every touch also pushes the idle deadline back."""
    if isinstance(intent, CloseTechnician) or (isinstance(intent, Cancel) and mode.page == "menu"):
        return exits.home(core)
    if isinstance(intent, RePair):
        return pairing.start(core, repair=False)
    at = tick.now + core.tuning.technician_timeout_s
    mode = dataclasses.replace(mode, expires_at=at)
    effects: list[Effect] = [SetTimer("mode", at, mode.ticket)]
    if isinstance(intent, Cancel | ShowPage | TestFeedback | Restart):
        return _direct(core, mode, intent, effects)
    if mode.busy:
        return _with(core, mode, effects)
    return _work(core, mode, intent, effects)


def _work(core: CoreState, mode: Technician, intent: Intent, effects: list[Effect]) -> Step:
    """Intents that start work: save a setting or a PIN, search users, link a badge."""
    if isinstance(intent, SetPin) and not pins.well_formed(intent.pin, "technician"):
        return _with(core, mode, effects, message="pin_invalid")
    save = _save(mode.ticket, intent)
    if save is not None:
        return _with(core, mode, [*effects, save], busy=True)
    return _enrol_intent(core, mode, intent, effects)


def _direct(
    core: CoreState,
    mode: Technician,
    intent: Cancel | ShowPage | TestFeedback | Restart,
    effects: list[Effect],
) -> Step:
    """Intents that need no saving: move between pages, play a pattern, restart."""
    if isinstance(intent, TestFeedback):
        return _with(core, mode, [*effects, Play(intent.pattern)])
    if isinstance(intent, Restart):
        if not core.tuning.can_restart:
            return _with(core, mode, effects)
        return _with(core, mode, [*effects, RequestRestart()], message="restarting")
    page = intent.page if isinstance(intent, ShowPage) else "menu"
    if page == "network":
        effects.append(ReadNetwork(mode.ticket))
    if page == "directory":
        effects.append(ReadDirectory(mode.ticket))
    return _with(core, mode, effects, page=page, reader_test=None, enrol=TechEnrol(), message="")


def _save(ticket: int, intent: Intent) -> Effect | None:
    """The work that stores a setting or a PIN, for the intents that ask for one."""
    if isinstance(intent, SetReleaseMode):
        return SaveSetting(ticket, "release_mode", intent.mode)
    if isinstance(intent, SetLanguage):
        return SaveSetting(ticket, "language", intent.language)
    if isinstance(intent, SetSessionTimeout):
        return SaveSetting(ticket, "session_timeout_s", intent.seconds)
    if isinstance(intent, SetPin):
        return SavePin(ticket, "technician", intent.pin)
    if isinstance(intent, SwitchReleasePins):
        return m.SwitchReleasePins(ticket, intent.on)
    return None


def _enrol_intent(core: CoreState, mode: Technician, intent: Intent, effects: list[Effect]) -> Step:
    """Technician enrolment: search users for the tapped badge, then link the chosen one."""
    enrol = mode.enrol
    if isinstance(intent, SearchUsers) and enrol.badge_id and intent.query.strip():
        query = intent.query.strip()
        searching = dataclasses.replace(enrol, stage="searching", query=query, results=(), cause=None)
        return _with(core, mode, [*effects, FindUsers(mode.ticket, query)], enrol=searching)
    chosen = [u for u in enrol.results if isinstance(intent, ChooseUser) and u.id == intent.user_id]
    if chosen and enrol.stage == "search":
        listing = ListUserBadges(mode.ticket, enrol.badge_id, chosen[0].id)
        checking = dataclasses.replace(enrol, stage="checking", chosen=chosen[0])
        return _with(core, mode, [*effects, listing], enrol=checking)
    if isinstance(intent, ConfirmEnrolment) and enrol.stage == "confirm":
        return _confirm(core, mode, intent.replace, effects)
    return _with(core, mode, effects)


def _confirm(core: CoreState, mode: Technician, replace: int | None, effects: list[Effect]) -> Step:
    """Replace one of the user's badges, or add the new one while the user is below the limit."""
    enrol = mode.enrol
    if replace is None and len(enrol.user_badges) >= core.tuning.max_badges_per_user:
        return _with(core, mode, effects)  # the screen offers no "add" here; a stale press
    if replace is not None and not 0 <= replace < len(enrol.user_badges):
        return _with(core, mode, effects)
    unlink = "" if replace is None else enrol.user_badges[replace].badge_id
    return _save_enrolment(core, mode, effects, unlink)


def _save_enrolment(core: CoreState, mode: Technician, effects: list[Effect], unlink: str) -> Step:
    enrol = mode.enrol
    assert enrol.chosen is not None
    limit = core.tuning.max_badges_per_user
    save = SaveEnrolment(mode.ticket, enrol.badge_id, enrol.chosen, limit, unlink)
    saving = dataclasses.replace(enrol, stage="saving", outcome="replaced" if unlink else "added")
    return _with(core, mode, [*effects, save], enrol=saving)


def on_tap(core: CoreState, mode: Technician, tap: Tap, tick: Tick) -> Step:
    """A badge on the reader-test page is shown in full; on the enrol page it is the one to link."""
    if mode.page == "reader_test":
        result = ReaderTestResult(
            tap.reader_kind,
            tap.reader_name,
            raw=tap.raw,
            canonical=tap.canonical,
            transformed=tap.badge_id,
            random_uid=tap.random_uid,
            error=tap.error,
        )
        return _with(core, mode, [Play(Pattern.ERROR if tap.error else Pattern.READ)], reader_test=result)
    if mode.page == "enrol" and mode.enrol.stage not in _BUSY:
        if tap.error or tap.random_uid:
            cause = Cause(Reason.BAD_CARD, text=tap.error) if tap.error else Cause(Reason.RANDOM_UID)
            failed = TechEnrol(stage="failed", cause=cause)
            return _with(core, mode, [Play(Pattern.ERROR)], enrol=failed)
        enrol = TechEnrol(stage="search", badge_id=tap.badge_id)
        return _with(core, mode, [Play(Pattern.READ), TechCheckBadge(mode.ticket, tap.badge_id)], enrol=enrol)
    return core, []


def on_result(core: CoreState, mode: Technician, event: object, tick: Tick) -> Step:
    """Answers to the menu's work."""
    if isinstance(event, SettingSaved | PinSaved):
        return _saved(core, mode, event)
    if isinstance(event, NetworkRead):
        return _with(core, mode, [], hostname=event.hostname, addresses=event.addresses)
    if isinstance(event, DirectoryRead):
        return _with(core, mode, [], directory=event.facts)
    return _enrol_result(core, mode, event)


def _enrol_result(core: CoreState, mode: Technician, event: object) -> Step:
    enrol = mode.enrol
    if isinstance(event, TechBadgeChecked):
        return _with(core, mode, [], enrol=dataclasses.replace(enrol, existing_user=event.existing))
    if isinstance(event, UsersFound) and enrol.stage in ("searching", "sign_in"):  # not a stale search's
        found = dataclasses.replace(enrol, stage="search", results=event.users, sign_in=None)
        return _with(core, mode, [], enrol=found)
    if isinstance(event, SearchSignIn) and enrol.stage in ("searching", "sign_in"):
        code = event.code
        sign_in = dataclasses.replace(
            enrol, stage="sign_in", sign_in=SignInCode(code.code, code.auth_url, code.short_url)
        )
        return _with(core, mode, [Play(Pattern.NEEDS_PAIRING)], enrol=sign_in)
    if isinstance(event, TechEnrolled):
        saved = dataclasses.replace(mode.enrol, stage="saved")
        return _with(core, mode, [Play(Pattern.RELEASED)], enrol=saved)
    if isinstance(event, TechUserBadges) and mode.enrol.stage == "checking":
        return _user_badges(core, mode, event)
    return core, []


def _user_badges(core: CoreState, mode: Technician, event: TechUserBadges) -> Step:
    """No badge yet: link at once. Else show the user's badges and let the technician choose."""
    if not event.badges:
        return _save_enrolment(core, mode, [], "")
    limit = core.tuning.max_badges_per_user
    confirm = dataclasses.replace(mode.enrol, stage="confirm", user_badges=event.badges, max_badges=limit)
    return _with(core, mode, [], enrol=confirm)


def _saved(core: CoreState, mode: Technician, event: SettingSaved | PinSaved) -> Step:
    if isinstance(event, SettingSaved):
        core = dataclasses.replace(core, prefs=event.prefs)
        return _with(core, mode, [], busy=False, message="saved")
    core = dataclasses.replace(core, pins=event.pins)
    return _with(core, mode, [], busy=False, message="saved" if event.switched else "pin_set")


def on_failed(core: CoreState, mode: Technician, event: WorkFailed, tick: Tick) -> Step:
    """A menu action failed: say so on the page; an enrolment in progress shows ``failed``."""
    failure = event.failure
    if failure.kind == "rejected":
        return pairing.needs_repair(core)
    message = "offline" if failure.kind in ("offline", "server") else "failed"
    enrol = mode.enrol
    if enrol.stage in _BUSY:
        enrol = dataclasses.replace(enrol, stage="failed", cause=failure.cause, sign_in=None)
    effects: list[Effect] = [Play(Pattern.ERROR)]
    return _with(core, mode, effects, busy=False, message=message, enrol=enrol)


_BUSY = ("searching", "sign_in", "checking", "saving")
"""Enrolment stages waiting for work: a tap does not start over, a failure ends them."""

_ANSWERS = (
    SettingSaved,
    PinSaved,
    NetworkRead,
    DirectoryRead,
    TechBadgeChecked,
    UsersFound,
    SearchSignIn,
    TechEnrolled,
    TechUserBadges,
)

ROUTES: Routes = {
    Technician: {
        Tap: in_mode(Technician, on_tap),
        Deadline: close,
        WorkFailed: in_mode(Technician, on_failed),
        **every(_ANSWERS, in_mode(Technician, on_result)),
        **every(INTENT_TYPES, in_mode(Technician, on_intent)),
    },
}
"""The menu: every touch, the answers to its work, and its failures."""


# --- work --------------------------------------------------------------------------------------

MAX_SEARCH_RESULTS = 20


def _tech_check_badge(worker: Worker, work: m.TechCheckBadge, emit: Emit, cancel: threading.Event) -> None:
    entry = worker.directory.lookup(work.badge_id)
    existing = "" if entry is None else entry.email or entry.display_name or entry.user_id
    emit(m.TechBadgeChecked(work.ticket, existing))


def _find_users(worker: Worker, work: m.FindUsers, emit: Emit, cancel: threading.Event) -> None:
    try:
        found = worker.cloud.find_users(search=work.query)
    except UsersRefusedError:
        signed_in = _find_signed_in(worker, work, emit, cancel)
        if signed_in is None:
            return  # cancelled: the technician left the page
        found = signed_in
    users = tuple(UserChoice(user.id, user.email, user.display_name) for user in found[:MAX_SEARCH_RESULTS])
    emit(m.UsersFound(work.ticket, users))


def _find_signed_in(
    worker: Worker, work: m.FindUsers, emit: Emit, cancel: threading.Event
) -> list[UserInfo] | None:
    """ezeep lets only a signed-in administrator read its users: the technician signs in once (a
    user-mode pairing, as for self-enrolment), the search runs with that token, which is revoked
    at once; None when the technician left before signing in."""
    pair = worker.pair("user", lambda code: emit(m.SearchSignIn(work.ticket, code)), cancel)
    if pair is None:
        return None
    try:
        return worker.cloud.find_users(search=work.query, token=pair.access_token)
    finally:
        enrolment.revoke_user_token(worker, pair.refresh_token)


def _list_user_badges(worker: Worker, work: m.ListUserBadges, emit: Emit, cancel: threading.Event) -> None:
    badges = tuple(
        BadgeRef(entry.badge_id, mask_badge(entry.badge_id), entry.enrolled_at, entry.enrolled_by)
        for entry in worker.directory.badges_of(work.user_id)
        if entry.badge_id != work.badge_id
    )
    emit(m.TechUserBadges(work.ticket, badges))


def _store_enrolment(worker: Worker, work: m.SaveEnrolment, emit: Emit, cancel: threading.Event) -> None:
    user = work.user
    before = worker.directory.lookup(work.badge_id)
    worker.directory.enrol(
        work.badge_id,
        user.id,
        email=user.email,
        display_name=user.name,
        how="technician",
        replace=True,
        limit=work.limit,
        unlink=work.unlink,
    )
    previous_owner = before.user_id if before is not None and before.user_id != user.id else ""
    if previous_owner:  # the tapped badge was someone else's: it no longer is
        worker.note("badge_unlinked", badge_id=work.badge_id, user_id=previous_owner, outcome="moved")
    if work.unlink:
        worker.note("badge_unlinked", badge_id=work.unlink, user_id=user.id, outcome="replaced")
    outcome = "replaced" if work.unlink else "moved" if previous_owner else "added"
    worker.note("enrol_technician", badge_id=work.badge_id, user_id=user.id, outcome=outcome)
    emit(m.TechEnrolled(work.ticket))


def _save_setting(worker: Worker, work: m.SaveSetting, emit: Emit, cancel: threading.Event) -> None:
    worker.settings.set(work.name, work.value)
    worker.note("setting", outcome=work.name)
    emit(m.SettingSaved(work.ticket, worker.prefs()))


def _read_network(worker: Worker, work: m.ReadNetwork, emit: Emit, cancel: threading.Event) -> None:
    hostname, addresses = worker.network_info()
    emit(m.NetworkRead(work.ticket, hostname, addresses))


def _read_directory(worker: Worker, work: m.ReadDirectory, emit: Emit, cancel: threading.Event) -> None:
    emit(m.DirectoryRead(work.ticket, worker.directory_facts()))


WORK: WorkHandlers = {
    m.TechCheckBadge: _tech_check_badge,
    m.FindUsers: _find_users,
    m.ListUserBadges: _list_user_badges,
    m.SaveEnrolment: _store_enrolment,
    m.SaveSetting: _save_setting,
    m.ReadNetwork: _read_network,
    m.ReadDirectory: _read_directory,
}
