"""Choosing PINs and the release-PIN gate; the stored PINs are read again every ``pin_poll_s``.

A station without a technician PIN asks for one before it shows a pairing code
(:func:`station.core.pairing.start` sends it to :class:`~station.core.state.PinSetup`): chosen
twice, saved as work, then pairing starts. With per-person release PINs on, a known badge asks
for its holder's PIN (:class:`~station.core.state.PinCheck`), or, when the holder has none yet
(also right after enrolling), lets them choose one first.

The core keeps which PINs are in force in ``CoreState.pins``; a timer reads them from the database
again (``ReadPins``), so that ``release-station pin set``/``clear`` takes effect at once where a
screen waits for it (:func:`waits_for_pin`, every ``pin_poll_s``): a station waiting for a
technician PIN goes on to pairing, one showing a pairing code whose PIN was cleared asks for a
new one. Elsewhere the timer looks only every ``pin_idle_poll_s`` (an idle station must sleep),
and a tap reads the PINs itself before its badge is looked up (:mod:`~station.core.identify`),
so the release-PIN gate never decides on an old switch.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from station.core import messages as m

if TYPE_CHECKING:
    from station.core.health import IdleFace
    from station.core.state import Mode
    from station.core.worker import Emit, Worker, WorkHandlers

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from station.core import exits, identify, pairing, session, technician
from station.core.intents import INTENT_TYPES, Cancel, EnterPin, Intent
from station.core.intents import Done as DoneIntent
from station.core.messages import (
    CheckPin,
    Deadline,
    Effect,
    PinChecked,
    PinSaved,
    PinsRead,
    Play,
    ReadPins,
    SavePin,
    SetTimer,
    Tap,
    WorkFailed,
)
from station.core.state import CoreState, Tick, User
from station.core.transition import Routes, Step, close, every, in_mode
from station.core.view import PinPurpose, PinSetupError, PinSetupStage
from station.feedback import Pattern
from station.pin import check_pin_format, pin_digits


@dataclass(frozen=True, slots=True)
class PinCheck:
    """A PIN keypad: the release second factor (``user`` known) or the technician menu.

    :param error: ``""``, ``wrong`` (the last PIN was wrong), ``locked`` (too many wrong PINs;
        no PIN is accepted before ``locked_until``) or ``blocked`` (locked until a technician
        unlocks it: ``release-station pin clear``/``pin reset`` or a first-boot file).
    :param checking: a PIN is being checked (draw the keypad disabled).
    :param expires_at: monotonic deadline after which the keypad closes by itself.
    """

    ticket: int
    purpose: PinPurpose
    expires_at: float
    badge_id: str = field(default="", repr=False)
    user: User | None = None
    error: Literal["", "wrong", "locked", "blocked"] = ""
    locked_until: float | None = None
    checking: bool = False


@dataclass(frozen=True, slots=True)
class PinSetup:
    """Choosing a new PIN twice: the technician PIN before pairing (``repair`` as in
    :class:`~station.core.pairing.Unpaired`), or a badge holder's first release PIN (``user``
    known, ``expires_at``; ``Cancel`` backs out).

    ``error``: ``mismatch`` (the two differed: choose again), ``invalid`` (not
    :attr:`min_digits` to :attr:`max_digits` digits) or ``failed`` (could not be saved).
    """

    ticket: int
    purpose: PinPurpose
    first: str = field(default="", repr=False)
    saving: bool = False
    error: PinSetupError = ""
    expires_at: float | None = None
    badge_id: str = field(default="", repr=False)
    user: User | None = None
    repair: bool = False

    @property
    def stage(self) -> PinSetupStage:
        """``choose``, ``repeat`` (the same PIN again) or ``saving``."""
        return "saving" if self.saving else "repeat" if self.first else "choose"

    @property
    def min_digits(self) -> int:
        return pin_digits(self.purpose)[0]

    @property
    def max_digits(self) -> int:
        return pin_digits(self.purpose)[1]


def well_formed(pin: str, purpose: PinPurpose) -> bool:
    try:
        check_pin_format(pin, purpose)
    except ValueError:
        return False
    return True


def gate(core: CoreState, tick: Tick, ticket: int, badge_id: str, user: User, *, has_pin: bool) -> Step:
    """A known badge: ask its holder's release PIN (or let them choose one), else begin."""
    if "release" not in core.pins:
        return session.begin(core, tick, ticket, badge_id, user)
    at = tick.now + core.tuning.pin_timeout_s
    if has_pin:
        mode: PinCheck | PinSetup = PinCheck(ticket, "release", at, badge_id=badge_id, user=user)
    else:
        mode = PinSetup(ticket, "release", expires_at=at, badge_id=badge_id, user=user)
    return core.with_mode(mode), [SetTimer("mode", at, ticket)]


def on_setup_intent(core: CoreState, mode: PinSetup, intent: Intent, tick: Tick) -> Step:
    """A PIN typed while choosing one: the first time, then the same again, then save."""
    if isinstance(intent, Cancel | DoneIntent):
        return exits.home(core) if mode.purpose == "release" else (core, [])
    if not isinstance(intent, EnterPin) or mode.saving:
        return core, []
    effects: list[Effect] = []
    if mode.expires_at is not None:
        at = tick.now + core.tuning.pin_timeout_s
        mode = dataclasses.replace(mode, expires_at=at)
        effects.append(SetTimer("mode", at, mode.ticket))
    if not mode.first:
        if not well_formed(intent.pin, mode.purpose):
            return core.with_mode(dataclasses.replace(mode, error="invalid")), [*effects, Play(Pattern.ERROR)]
        return core.with_mode(dataclasses.replace(mode, first=intent.pin, error="")), effects
    if intent.pin != mode.first:
        again = dataclasses.replace(mode, first="", error="mismatch")
        return core.with_mode(again), [*effects, Play(Pattern.ERROR)]
    save = SavePin(mode.ticket, mode.purpose, intent.pin, badge_id=mode.badge_id)
    return core.with_mode(dataclasses.replace(mode, first="", saving=True, error="")), [*effects, save]


def on_saved(core: CoreState, mode: PinSetup, event: PinSaved, tick: Tick) -> Step:
    """The new PIN is stored: pair (technician) or go on with the tap (release)."""
    core = dataclasses.replace(core, pins=event.pins)
    if mode.purpose == "technician":
        return pairing.start(core, repair=mode.repair)
    assert mode.user is not None
    core, effects = session.begin(core, tick, mode.ticket, mode.badge_id, mode.user)
    return core, [Play(Pattern.READ), *effects]


def on_failed(core: CoreState, mode: PinSetup, event: WorkFailed, tick: Tick) -> Step:
    """Saving failed (a full disk): say so and let them choose again."""
    failed = dataclasses.replace(mode, saving=False, first="", error="failed")
    return core.with_mode(failed), [Play(Pattern.ERROR)]


def waits_unattended_for_technician(mode: Mode | IdleFace) -> bool:
    """Whether ``mode`` is one of pairing's screens (the technician PIN chosen first, the code,
    why pairing stalls), which wait, with no one at them, for a technician. A fresh station shows
    them by itself, maybe for days, and a technician PIN set or cleared outside changes them
    (``release-station pin set``): the stored PINs are looked at often (:func:`waits_for_pin`),
    and an update's reboot need not wait for them (:mod:`station.update.busy`)."""
    return isinstance(mode, pairing.Unpaired | pairing.Pairing) or (
        isinstance(mode, PinSetup) and mode.purpose == "technician"
    )


def waits_for_pin(core: CoreState) -> bool:
    """Whether the screen waits for a technician PIN that may be set outside (looked at often)."""
    return waits_unattended_for_technician(core.mode)


def poll(core: CoreState, tick: Tick) -> Step:
    """The ``pins`` timer: read the stored PINs again, and set the timer for the next look."""
    every = core.tuning.pin_poll_s if waits_for_pin(core) else core.tuning.pin_idle_poll_s
    return core, [ReadPins(), SetTimer("pins", tick.now + every, 0)]


def on_read(core: CoreState, event: PinsRead) -> Step:
    """The PINs in force changed outside (command line, first-boot file): act on it now."""
    if event.pins == core.pins:
        return core, []
    core = dataclasses.replace(core, pins=event.pins)
    mode = core.mode
    waiting = isinstance(mode, PinSetup) and mode.purpose == "technician" and not mode.saving
    waiting = waiting or (isinstance(mode, pairing.Unpaired) and mode.problem == "no_pin")
    if waiting and "technician" in event.pins:
        return pairing.start(core, repair=mode.repair)  # type: ignore[union-attr]
    unpaired = not core.paired and "technician" not in event.pins
    if isinstance(mode, pairing.Unpaired | pairing.Pairing) and unpaired:
        return pairing.start(core, repair=mode.repair)  # asks for a technician PIN first
    return core, []


def on_check_intent(core: CoreState, mode: PinCheck, intent: Intent, tick: Tick) -> Step:
    """A PIN typed on the keypad: check it (one check at a time); Cancel closes the keypad."""
    if isinstance(intent, Cancel | DoneIntent):
        return exits.home(core)
    if isinstance(intent, EnterPin) and not mode.checking:
        at = tick.now + core.tuning.pin_timeout_s
        checking = dataclasses.replace(mode, checking=True, error="", expires_at=at)
        check = CheckPin(mode.ticket, mode.purpose, intent.pin, badge_id=mode.badge_id)
        return core.with_mode(checking), [check, SetTimer("mode", at, mode.ticket)]
    return core, []


def on_check_failed(core: CoreState, mode: PinCheck, event: WorkFailed, tick: Tick) -> Step:
    """The check could not be made (a full disk): let them type again."""
    at = tick.now + core.tuning.pin_timeout_s
    return core.with_mode(dataclasses.replace(mode, checking=False, expires_at=at)), [Play(Pattern.ERROR)]


def on_checked(core: CoreState, mode: PinCheck, event: PinChecked, tick: Tick) -> Step:
    """The keypad's answer: the menu or the session, else say why not."""
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


def _check_tap(core: CoreState, mode: PinCheck, tap: Tap, tick: Tick) -> Step:
    """No badge opens the technician menu; at a release keypad another badge starts over."""
    if mode.purpose == "technician":
        return identify.ignore(core, tap, tick)
    return identify.unless_same(core, tap, tick)


def _setup_tap(core: CoreState, mode: PinSetup, tap: Tap, tick: Tick) -> Step:
    """Choosing the technician PIN is part of pairing: badges wait until then."""
    if mode.purpose == "technician":
        return pairing.on_tap(core, tap, tick)
    return identify.unless_same(core, tap, tick)


ROUTES: Routes = {
    PinSetup: {
        Tap: in_mode(PinSetup, _setup_tap),
        Deadline: close,
        PinSaved: in_mode(PinSetup, on_saved),
        WorkFailed: in_mode(PinSetup, on_failed),
        **every(INTENT_TYPES, in_mode(PinSetup, on_setup_intent)),
    },
    PinCheck: {
        PinChecked: in_mode(PinCheck, on_checked),  # the right PIN opens the menu or the session
        Tap: in_mode(PinCheck, _check_tap),
        Deadline: close,
        WorkFailed: in_mode(PinCheck, on_check_failed),
        **every(INTENT_TYPES, in_mode(PinCheck, on_check_intent)),
    },
}
"""Choosing a PIN (typed twice, then saved) and the keypad that checks one."""


# --- work --------------------------------------------------------------------------------------


def _read_pins(worker: Worker, work: m.ReadPins, emit: Emit, cancel: threading.Event) -> None:
    emit(m.PinsRead(worker.pins_in_force()))


def _check_pin(worker: Worker, work: m.CheckPin, emit: Emit, cancel: threading.Event) -> None:
    if work.purpose == "technician":
        result = worker.pins.check_technician(work.pin)
    else:
        result = worker.pins.check_badge(work.badge_id, work.pin)
    outcome = "blocked" if result.permanent else result.outcome
    worker.note(f"pin_{work.purpose}", badge_id=work.badge_id or None, outcome=outcome)
    timed = result.outcome == "locked" and not result.permanent
    locked_until = worker.clock() + result.retry_in_s if timed else None
    emit(m.PinChecked(work.ticket, result.ok, locked_until, blocked=result.permanent))


def _save_pin(worker: Worker, work: m.SavePin, emit: Emit, cancel: threading.Event) -> None:
    if work.purpose == "technician":
        worker.pins.set_technician(work.pin)
    else:
        worker.pins.set_badge(work.badge_id, work.pin)
    worker.note(f"pin_{work.purpose}", badge_id=work.badge_id or None, outcome="set")
    emit(m.PinSaved(work.ticket, worker.pins_in_force()))


def _switch_release_pins(
    worker: Worker, work: m.SwitchReleasePins, emit: Emit, cancel: threading.Event
) -> None:
    worker.pins.set_release_on(work.on)
    worker.note("pin_release", outcome="switched on" if work.on else "switched off")
    emit(m.PinSaved(work.ticket, worker.pins_in_force(), switched=True))


WORK: WorkHandlers = {
    m.ReadPins: _read_pins,
    m.CheckPin: _check_pin,
    m.SavePin: _save_pin,
    m.SwitchReleasePins: _switch_release_pins,
}
