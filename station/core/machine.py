"""The state machine: ``step(core, event, tick) -> (core, effects)``, a pure function.

Taps, results of work, intents and the mode's own timers (:class:`~station.core.messages.Deadline`,
:class:`~station.core.messages.NoAnswer`) are routed by :data:`ROUTES`: the tables the states
register (``ROUTES`` in :mod:`~station.core.identify`, :mod:`~station.core.pairing`,
:mod:`~station.core.enrolment`, :mod:`~station.core.session`, :mod:`~station.core.pins`,
:mod:`~station.core.technician`), looked up by the current mode's type, then by the event's
type; which modes close on their deadline or ignore a tap is each state's registration. This
module keeps only the rules that hold in every mode: reader health, the long press, timers, the
start-up load and the health probe, stale results, a tap no mode answers (the badge is looked
up, :func:`station.core.identify.on_tap`) and failed work no state answers (it fails the usual
way, :func:`station.core.exits.fail`).

A tap is acknowledged before anything slow happens: a usable read moves to ``Identifying`` and
asks for :attr:`Pattern.READ` in the same step; the directory lookup and every network call are
effects that the runtime runs elsewhere.
"""

from __future__ import annotations

import dataclasses

from station.core import enrolment, exits, health, identify, pairing, pins, recovery, session, technician
from station.core import listener as ev
from station.core.health import Idle
from station.core.intents import Intent, OpenTechnician
from station.core.messages import (
    Announce,
    Deadline,
    Effect,
    JournalOpen,
    LoadStart,
    NoAnswer,
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
from station.core.state import Booting, CoreState, Tick
from station.core.transition import Step, merge
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
    if pins.waits_for_pin(new) and not pins.waits_for_pin(core):
        # The idle poll is slow; a screen that waits for a PIN set outside looks soon.
        effects = [*effects, SetTimer("pins", tick.now + new.tuning.pin_poll_s, 0)]
    return new, tuple(effects)


def _dispatch(core: CoreState, event: Event, tick: Tick) -> Step:
    if isinstance(event, ReaderHealth):
        return health.on_reader(core, event)
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
    due = NoAnswer(event.ticket) if event.key == "answer" else Deadline(event.ticket)
    return _route(core, due, tick)


# --- results of work ---------------------------------------------------------------------------


ROUTES = merge(
    identify.ROUTES,
    pairing.ROUTES,
    enrolment.ROUTES,
    session.ROUTES,
    pins.ROUTES,
    technician.ROUTES,
)
"""Every state's transitions: by the current mode's type, then by the event's type."""


def _route(core: CoreState, event: Tap | WorkResult | Intent | Deadline | NoAnswer, tick: Tick) -> Step:
    """The current mode's transition for ``event``. Where a mode has none: a tap looks the badge
    up, failed work fails the usual way, anything else changes nothing (a deadline or a late
    answer the mode does not wait for)."""
    handler = ROUTES.get(type(core.mode), {}).get(type(event))
    if handler is not None:
        return handler(core, event, tick)
    if isinstance(event, Tap):
        return identify.on_tap(core, event, tick)
    if isinstance(event, WorkFailed):
        return exits.fail(core, event.failure, tick, badge_id=getattr(core.mode, "badge_id", ""))
    return core, []
