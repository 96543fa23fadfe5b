"""Pairing transitions: unpaired (or needing re-pairing) → code on screen → paired and ready.

Fetching a code and waiting for approval run as one piece of work (``PairStart``); the pairer
itself fetches a new code when one expires and reports it (``PairCode`` again). When ezeep cannot
be reached the station keeps trying with a growing pause; a denied code is followed by a new
one. Re-pairing uses the same hardware id, so ezeep binds the same printer again. A paired
station that pairs again on the technician's request keeps its old token until the new one
arrives, and may cancel.
"""

from __future__ import annotations

import dataclasses

from station.core import health
from station.core.messages import Audit, Effect, Failure, PairCode, Paired, PairStart, Play, SetTimer
from station.core.state import Core, Idle, Pairing, PinSetup, Tick, Unpaired
from station.core.steps import Step, leave
from station.core.view import UnpairedProblem
from station.feedback import Pattern


def start(core: Core, *, repair: bool) -> Step:
    """Leave the current mode and start fetching a code; first a technician PIN if none is set.

    Only a fresh install lets the technician PIN be chosen on the touchscreen. A station paired
    before (its token rejected, its PIN cleared) waits for one set over SSH or in a first-boot
    file, so that a passer-by cannot choose it.
    """
    effects = leave(core)
    core, ticket = core.fresh()
    if "technician" not in core.pins and core.paired_before:
        return core.with_mode(Unpaired(ticket, repair=repair, problem="no_pin")), effects
    if "technician" not in core.pins:
        return core.with_mode(PinSetup(ticket, "technician", repair=repair)), effects
    return core.with_mode(Unpaired(ticket, repair=repair)), [*effects, PairStart(ticket)]


def needs_repair(core: Core) -> Step:
    """The token was rejected: forget that we are paired and pair again (same hardware id)."""
    if not core.paired and isinstance(core.mode, Unpaired | Pairing | PinSetup):
        return core, []  # already on it
    core = dataclasses.replace(core, paired=False, printer=None)
    core, effects = start(core, repair=True)
    return core, [Play(Pattern.NEEDS_PAIRING), *effects, Audit("pairing", outcome="token rejected")]


def retry_now(core: Core) -> Step:
    """Try again at once to fetch a code (the ``StartPairing`` intent or the retry timer)."""
    mode = core.mode
    if not isinstance(mode, Unpaired) or mode.problem == "no_pin":
        return core, []
    return core.with_mode(dataclasses.replace(mode, retry_at=None)), [PairStart(mode.ticket)]


def on_code(core: Core, event: PairCode) -> Step:
    mode = core.mode
    if not isinstance(mode, Unpaired | Pairing) or mode.ticket != event.ticket:
        return core, []
    code = event.code
    pairing = Pairing(
        mode.ticket, code.code, code.auth_url, code.expires_at, repair=mode.repair, short_url=code.short_url
    )
    first = isinstance(mode, Unpaired)
    return core.with_mode(pairing), [Play(Pattern.NEEDS_PAIRING)] if first else []


def on_paired(core: Core, event: Paired, tick: Tick) -> Step:
    mode = core.mode
    if not isinstance(mode, Unpaired | Pairing) or mode.ticket != event.ticket:
        return core, []
    done = leave(core)
    core = dataclasses.replace(core, paired=True, paired_before=True, binding=event.binding, printer=None)
    core, effects = health.cloud_up(core.with_mode(Idle(just_paired=True)), tick)
    core, probe = health.schedule_probe(core, tick.now)  # learn the bound printer at once
    tp_id = event.binding.tp_id if event.binding is not None else None
    audit = Audit("pairing", outcome=f"paired (tp_id {tp_id})")
    return core, [Play(Pattern.READY), *done, *effects, *probe, audit]


def _problem(failure: Failure) -> UnpairedProblem:
    if failure.kind == "offline":
        return "offline"
    if failure.kind == "denied":
        return "denied"
    return "server"


def on_failed(core: Core, failure: Failure, tick: Tick) -> Step:
    """Fetching a code or waiting failed: say why and try again after a pause."""
    mode = core.mode
    if not isinstance(mode, Unpaired | Pairing):
        return core, []
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
