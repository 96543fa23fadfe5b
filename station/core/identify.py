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
from typing import TYPE_CHECKING

from station.core import enrolment, pins
from station.core import listener as ev
from station.core import messages as m
from station.core.messages import Announce, BadgeKnown, Lookup, Play, SetTimer, Tap
from station.core.state import CoreState, Identifying, Tick, User
from station.core.transition import Routes, Step, leave
from station.directory import public_name
from station.feedback import Pattern

if TYPE_CHECKING:
    from station.core.worker import Emit, Worker, WorkHandlers


def start(core: CoreState, tap: Tap, tick: Tick) -> Step:
    """Start with a new badge: acknowledge it now, look it up as work."""
    if tap.random_uid:
        return enrolment.refuse_random(core, tick)
    effects = leave(core)
    core, ticket = core.fresh()
    core = core.with_mode(Identifying(ticket, tap.badge_id))
    answer = SetTimer("answer", tick.now + core.tuning.answer_s, ticket)  # never "Identifying" for good
    read = Announce(ev.TapRead(tap.reader_kind, tap.reader_name))
    return core, [Play(Pattern.READ), read, *effects, Lookup(ticket, tap.badge_id), answer]


def on_known(core: CoreState, event: BadgeKnown, tick: Tick) -> Step:
    mode = core.mode
    assert isinstance(mode, Identifying)
    known = Announce(ev.BadgeKnown(mode.badge_id, event.user.id))
    core, effects = pins.gate(core, tick, mode.ticket, mode.badge_id, event.user, has_pin=event.has_pin)
    return core, [known, *effects]


ROUTES: Routes = {Identifying: {BadgeKnown: on_known}}
"""The lookup found the badge's owner (an unknown badge is :mod:`~station.core.enrolment`'s)."""


# --- work --------------------------------------------------------------------------------------


def _limiter_key(badge_id: str) -> str:
    # The limiter remembers keys for a while; keep numbers of strangers' cards out of memory.
    return hashlib.sha256(badge_id.encode()).hexdigest()


def _lookup(worker: Worker, work: m.Lookup, emit: Emit, cancel: threading.Event) -> None:
    entry = worker.directory.lookup(work.badge_id)
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
