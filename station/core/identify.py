"""Identifying a tapped badge: acknowledge the tap at once, look the badge up as work.

A usable read moves to ``Identifying`` and asks for :attr:`Pattern.READ` in the same step; the
directory lookup (``Lookup``) runs on the local-work thread. A known badge goes on through the
release-PIN gate (:func:`station.core.pins.gate`); an unknown one to
:mod:`~station.core.enrolment`, which also refuses random-UID cards. Unknown badges go through
the rate limiter during the lookup, keyed by a hash: strangers' card numbers are not kept.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from station.causes import Cause, Failure, Reason
from station.core import listener as ev
from station.core import messages as m
from station.core.messages import Announce, BadgeKnown, Lookup, NoAnswer, Play, ReadPins, SetTimer, Tap
from station.core.state import Booting, CoreState, Tick, User
from station.core.transition import Routes, Step, leave
from station.directory import public_name
from station.feedback import Pattern

if TYPE_CHECKING:
    from station.core.worker import Emit, Worker, WorkHandlers


@dataclass(frozen=True, slots=True)
class Identifying:
    """A badge was read; looking it up (and, once known, loading jobs in "all" mode)."""

    ticket: int
    badge_id: str = field(repr=False)
    user: User | None = None


def start(core: CoreState, tap: Tap, tick: Tick) -> Step:
    """Start with a new badge: acknowledge it now, look it up as work."""
    if tap.random_uid:
        from station.core.enrolment import refuse_random  # see the note after ROUTES

        return refuse_random(core, tick)
    effects = leave(core)
    core, ticket = core.fresh()
    core = core.with_mode(Identifying(ticket, tap.badge_id))
    answer = SetTimer("answer", tick.now + core.tuning.answer_s, ticket)  # never "Identifying" for good
    read = Announce(ev.TapRead(tap.reader_kind, tap.reader_name))
    # The PINs first: both run on the core's one local thread, in order, so the release-PIN gate
    # sees a switch set from the command line since the last (slow, idle) look.
    return core, [Play(Pattern.READ), read, *effects, ReadPins(), Lookup(ticket, tap.badge_id), answer]


def on_known(core: CoreState, event: BadgeKnown, tick: Tick) -> Step:
    mode = core.mode
    assert isinstance(mode, Identifying)
    known = Announce(ev.BadgeKnown(mode.badge_id, event.user.id))
    from station.core.pins import gate  # see the note after ROUTES

    core, effects = gate(core, tick, mode.ticket, mode.badge_id, event.user, has_pin=event.has_pin)
    return core, [known, *effects]


def refuse(core: CoreState) -> Step:
    """An unreadable tap: say so, change nothing."""
    return core, [Play(Pattern.ERROR), Announce(ev.TapRefused("unreadable"))]


def on_tap(core: CoreState, tap: Tap, tick: Tick) -> Step:
    """A tap where the mode has nothing to say about it: look the badge up (the default)."""
    return refuse(core) if tap.error else start(core, tap, tick)


def unless_same(core: CoreState, tap: Tap, tick: Tick) -> Step:
    """A tap while a badge is being worked on: the same badge again is ignored, another starts over."""
    badge_id = getattr(core.mode, "badge_id", "")
    if not tap.error and badge_id and tap.badge_id == badge_id:
        return core, []
    return on_tap(core, tap, tick)


def ignore(core: CoreState, tap: Tap, tick: Tick) -> Step:
    """No place for a badge here (an unreadable one is still refused)."""
    return refuse(core) if tap.error else (core, [])


def no_answer(core: CoreState, tick: Tick) -> Step:
    """The first network answer did not come in time (work stuck behind a slow ezeep, the
    request's own timeout, the refresh of a token): say "offline" now and go home; the late
    answer is dropped as stale."""
    failure = Failure("offline", Cause(Reason.NO_ANSWER))
    from station.core.exits import fail  # see the note after ROUTES

    return fail(core, failure, tick, badge_id=getattr(core.mode, "badge_id", ""))


def _no_answer(core: CoreState, event: NoAnswer, tick: Tick) -> Step:
    return no_answer(core, tick)


ROUTES: Routes = {
    Booting: {Tap: ignore},
    Identifying: {BadgeKnown: on_known, Tap: unless_same, NoAnswer: _no_answer},
}
# The other states' tables name this module's mode and tap rules when they are built, so this
# module imports no other state module until it runs: it is always complete when they need it.
"""The lookup found the badge's owner (an unknown badge is :mod:`~station.core.enrolment`'s)."""


# --- work --------------------------------------------------------------------------------------


def _limiter_key(badge_id: str) -> str:
    # The limiter remembers keys for a while; keep numbers of strangers' cards out of memory.
    return hashlib.sha256(badge_id.encode()).hexdigest()


def _lookup(worker: Worker, work: m.Lookup, emit: Emit, cancel: threading.Event) -> None:
    entry = worker.directory.lookup(work.badge_id)
    if entry is None and worker.directory.not_ezeep_user(work.badge_id):
        emit(m.BadgeUnknown(work.ticket, allowed=True, not_ezeep_user=True))  # nothing to offer or limit
        worker.note("tap", badge_id=work.badge_id, outcome="not_ezeep_user")
        return
    if entry is None:
        allowed = worker.limiter.allow(_limiter_key(work.badge_id))
        emit(m.BadgeUnknown(work.ticket, allowed))
        worker.note("tap", badge_id=work.badge_id, outcome="unknown" if allowed else "rate_limited")
        return
    user = User(entry.user_id, public_name(entry.display_name, entry.email, entry.user_id))
    has_pin = worker.pins.badge_pin_set(work.badge_id)
    emit(m.BadgeKnown(work.ticket, user, has_pin))  # the release starts; the writes are not on its way
    worker.directory.touch(work.badge_id)
    worker.note("tap", badge_id=work.badge_id, user_id=entry.user_id, outcome="known")


WORK: WorkHandlers = {
    m.Lookup: _lookup,
}
