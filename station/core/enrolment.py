"""Unknown badges: refuse random-UID cards, rate-limit, or enrol by phone sign-in.

Self-enrolment is one piece of work (``SelfEnrol``): pair in ``user`` mode, show the code and a
QR code, wait for the user to sign in on a phone, read ``/v1/users/me``, link the badge to that
user, revoke the user's token at once. The station then carries on as if the badge had been
known: it loads the user's jobs. Cancel and timeout stop the work; the worker makes sure they
leave no link and no token behind; the audit log notes that the enrolment was given up.
Which unknown taps get an offer at all is decided by the rate limiter, during the lookup.
"""

from __future__ import annotations

import dataclasses

from station.core import flow, pins
from station.core.messages import (
    Audit,
    BadgeUnknown,
    EnrolCode,
    Enrolled,
    EnrolSignedIn,
    Failure,
    Play,
    SelfEnrol,
    SetTimer,
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
    waiting = dataclasses.replace(mode, stage="waiting", code=code.code, auth_url=code.auth_url)
    return core.with_mode(waiting), []


def on_signed_in(core: Core, event: EnrolSignedIn) -> Step:
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    return core.with_mode(dataclasses.replace(mode, stage="saving", user_name=event.name)), []


def on_enrolled(core: Core, event: Enrolled, tick: Tick) -> Step:
    """Linked: carry on with the release (with release PINs on, they choose theirs first)."""
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    if core.last_unknown == mode.badge_id:
        core = dataclasses.replace(core, last_unknown="")  # known now
    return pins.gate(core, tick, mode.ticket, mode.badge_id, event.user, has_pin=False)


def abandon(core: Core, outcome: str) -> Step:
    """Stop a self-enrolment (cancel, timeout): the work is cancelled and leaves nothing behind."""
    mode = core.mode
    badge_id = mode.badge_id if isinstance(mode, Enrolling) else None
    core, effects = flow.home(core)
    return core, [*effects, Audit("enrol", badge_id=badge_id, outcome=outcome)]


def on_failed(core: Core, failure: Failure, tick: Tick) -> Step:
    mode = core.mode
    if not isinstance(mode, Enrolling):
        return core, []
    if failure.kind in ("offline", "server", "rejected"):
        return flow.fail(core, failure, tick)
    core, effects = _notice(core, tick, "enrolment_failed", mode.badge_id, failure.cause)
    audit = Audit("enrol", badge_id=mode.badge_id, outcome=f"failed: {failure.kind}")
    return core, [Play(Pattern.ERROR), *effects, audit]
