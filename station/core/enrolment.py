"""Unknown badges: refuse random-UID cards, rate-limit, or enrol by phone sign-in.

Self-enrolment (when ``Tuning.self_enrolment`` is on) starts with one piece of work
(``SelfEnrol``): pair in ``user`` mode, show the code and a QR code, wait for the user to sign in
on a phone, read ``/v1/users/me``, revoke the user's token at once, count the user's badges.
Nothing is linked yet: a phished sign-in (someone else's account behind the code) must not link
a stranger's badge. The kiosk shows who signed in (name, or a masked address) and asks for the
SAME badge to be tapped again within ``confirm_tap_s``; only that tap starts ``LinkBadge``, which
links it unless the user already has ``max_badges_per_user``. The station then carries on as if
the badge had been known: it loads the user's jobs. Another badge, the deadline or Cancel link
nothing and say so; every outcome goes to the audit log (``enrol_self_*``). Which unknown taps
get an offer at all is decided by the rate limiter, during the lookup.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from station.cloud.errors import CloudError
from station.core import messages as m
from station.core.state import SignedIn, User
from station.directory import BadgeLimitError, public_name

if TYPE_CHECKING:
    from station.core.worker import Emit, Worker, WorkHandlers

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from station.causes import Cause, Failure
from station.core import exits, identify, pins
from station.core import listener as ev
from station.core.intents import Cancel
from station.core.intents import Done as DoneIntent
from station.core.messages import (
    Announce,
    BadgeUnknown,
    Deadline,
    EnrolCode,
    Enrolled,
    EnrolRefused,
    EnrolSignedIn,
    LinkBadge,
    NoAnswer,
    Play,
    SelfEnrol,
    SetTimer,
    Tap,
    WorkFailed,
)
from station.core.state import CoreState, Tick
from station.core.transition import Routes, Step, close, in_mode, leave
from station.core.view import EnrolStage, UnknownReason
from station.feedback import Pattern

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A badge the station cannot use, and no self-enrolment on offer: explain, "ask your administrator".

    ``random_uid``: the card shows a new number each time (phones, some bank cards) and cannot be
    enrolled; ``rate_limited``: too many unknown taps, try again later; ``not_enrolled``:
    self-enrolment is switched off; ``enrolment_failed``: self-enrolment did not complete
    (``cause`` says why); ``too_many_badges``: the person who signed in has as many badges as
    allowed; ``not_confirmed``: the badge was not tapped again in time (or Cancel); ``other_badge``:
    another badge was tapped to confirm. In those four nothing was linked. ``not_ezeep_user``: the
    organisation's directory gives the badge to a person who has no ezeep account (their e-mail
    address is not an ezeep user's). Closes by itself at ``expires_at``.
    """

    ticket: int
    reason: UnknownReason
    expires_at: float
    badge_id: str = field(default="", repr=False)
    cause: Cause | None = None


@dataclass(frozen=True, slots=True)
class Enrolling:
    """Self-enrolment: sign in on a phone to link this badge to your ezeep account.

    :param stage: ``starting`` (fetching a code), ``waiting`` (show ``code``, ``short_url`` and a
        QR code of ``auth_url``), ``confirm`` (signed in: tap the same badge again before
        ``expires_at`` to link it), ``saving`` (linking the badge).
    :param expires_at: monotonic deadline; the enrolment is cancelled then (or on ``Cancel``) and
        leaves nothing behind.
    """

    ticket: int
    badge_id: str = field(repr=False)
    stage: EnrolStage
    expires_at: float
    code: str = ""
    auth_url: str = ""
    signed_in: SignedIn | None = None
    short_url: str = ""

    @property
    def user_name(self) -> str:
        """Who signed in, fit for a public screen: the display name, else a masked e-mail
        address (``k•••@example.com``), else ``""``."""
        return self.signed_in.shown if self.signed_in else ""


def _notice(
    core: CoreState, tick: Tick, reason: UnknownReason, badge_id: str, cause: Cause | None = None
) -> Step:
    effects = leave(core)
    core, ticket = core.fresh()
    at = tick.now + core.tuning.notice_s
    mode = Unknown(ticket, reason, at, badge_id=badge_id, cause=cause)
    return core.with_mode(mode), [*effects, SetTimer("mode", at, ticket)]


def refuse_random(core: CoreState, tick: Tick) -> Step:
    """A random-UID card (new number each time): it can never be enrolled; say so."""
    core, effects = _notice(core, tick, "random_uid", "")
    return core, [Play(Pattern.UNKNOWN_CARD), *effects, Announce(ev.TapRefused("random_uid"))]


def on_unknown(core: CoreState, event: BadgeUnknown, tick: Tick) -> Step:
    """The directory does not know the badge: offer self-enrolment unless limited or switched off,
    or the directory source gives it to someone ezeep does not know (no offer: the source decides)."""
    mode = core.mode
    if not isinstance(mode, identify.Identifying):
        return core, []
    core = dataclasses.replace(core, last_unknown=mode.badge_id)
    if event.not_ezeep_user:
        core, effects = _notice(core, tick, "not_ezeep_user", mode.badge_id)
        effects.append(Announce(ev.BadgeUnknown(mode.badge_id, offered=False)))
    elif not event.allowed:
        core, effects = _notice(core, tick, "rate_limited", mode.badge_id)
        effects.append(Announce(ev.TapRefused("rate_limited", mode.badge_id)))
    elif not core.tuning.self_enrolment:
        core, effects = _notice(core, tick, "not_enrolled", mode.badge_id)
        effects.append(Announce(ev.BadgeUnknown(mode.badge_id, offered=False)))
    else:
        at = tick.now + core.tuning.enrol_timeout_s
        enrolling = Enrolling(mode.ticket, mode.badge_id, "starting", at)
        core = core.with_mode(enrolling)
        effects = [
            SelfEnrol(mode.ticket, mode.badge_id),
            SetTimer("mode", at, mode.ticket),
            SetTimer("answer", tick.now + core.tuning.answer_s, mode.ticket),
            Announce(ev.BadgeUnknown(mode.badge_id, offered=True)),
        ]
    return core, [Play(Pattern.UNKNOWN_CARD), *effects]


def on_code(core: CoreState, event: EnrolCode, tick: Tick) -> Step:
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    code = event.code
    waiting = dataclasses.replace(
        mode, stage="waiting", code=code.code, auth_url=code.auth_url, short_url=code.short_url
    )
    return core.with_mode(waiting), []


def on_signed_in(core: CoreState, event: EnrolSignedIn, tick: Tick) -> Step:
    """Signed in: refuse a user at the badge limit, else ask for the same badge again."""
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    if event.badges >= core.tuning.max_badges_per_user:
        return _refuse(core, tick, "too_many_badges", event.user.id)
    at = tick.now + core.tuning.confirm_tap_s
    confirm = dataclasses.replace(mode, stage="confirm", signed_in=event.user, expires_at=at)
    return core.with_mode(confirm), [Play(Pattern.READ), SetTimer("mode", at, mode.ticket)]


def on_confirm_tap(core: CoreState, mode: Enrolling, tap: Tap, tick: Tick) -> Step:
    """The tap that confirms: the same badge links it, any other card links nothing."""
    assert mode.signed_in is not None
    if tap.badge_id != mode.badge_id or tap.random_uid:
        return _refuse(core, tick, "other_badge", mode.signed_in.id)
    at = tick.now + core.tuning.notice_s
    saving = dataclasses.replace(mode, stage="saving", expires_at=at)
    link = LinkBadge(mode.ticket, mode.badge_id, mode.signed_in, core.tuning.max_badges_per_user)
    return core.with_mode(saving), [Play(Pattern.READ), link, SetTimer("mode", at, mode.ticket)]


def on_refused(core: CoreState, event: EnrolRefused, tick: Tick) -> Step:
    """The link would exceed the badge limit (another badge was linked meanwhile)."""
    mode = core.mode
    if not isinstance(mode, Enrolling) or mode.signed_in is None:
        return core, []
    return _refuse(core, tick, "too_many_badges", mode.signed_in.id)


def _refuse(core: CoreState, tick: Tick, reason: ev.EnrolRefusedBecause, user_id: str) -> Step:
    mode = core.mode
    assert isinstance(mode, Enrolling)
    core, effects = _notice(core, tick, reason, mode.badge_id)
    refused = Announce(ev.EnrolmentRefused(reason, mode.badge_id, user_id))
    return core, [Play(Pattern.ERROR), *effects, refused]


def on_enrolled(core: CoreState, event: Enrolled, tick: Tick) -> Step:
    """Linked: carry on with the release (with release PINs on, they choose theirs first)."""
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    if core.last_unknown == mode.badge_id:
        core = dataclasses.replace(core, last_unknown="")  # known now
    return pins.gate(core, tick, mode.ticket, mode.badge_id, event.user, has_pin=False)


def abandon(core: CoreState, tick: Tick, outcome: Literal["cancelled", "timed_out"]) -> Step:
    """Stop a self-enrolment (cancel, timeout): the work is cancelled and leaves nothing behind.

    Once someone has signed in, the screen says the badge was not linked; before, it just closes.
    """
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    signed_in = mode.signed_in
    stage: Literal["sign_in", "confirm"] = "sign_in" if signed_in is None else "confirm"
    user_id = None if signed_in is None else signed_in.id
    abandoned = Announce(ev.EnrolmentAbandoned(outcome, stage, mode.badge_id, user_id))
    if signed_in is None:
        core, effects = exits.home(core)
    else:
        core, effects = _notice(core, tick, "not_confirmed", mode.badge_id)
    return core, [*effects, abandoned]


def on_failed(core: CoreState, failure: Failure, tick: Tick) -> Step:
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    if failure.kind in ("offline", "server", "rejected"):
        return exits.fail(core, failure, tick)
    core, effects = _notice(core, tick, "enrolment_failed", mode.badge_id, failure.cause)
    user_id = None if mode.signed_in is None else mode.signed_in.id
    failed = Announce(ev.EnrolmentFailed(failure.kind, mode.badge_id, user_id))
    return core, [Play(Pattern.ERROR), *effects, failed]


def _failed(core: CoreState, event: WorkFailed, tick: Tick) -> Step:
    return on_failed(core, event.failure, tick)


def _cancel(core: CoreState, intent: Cancel | DoneIntent, tick: Tick) -> Step:
    return abandon(core, tick, "cancelled")


def _tap(core: CoreState, mode: Enrolling, tap: Tap, tick: Tick) -> Step:
    if mode.stage == "confirm" and not tap.error:
        return on_confirm_tap(core, mode, tap, tick)
    return identify.unless_same(core, tap, tick)


def _timed_out(core: CoreState, event: Deadline, tick: Tick) -> Step:
    return abandon(core, tick, "timed_out")


def _no_answer(core: CoreState, mode: Enrolling, event: NoAnswer, tick: Tick) -> Step:
    return identify.no_answer(core, tick) if mode.stage == "starting" else (core, [])


ROUTES: Routes = {
    identify.Identifying: {BadgeUnknown: on_unknown},
    Unknown: {Deadline: close, Cancel: close, DoneIntent: close},
    Enrolling: {
        Tap: in_mode(Enrolling, _tap),
        Deadline: _timed_out,
        NoAnswer: in_mode(Enrolling, _no_answer),
        EnrolCode: on_code,
        EnrolSignedIn: on_signed_in,
        EnrolRefused: on_refused,
        Enrolled: on_enrolled,
        WorkFailed: _failed,
        Cancel: _cancel,
        DoneIntent: _cancel,
    },
}
"""An unknown badge found, then self-enrolment's answers, its failure and its cancel."""


# --- work --------------------------------------------------------------------------------------


def _link(worker: Worker, badge_id: str, user: SignedIn, limit: int, cancel: threading.Event) -> bool:
    """Store badge → user unless cancelled; a cancel that comes during the write undoes it."""
    if cancel.is_set():
        return False
    worker.directory.enrol(
        badge_id, user.id, email=user.email, display_name=user.display_name, how="self", limit=limit
    )
    if cancel.is_set():
        worker.directory.remove(badge_id)
        return False
    return True


def revoke_user_token(worker: Worker, refresh_token: str) -> None:
    """Revoke a signed-in person's refresh token (the station never keeps one); a failure is logged."""
    try:
        worker.cloud.revoke(refresh_token)
    except CloudError as exc:
        # Nothing more the station can do; the token is not kept anywhere.
        log.warning("could not revoke a signed-in user's token: %s", type(exc).__name__)


def _self_enrol(worker: Worker, work: m.SelfEnrol, emit: Emit, cancel: threading.Event) -> None:
    pair = worker.pair("user", lambda code: emit(m.EnrolCode(work.ticket, code)), cancel)
    if pair is None:
        return
    try:
        user = worker.cloud.me(pair.access_token)
    finally:
        revoke_user_token(worker, pair.refresh_token)  # the station never keeps a user's token
    shown = public_name(user.display_name, user.email, user.id)
    signed_in = SignedIn(user.id, user.email, user.display_name, shown)
    emit(m.EnrolSignedIn(work.ticket, signed_in, len(worker.directory.badges_of(user.id))))


def _link_badge(worker: Worker, work: m.LinkBadge, emit: Emit, cancel: threading.Event) -> None:
    user = work.user
    try:
        linked = _link(worker, work.badge_id, user, work.limit, cancel)
    except BadgeLimitError:
        emit(m.EnrolRefused(work.ticket))
        return
    if linked:
        worker.note("enrol_self_confirmed", badge_id=work.badge_id, user_id=user.id, outcome="self")
        emit(m.Enrolled(work.ticket, User(user.id, user.shown)))


WORK: WorkHandlers = {
    m.SelfEnrol: _self_enrol,
    m.LinkBadge: _link_badge,
}
