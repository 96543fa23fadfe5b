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

import dataclasses

from station.core import flow, pins
from station.core.messages import (
    Audit,
    BadgeUnknown,
    EnrolCode,
    Enrolled,
    EnrolRefused,
    EnrolSignedIn,
    Failure,
    LinkBadge,
    Play,
    SelfEnrol,
    SetTimer,
    Tap,
)
from station.core.state import Core, Enrolling, Identifying, Tick, Unknown
from station.core.steps import Step, leave
from station.core.view import UnknownReason
from station.feedback import Pattern
from station.release import Cause


def _notice(core: Core, tick: Tick, reason: UnknownReason, badge_id: str, cause: Cause | None = None) -> Step:
    effects = leave(core)
    core, ticket = core.fresh()
    at = tick.now + core.tuning.notice_s
    mode = Unknown(ticket, reason, at, badge_id=badge_id, cause=cause)
    return core.with_mode(mode), [*effects, SetTimer("mode", at, ticket)]


def refuse_random(core: Core, tick: Tick) -> Step:
    """A random-UID card (new number each time): it can never be enrolled; say so."""
    core, effects = _notice(core, tick, "random_uid", "")
    return core, [Play(Pattern.UNKNOWN_CARD), *effects, Audit("random_uid", outcome="refused")]


def on_unknown(core: Core, event: BadgeUnknown, tick: Tick) -> Step:
    """The directory does not know the badge: offer self-enrolment unless limited or switched off."""
    mode = core.mode
    if not isinstance(mode, Identifying):
        return core, []
    core = dataclasses.replace(core, last_unknown=mode.badge_id)
    if not event.allowed:
        core, effects = _notice(core, tick, "rate_limited", mode.badge_id)
    elif not core.tuning.self_enrolment:
        core, effects = _notice(core, tick, "not_enrolled", mode.badge_id)
    else:
        at = tick.now + core.tuning.enrol_timeout_s
        enrolling = Enrolling(mode.ticket, mode.badge_id, "starting", at)
        core = core.with_mode(enrolling)
        effects = [
            SelfEnrol(mode.ticket, mode.badge_id),
            SetTimer("mode", at, mode.ticket),
            SetTimer("answer", tick.now + core.tuning.answer_s, mode.ticket),
        ]
    return core, [Play(Pattern.UNKNOWN_CARD), *effects]


def on_code(core: Core, event: EnrolCode) -> Step:
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    code = event.code
    waiting = dataclasses.replace(
        mode, stage="waiting", code=code.code, auth_url=code.auth_url, short_url=code.short_url
    )
    return core.with_mode(waiting), []


def on_signed_in(core: Core, event: EnrolSignedIn, tick: Tick) -> Step:
    """Signed in: refuse a user at the badge limit, else ask for the same badge again."""
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    if event.badges >= core.tuning.max_badges_per_user:
        return _refuse(core, tick, "too_many_badges", event.user.id)
    at = tick.now + core.tuning.confirm_tap_s
    confirm = dataclasses.replace(mode, stage="confirm", signed_in=event.user, expires_at=at)
    return core.with_mode(confirm), [Play(Pattern.READ), SetTimer("mode", at, mode.ticket)]


def on_confirm_tap(core: Core, mode: Enrolling, tap: Tap, tick: Tick) -> Step:
    """The tap that confirms: the same badge links it, any other card links nothing."""
    assert mode.signed_in is not None
    if tap.badge_id != mode.badge_id or tap.random_uid:
        return _refuse(core, tick, "other_badge", mode.signed_in.id)
    at = tick.now + core.tuning.notice_s
    saving = dataclasses.replace(mode, stage="saving", expires_at=at)
    link = LinkBadge(mode.ticket, mode.badge_id, mode.signed_in, core.tuning.max_badges_per_user)
    return core.with_mode(saving), [Play(Pattern.READ), link, SetTimer("mode", at, mode.ticket)]


def on_refused(core: Core, event: EnrolRefused, tick: Tick) -> Step:
    """The link would exceed the badge limit (another badge was linked meanwhile)."""
    mode = core.mode
    if not isinstance(mode, Enrolling) or mode.signed_in is None:
        return core, []
    return _refuse(core, tick, "too_many_badges", mode.signed_in.id)


def _refuse(core: Core, tick: Tick, reason: UnknownReason, user_id: str) -> Step:
    mode = core.mode
    assert isinstance(mode, Enrolling)
    core, effects = _notice(core, tick, reason, mode.badge_id)
    audit = Audit("enrol_self_refused", badge_id=mode.badge_id, user_id=user_id, outcome=reason)
    return core, [Play(Pattern.ERROR), *effects, audit]


def on_enrolled(core: Core, event: Enrolled, tick: Tick) -> Step:
    """Linked: carry on with the release (with release PINs on, they choose theirs first)."""
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    if core.last_unknown == mode.badge_id:
        core = dataclasses.replace(core, last_unknown="")  # known now
    return pins.gate(core, tick, mode.ticket, mode.badge_id, event.user, has_pin=False)


def abandon(core: Core, tick: Tick, outcome: str) -> Step:
    """Stop a self-enrolment (cancel, timeout): the work is cancelled and leaves nothing behind.

    Once someone has signed in, the screen says the badge was not linked; before, it just closes.
    """
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    signed_in = mode.signed_in
    stage = "sign_in" if signed_in is None else "confirm"
    audit = Audit(
        f"enrol_self_{outcome}",
        badge_id=mode.badge_id,
        user_id=None if signed_in is None else signed_in.id,
        outcome=stage,
    )
    if signed_in is None:
        core, effects = flow.home(core)
    else:
        core, effects = _notice(core, tick, "not_confirmed", mode.badge_id)
    return core, [*effects, audit]


def on_failed(core: Core, failure: Failure, tick: Tick) -> Step:
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    if failure.kind in ("offline", "server", "rejected"):
        return flow.fail(core, failure, tick)
    core, effects = _notice(core, tick, "enrolment_failed", mode.badge_id, failure.cause)
    user_id = None if mode.signed_in is None else mode.signed_in.id
    audit = Audit("enrol_self_failed", badge_id=mode.badge_id, user_id=user_id, outcome=failure.kind)
    return core, [Play(Pattern.ERROR), *effects, audit]
