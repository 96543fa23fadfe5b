"""Ways out of any mode: home (idle, or pairing when unpaired) and the common failure paths."""

from __future__ import annotations

from station.causes import Failure
from station.core import health, pairing, pins, session
from station.core.messages import Play, SetTimer
from station.core.state import CoreState, Tick
from station.core.transition import Step, leave
from station.feedback import Pattern


def home(core: CoreState) -> Step:
    """End whatever is on screen and forget it; back to idle (or to pairing if unpaired)."""
    if not core.paired:
        mode = core.mode
        if isinstance(mode, pairing.Unpaired | pairing.Pairing) or (
            isinstance(mode, pins.PinSetup) and mode.purpose == "technician"
        ):
            return core, []
        return pairing.start(core, repair=core.paired_before)
    if isinstance(core.mode, health.Idle):
        return core, []
    effects = leave(core)
    return core.with_mode(health.Idle()), [*effects, Play(Pattern.READY)]


def show_done(core: CoreState, done: session.Done) -> Step:
    """Show a summary (the mode keeps the session's ticket) and close it after a while."""
    return core.with_mode(done), [SetTimer("mode", done.expires_at, done.ticket)]


def fail(core: CoreState, failure: Failure, tick: Tick, *, badge_id: str = "") -> Step:
    """Work for a badge failed. Outage: back to idle (the offline screen) and retry in the
    background. Rejected token: pair again. Anything else: an error summary saying what."""
    if failure.kind == "rejected":
        return pairing.needs_repair(core)
    if failure.kind in ("offline", "server"):
        core, effects = health.cloud_down(core, failure, tick)
        core, more = home(core)
        return core, [Play(Pattern.ERROR), *effects, *(e for e in more if e != Play(Pattern.READY))]
    effects = leave(core)
    core, ticket = core.fresh()
    done = session.Done(
        ticket,
        badge_id,
        "error",
        tick.now + core.tuning.done_linger_s,
        cause=failure.cause,
    )
    core, more = show_done(core, done)
    return core, [Play(Pattern.ERROR), *effects, *more]
