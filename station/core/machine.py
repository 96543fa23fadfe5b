"""The state machine: ``step(core, event, tick) -> (core, effects)``, a pure function.

Results of work and intents are routed by :data:`ROUTES`: the tables the states register
(``ROUTES`` in :mod:`~station.core.pairing`, :mod:`~station.core.enrolment`,
:mod:`~station.core.session`, :mod:`~station.core.pins`, :mod:`~station.core.technician`),
looked up by the current mode's type, then by the event's type. This module keeps the rules that
hold in every mode: what a badge tap does, reader health, the long press, timers, the start-up
load and the health probe, stale results, and failed work no state answers (it fails the usual
way, :func:`station.core.exits.fail`).

A tap is acknowledged before anything slow happens: a usable read moves to ``Identifying`` and
asks for :attr:`Pattern.READ` in the same step; the directory lookup and every network call are
effects that the runtime runs elsewhere.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from station.causes import Cause, Failure, Reason
from station.core import enrolment, exits, health, identify, pairing, pins, recovery, session, technician
from station.core import listener as ev
from station.core.intents import Cancel, Intent, OpenTechnician
from station.core.intents import Done as DoneIntent
from station.core.messages import (
    Announce,
    Effect,
    JournalOpen,
    LoadStart,
    PinChecked,
    PinsRead,
    Play,
    ProbeDone,
    Reconciled,
    SetTimer,
    Tap,
    TimerFired,
    WorkFailed,
    WorkResult,
)
from station.core.messages import Loaded as LoadedEvent
from station.core.state import (
    Booting,
    CoreState,
    Done,
    Enrolling,
    Identifying,
    Idle,
    Pairing,
    Picking,
    PinCheck,
    PinSetup,
    Releasing,
    Technician,
    Tick,
    Unknown,
    Unpaired,
)
from station.core.transition import Step, every, merge
from station.events import ReaderHealth
from station.feedback import Pattern

Event = Tap | ReaderHealth | Intent | TimerFired | WorkResult
"""Everything the core's queue carries (``BadgeRead`` is turned into :class:`Tap` on the way)."""


def start(core: CoreState) -> Step:
    """The first step: find out whether the station is paired."""
    return core, [LoadStart(core.mode.ticket)]


def step(core: CoreState, event: Event, tick: Tick) -> tuple[CoreState, tuple[Effect, ...]]:
    """The next state and the effects to perform, for one event at ``tick``."""
    new, effects = _dispatch(core, event, tick)
    return new, tuple(effects)


def _dispatch(core: CoreState, event: Event, tick: Tick) -> Step:
    if isinstance(event, Tap | ReaderHealth):
        return _tap(core, event, tick) if isinstance(event, Tap) else health.on_reader(core, event)
    if isinstance(event, TimerFired):
        return _timer(core, event, tick)
    if isinstance(event, LoadedEvent | ProbeDone | Reconciled | JournalOpen | PinsRead):
        return _background(core, event, tick)
    if isinstance(event, WorkResult) and event.ticket != core.mode.ticket:
        return core, []  # stale: the mode that asked for it is gone
    if isinstance(event, OpenTechnician):
        return technician.open_menu(core, tick)
    return _route(core, event, tick)


def _background(
    core: CoreState, event: LoadedEvent | ProbeDone | Reconciled | JournalOpen | PinsRead, tick: Tick
) -> Step:
    """Results that belong to no mode: the start-up load, the health probe, the journal, PINs."""
    if isinstance(event, LoadedEvent):
        return _loaded(core, event, tick)
    if isinstance(event, PinsRead):
        return pins.on_read(core, event)
    if isinstance(event, Reconciled | JournalOpen):
        return _journal(core, event), []
    if event.failure is not None and event.failure.kind == "rejected" and core.paired:
        return pairing.needs_repair(core)
    core, effects = health.on_probe(core, event, tick)
    if event.printer is None:
        return core, effects
    core, more = recovery.start_if_due(core)  # the token works: settle what a crash left open
    return core, [*effects, *more]


def _journal(core: CoreState, event: Reconciled | JournalOpen) -> CoreState:
    if isinstance(event, Reconciled):
        return recovery.on_reconciled(core, event)
    return recovery.journal_open(core)


def _loaded(core: CoreState, event: LoadedEvent, tick: Tick) -> Step:
    if not isinstance(core.mode, Booting):
        return core, []
    core = dataclasses.replace(
        core,
        paired=event.paired,
        paired_before=event.paired or event.paired_before,
        binding=event.binding,
        prefs=event.prefs,
        pins=event.pins,
    )
    look = SetTimer("pins", tick.now + core.tuning.pin_poll_s, 0)  # PINs set from the command line
    started = Announce(ev.Started(event.paired))
    if not event.paired:
        core, effects = pairing.start(core, repair=core.paired_before)
        return core, [started, *effects, look]
    core = core.with_mode(Idle())
    core, effects = health.schedule_probe(core, tick.now)
    return core, [started, Play(Pattern.READY), *effects, look]


# --- taps --------------------------------------------------------------------------------------


def _tap(core: CoreState, tap: Tap, tick: Tick) -> Step:
    mode = core.mode
    if isinstance(mode, Technician):
        return technician.on_tap(core, mode, tap)
    setting_up = isinstance(mode, PinSetup) and mode.purpose == "technician"
    if tap.error or isinstance(mode, Unpaired | Pairing) or setting_up:
        refused: list[Effect] = [Play(Pattern.ERROR), Announce(ev.TapRefused("unreadable"))]
        return core, refused if tap.error else [Play(Pattern.NEEDS_PAIRING)]
    if isinstance(mode, Enrolling) and mode.stage == "confirm":
        return enrolment.on_confirm_tap(core, mode, tap, tick)
    same = bool(getattr(mode, "badge_id", "")) and getattr(mode, "badge_id", "") == tap.badge_id
    if isinstance(mode, Picking | Done) and same:
        return exits.home(core)  # the second tap of the same badge logs out
    busy = isinstance(mode, Identifying | PinCheck | PinSetup | Enrolling | Releasing) and same
    if busy or isinstance(mode, Booting) or (isinstance(mode, PinCheck) and mode.purpose == "technician"):
        return core, []  # still working on this badge, or no place for a badge
    return identify.start(core, tap, tick)


# --- timers ------------------------------------------------------------------------------------


def _timer(core: CoreState, event: TimerFired, tick: Tick) -> Step:
    if event.key == "probe":
        return health.probe_due(core, event.ticket)
    if event.key == "pins":
        return pins.poll(core, tick)
    if event.ticket != core.mode.ticket:
        return core, []
    if event.key == "retry_pairing":
        return pairing.retry_now(core)
    if event.key == "answer":
        return _no_answer(core, tick)
    return _deadline(core, tick)


def _deadline(core: CoreState, tick: Tick) -> Step:
    """The mode's own deadline passed: an idle session, a summary, a notice, a keypad, the menu."""
    mode = core.mode
    if isinstance(mode, Enrolling):
        return enrolment.abandon(core, tick, "timed_out")
    if isinstance(mode, Picking | Done | Unknown | PinCheck | PinSetup | Technician):
        return exits.home(core)
    return core, []


def _no_answer(core: CoreState, tick: Tick) -> Step:
    """A tap's lookup or first network answer did not come in time (work stuck behind a slow
    ezeep, the request's own timeout, the refresh of a token): say "offline" now and go home;
    the late answer is dropped as stale."""
    mode = core.mode
    waiting = (
        isinstance(mode, Identifying)
        or (isinstance(mode, Picking) and mode.busy == "loading")
        or (isinstance(mode, Enrolling) and mode.stage == "starting")
    )
    if not waiting:
        return core, []
    return exits.fail(
        core, Failure("offline", Cause(Reason.NO_ANSWER)), tick, badge_id=getattr(mode, "badge_id", "")
    )


# --- results of work ---------------------------------------------------------------------------


def _pin_checked(core: CoreState, event: PinChecked, tick: Tick) -> Step:
    """The keypad's answer: the menu or the session, else say why not."""
    mode = core.mode
    assert isinstance(mode, PinCheck)
    if event.ok:
        if mode.purpose == "technician":
            return technician.enter(core, mode.ticket, tick)
        assert mode.user is not None
        return session.begin(core, tick, mode.ticket, mode.badge_id, mode.user)
    error: Literal["blocked", "locked", "wrong"] = (
        "blocked" if event.blocked else "locked" if event.locked_until is not None else "wrong"
    )
    wrong = dataclasses.replace(mode, checking=False, error=error, locked_until=event.locked_until)
    return core.with_mode(wrong), [Play(Pattern.ERROR)]


def _home(core: CoreState, intent: Cancel | DoneIntent, tick: Tick) -> Step:
    return exits.home(core)


def _home_if_paired(core: CoreState, intent: Cancel | DoneIntent, tick: Tick) -> Step:
    """A technician's re-pairing may be cancelled: the old pairing stays."""
    return exits.home(core) if core.paired else (core, [])


_LEAVE = (Cancel, DoneIntent)

ROUTES = merge(
    identify.ROUTES,
    pairing.ROUTES,
    enrolment.ROUTES,
    session.ROUTES,
    pins.ROUTES,
    technician.ROUTES,
    {
        PinCheck: {PinChecked: _pin_checked},  # the right PIN opens the menu or the session
        Unknown: every(_LEAVE, _home),
        Unpaired: every(_LEAVE, _home_if_paired),
        Pairing: every(_LEAVE, _home_if_paired),
    },
)
"""Every state's transitions: by the current mode's type, then by the event's type."""


def _route(core: CoreState, event: WorkResult | Intent, tick: Tick) -> Step:
    """The current mode's transition for ``event``; failed work with none fails the usual way."""
    handler = ROUTES.get(type(core.mode), {}).get(type(event))
    if handler is not None:
        return handler(core, event, tick)
    if isinstance(event, WorkFailed):
        return exits.fail(core, event.failure, tick, badge_id=getattr(core.mode, "badge_id", ""))
    return core, []
