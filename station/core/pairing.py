"""Pairing transitions: unpaired (or needing re-pairing) → code on screen → paired and ready.

Fetching a code and waiting for approval run as one piece of work (``PairStart``); the pairer
itself fetches a new code when one expires and reports it (``PairCode`` again). When ezeep cannot
be reached the station keeps trying with a growing pause; a denied code is followed by a new
one. Re-pairing uses the same hardware id, so ezeep binds the same printer again. A paired
station that pairs again on the technician's request keeps its old token until the new one
arrives, and may cancel.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from station.core import messages as m

if TYPE_CHECKING:
    from station.core.worker import Emit, Worker, WorkHandlers

import dataclasses
from dataclasses import dataclass

from station.causes import Cause, Failure, Reason
from station.core import exits, health, identify, pins
from station.core import listener as ev
from station.core.intents import Cancel, StartPairing
from station.core.intents import Done as DoneIntent
from station.core.messages import (
    Announce,
    Effect,
    PairCode,
    Paired,
    PairStart,
    Play,
    SetTimer,
    Tap,
    WorkFailed,
)
from station.core.state import CoreState, Tick
from station.core.transition import Routes, Step, every, leave
from station.core.view import UnpairedProblem
from station.feedback import Pattern


@dataclass(frozen=True, slots=True)
class Unpaired:
    """No usable token: fetching a pairing code (``repair``: the old token was rejected).

    ``problem`` says why no code is shown yet: ``""`` (asking), ``offline``/``server`` (ezeep
    could not be reached; the core keeps trying, next at ``retry_at``), ``denied`` (the last code
    was denied by an administrator; a new one is being fetched), ``refused`` (ezeep answered an
    error the station does not know: ``cause`` has it verbatim; tried again at ``retry_at``),
    ``stopped`` (ezeep must enable something for the client id first: ``cause`` says what; no
    retry until the technician asks for one), ``no_pin`` (a station paired
    before has no technician PIN: it must be set over SSH or in a first-boot file; no code is
    fetched until then). ``cause`` says why in detail. Re-pairing uses the same hardware id, so
    ezeep binds the same printer again.
    """

    ticket: int
    repair: bool = False
    problem: UnpairedProblem = ""
    cause: Cause | None = None
    retry_at: float | None = None
    failures: int = 0


@dataclass(frozen=True, slots=True)
class Pairing:
    """A pairing code to approve: the code large, the address to type and a QR code.

    :param code: the code a technician types in (or that is filled in by the QR code).
    :param auth_url: the sign-in page the QR code encodes.
    :param expires_at: monotonic deadline of this code; a new code follows by itself.
    :param repair: ``True`` when pairing *again* after a rejected token.
    :param short_url: the same page, short enough for a person to type.

    A station still paired (``StationInfo.paired``: a technician asked to pair again) offers
    "Cancel" (:class:`~station.core.intents.Cancel`; the old pairing stays).
    """

    ticket: int
    code: str
    auth_url: str
    expires_at: float
    repair: bool = False
    short_url: str = ""


def start(core: CoreState, *, repair: bool) -> Step:
    """Leave the current mode and start fetching a code; first a technician PIN if none is set.

    Only a fresh install lets the technician PIN be chosen on the touchscreen. A station paired
    before (its token rejected, its PIN cleared) waits for one set over SSH or in a first-boot
    file, so that a passer-by cannot choose it.
    """
    effects = leave(core)
    if not core.paired:
        effects.append(Announce(ev.PairingNeeded(repair=repair)))
    core, ticket = core.fresh()
    if "technician" not in core.pins and core.paired_before:
        return core.with_mode(Unpaired(ticket, repair=repair, problem="no_pin")), effects
    if "technician" not in core.pins:
        pin_needed = Announce(ev.TechnicianPinNeeded())
        return core.with_mode(pins.PinSetup(ticket, "technician", repair=repair)), [*effects, pin_needed]
    return core.with_mode(Unpaired(ticket, repair=repair)), [*effects, PairStart(ticket)]


def needs_repair(core: CoreState) -> Step:
    """The token was rejected: forget that we are paired and pair again (same hardware id)."""
    if not core.paired and isinstance(core.mode, Unpaired | Pairing | pins.PinSetup):
        return core, []  # already on it
    core = dataclasses.replace(core, paired=False, printer=None)
    core, effects = start(core, repair=True)
    return core, [Play(Pattern.NEEDS_PAIRING), Announce(ev.TokenRejected()), *effects]


def retry_now(core: CoreState) -> Step:
    """Try again at once to fetch a code (the ``StartPairing`` intent or the retry timer)."""
    mode = core.mode
    if not isinstance(mode, Unpaired) or mode.problem == "no_pin":
        return core, []
    return core.with_mode(dataclasses.replace(mode, retry_at=None)), [PairStart(mode.ticket)]


def on_code(core: CoreState, event: PairCode, tick: Tick) -> Step:
    mode = core.mode
    if not isinstance(mode, Unpaired | Pairing) or mode.ticket != event.ticket:
        return core, []
    code = event.code
    pairing = Pairing(
        mode.ticket, code.code, code.auth_url, code.expires_at, repair=mode.repair, short_url=code.short_url
    )
    shown = Announce(ev.PairingCodeShown(code.code, code.short_url, code.auth_url))
    first = isinstance(mode, Unpaired)
    return core.with_mode(pairing), [Play(Pattern.NEEDS_PAIRING), shown] if first else [shown]


def on_paired(core: CoreState, event: Paired, tick: Tick) -> Step:
    mode = core.mode
    if not isinstance(mode, Unpaired | Pairing) or mode.ticket != event.ticket:
        return core, []
    done = leave(core)
    core = dataclasses.replace(core, paired=True, paired_before=True, binding=event.binding, printer=None)
    core, effects = health.cloud_up(core.with_mode(health.Idle(just_paired=True)), tick)
    core, probe = health.schedule_probe(core, tick.now)  # learn the bound printer at once
    tp_id = event.binding.tp_id if event.binding is not None else None
    return core, [Play(Pattern.READY), *done, *effects, *probe, Announce(ev.Paired(tp_id))]


def _problem(failure: Failure) -> UnpairedProblem:
    if failure.kind in ("offline", "denied", "stopped"):
        return failure.kind
    if failure.cause.reason is Reason.PAIRING_REFUSED:
        return "refused"
    return "server"


def on_failed(core: CoreState, failure: Failure, tick: Tick) -> Step:
    """Fetching a code or waiting failed: say why and try again after a pause (not when ezeep
    must change a setting first: then when the technician asks)."""
    mode = core.mode
    if not isinstance(mode, Unpaired | Pairing):
        return core, []
    if failure.kind == "stopped":
        stopped = Unpaired(mode.ticket, repair=mode.repair, problem="stopped", cause=failure.cause)
        return core.with_mode(stopped), [Play(Pattern.ERROR)]
    failures = (mode.failures if isinstance(mode, Unpaired) else 0) + 1
    tuning = core.tuning
    pause = min(tuning.pair_retry_cap_s, tuning.retry_base_s * 2**failures) * (0.5 + 0.5 * tick.rand)
    unpaired = Unpaired(
        mode.ticket,
        repair=mode.repair,
        problem=_problem(failure),
        cause=failure.cause,
        retry_at=tick.now + pause,
        failures=failures,
    )
    effects: list[Effect] = []
    if failure.kind in ("offline", "server"):
        core, effects = health.cloud_down(core, failure, tick)
    return core.with_mode(unpaired), [*effects, SetTimer("retry_pairing", tick.now + pause, mode.ticket)]


def _failed(core: CoreState, event: WorkFailed, tick: Tick) -> Step:
    return on_failed(core, event.failure, tick)


def _start_now(core: CoreState, intent: StartPairing, tick: Tick) -> Step:
    return retry_now(core)


def on_tap(core: CoreState, tap: Tap, tick: Tick) -> Step:
    """Badges wait until the station is paired."""
    return identify.refuse(core) if tap.error else (core, [Play(Pattern.NEEDS_PAIRING)])


def _home_if_paired(core: CoreState, intent: Cancel | DoneIntent, tick: Tick) -> Step:
    """A technician's re-pairing may be cancelled: the old pairing stays."""
    return exits.home(core) if core.paired else (core, [])


_LEAVE = every((Cancel, DoneIntent), _home_if_paired)

ROUTES: Routes = {
    Unpaired: {
        PairCode: on_code,
        Paired: on_paired,
        WorkFailed: _failed,
        StartPairing: _start_now,
        Tap: on_tap,
        **_LEAVE,
    },
    Pairing: {PairCode: on_code, Paired: on_paired, WorkFailed: _failed, Tap: on_tap, **_LEAVE},
}
"""Fetching a code, showing it, waiting: the answers, a failure, "try again now"."""


# --- work --------------------------------------------------------------------------------------


def _pair_start(worker: Worker, work: m.PairStart, emit: Emit, cancel: threading.Event) -> None:
    pair = worker.pair("device", lambda code: emit(m.PairCode(work.ticket, code)), cancel)
    if pair is None:
        return
    binding = worker.tokens.install(pair, hardware_id=worker.hardware_id)
    emit(m.Paired(work.ticket, binding))


WORK: WorkHandlers = {
    m.PairStart: _pair_start,
}
