"""The offline and health monitor: is ezeep reachable, is the printer online, do readers work.

A background probe (refresh the token if due, ask for the bound printer) runs every
``heartbeat_s`` while all is well, every ``printer_recheck_s`` while the printer is offline, and
with jittered exponential backoff capped at ``retry_cap_s`` while ezeep cannot be reached, so the
station notices the cloud coming back within a few seconds. Any successful answer on the tap
path also counts as "ezeep is back". None of this changes the mode: the idle screen picks
Offline / Printer unavailable / Reader missing / Ready from this health (:func:`idle_face`),
which is why those recover by themselves. :func:`view_of` is what the core publishes.
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
from station.cloud.models import Printer
from station.core import listener as ev
from station.core import technician
from station.core.messages import Announce, Effect, Probe, ProbeDone, SetTimer
from station.core.state import CloudHealth, CoreState, ReaderState, Tick, Tuning
from station.core.transition import Step
from station.core.view import Health, OfflineReason, StationInfo, View
from station.events import ReaderHealth


@dataclass(frozen=True, slots=True)
class Idle:
    """Waiting for a badge; the screen is the face health gives it (:func:`station.core.health.idle_face`).

    ``just_paired`` is ``True`` until the first tap after a pairing was approved.
    """

    ticket: int = 0
    just_paired: bool = False


# --- what the idle station shows ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    """Waiting for a badge: printer name and location, "tap your badge", the status bar.

    ``just_paired`` is ``True`` on the first ready screen after a pairing was approved: show the
    bound printer and "tap a badge to test".
    """

    just_paired: bool = False


@dataclass(frozen=True, slots=True)
class Offline:
    """ezeep (or the network) cannot be reached. The core keeps trying and comes back by itself.

    Badges still work: a tap tries again at once and lands here again within 2 s if ezeep is
    still away. ``since`` is when the outage was noticed, ``retry_at`` the next background try;
    ``cause`` is ``no_answer`` when a tap got no answer in time.
    """

    reason: OfflineReason
    cause: Cause | None
    since: float
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class PrinterUnavailable:
    """ezeep says the bound printer is not online; jobs stay held. Recovers by itself.

    ``status`` is ezeep's own word for the printer's state, untranslated.
    """

    status: str


@dataclass(frozen=True, slots=True)
class ReaderMissing:
    """No badge reader works (unplugged, failed). Recovers by itself when one comes back.

    ``detail`` is the reader driver's own words.
    """

    reader_name: str
    detail: str


IdleFace = Ready | Offline | PrinterUnavailable | ReaderMissing
"""What the idle station shows, chosen by health alone."""


def _reader_health(core: CoreState) -> Health:
    if not core.readers:
        return "unknown"
    return "ok" if any(reader.ok for reader in core.readers) else "down"


def _printer_health(core: CoreState) -> Health:
    if core.printer is None:
        return "unknown"
    return "ok" if core.printer.online else "down"


def info_of(core: CoreState) -> StationInfo:
    """The station-wide facts of ``core``; the last unknown badge only while the technician is in."""
    printer, binding = core.printer, core.binding
    return StationInfo(
        station_name=core.identity.station_name,
        language=core.prefs.language,
        release_mode=core.prefs.release_mode,
        printer_name=printer.name if printer else "",
        printer_location=printer.location if printer else "",
        printer_problem=core.printer_problem,
        cloud=core.cloud.status,
        reader=_reader_health(core),
        printer=_printer_health(core),
        paired=core.paired,
        version=core.identity.version,
        hardware_id=core.identity.hardware_id,
        organisation=binding.organisation if binding else "",
        tp_id=binding.tp_id if binding else None,
        session_timeout_s=core.prefs.session_timeout_s,
        readers=tuple((r.name, "ok" if r.ok else "down") for r in core.readers),
        technician_pin_set="technician" in core.pins,
        release_pins_on="release" in core.pins,
        last_unknown_badge=core.last_unknown if isinstance(core.mode, technician.Technician) else "",
        can_restart=core.tuning.can_restart,
    )


def idle_face(core: CoreState, mode: Idle) -> IdleFace:
    """The idle screen, chosen by health in this order: a reader missing (nothing works without
    one), ezeep offline, the printer unavailable, else ready."""
    if _reader_health(core) == "down":
        reader = core.readers[-1]
        return ReaderMissing(reader.name, reader.detail)
    cloud = core.cloud
    if cloud.status == "down":
        return Offline(cloud.reason, cloud.cause, cloud.since, cloud.retry_at)
    if core.printer is not None and not core.printer.online:
        return PrinterUnavailable(core.printer.status)
    return Ready(just_paired=mode.just_paired)


def view_of(core: CoreState) -> View:
    """The view of ``core``: everything the current screen needs, nothing of a past session."""
    mode = core.mode
    return View(info_of(core), idle_face(core, mode) if isinstance(mode, Idle) else mode)


def backoff_s(tuning: Tuning, failures: int, rand: float) -> float:
    """Pause before try number ``failures + 1``: doubling from the base, capped, "equal jitter".

    The pause is between half and all of the capped doubling, so many stations coming back at
    once do not knock in step, and it is never longer than ``retry_cap_s``.
    """
    ceiling = min(tuning.retry_cap_s, tuning.retry_base_s * 2.0 ** max(failures - 1, 0))
    return ceiling * (0.5 + 0.5 * rand)


def schedule_probe(core: CoreState, at: float) -> Step:
    """Replace the pending probe with one at ``at`` (only a paired station probes)."""
    if not core.paired:
        return core, []
    ticket = core.probe_ticket + 1
    return dataclasses.replace(core, probe_ticket=ticket), [SetTimer("probe", at, ticket)]


def probe_due(core: CoreState, ticket: int) -> Step:
    """The probe timer fired: run the probe if it is still the current one."""
    if ticket != core.probe_ticket or not core.paired:
        return core, []
    return core, [Probe(ticket, refresh=core.cloud.status == "ok")]


def cloud_down(core: CoreState, failure: Failure, tick: Tick) -> Step:
    """ezeep did not answer (offline or 5xx): note it and retry soon with backoff."""
    was = core.cloud
    failures = was.failures + 1
    retry_at = tick.now + backoff_s(core.tuning, failures, tick.rand)
    cloud = CloudHealth(
        status="down",
        reason="server" if failure.kind == "server" else "network",
        cause=failure.cause,
        since=was.since if was.status == "down" else tick.now,
        failures=failures,
        retry_at=retry_at,
    )
    core, effects = schedule_probe(dataclasses.replace(core, cloud=cloud), retry_at)
    return core, [Announce(ev.Offline(cloud.reason)), *effects] if was.status != "down" else effects


def cloud_up(core: CoreState, tick: Tick) -> Step:
    """ezeep answered; if it was down, go back to the normal heartbeat (and learn the printer)."""
    if core.cloud.status == "ok":
        return core, []
    core = dataclasses.replace(core, cloud=CloudHealth(status="ok"))
    core, effects = schedule_probe(core, tick.now)
    return core, [Announce(ev.BackOnline()), *effects]


def printer_seen(core: CoreState, printer: Printer, tick: Tick) -> Step:
    """The probe found the printer: the cloud is up; next probe by the printer's state."""
    back = core.cloud.status != "ok"
    news: list[Effect] = [Announce(ev.BackOnline())] if back else []
    news += _printer_news(core.printer, printer)
    cloud = CloudHealth(status="ok") if back else core.cloud
    core = dataclasses.replace(core, printer=printer, printer_problem="", cloud=cloud)
    interval = core.tuning.heartbeat_s if printer.online else core.tuning.printer_recheck_s
    core, effects = schedule_probe(core, tick.now + interval)
    return core, [*news, *effects]


def _printer_news(was: Printer | None, now: Printer) -> list[Effect]:
    """The printer went offline or came back, or is first seen (so listeners know its state)."""
    if not now.online and (was is None or was.online):
        return [Announce(ev.PrinterOffline(now.status))]
    if now.online and (was is None or not was.online):
        return [Announce(ev.PrinterOnline())]
    return []


def printer_held_jobs(core: CoreState, tick: Tick) -> Step:
    """A release found the printer offline: show it now and check again soon."""
    news: list[Effect] = []
    if core.printer is not None and core.printer.online:
        offline = dataclasses.replace(core.printer, status="Offline")
        news = _printer_news(core.printer, offline)
        core = dataclasses.replace(core, printer=offline)
    core, effects = schedule_probe(core, tick.now + core.tuning.printer_recheck_s)
    return core, [*news, *effects]


def on_probe(core: CoreState, event: ProbeDone, tick: Tick) -> Step:
    """The probe's answer. A rejected token is handled by the caller (it changes the mode)."""
    if event.ticket != core.probe_ticket:
        return core, []
    if event.printer is not None:
        return printer_seen(core, event.printer, tick)
    assert event.failure is not None
    if event.failure.kind in ("offline", "server"):
        return cloud_down(core, event.failure, tick)
    if event.failure.cause.reason is Reason.NO_PRINTER:  # for the technician: what to pin
        core = dataclasses.replace(core, printer=None, printer_problem=event.failure.cause.text)
    # Anything else (a bad answer, the printer gone) is not an outage: keep the heartbeat.
    return schedule_probe(core, tick.now + core.tuning.heartbeat_s)


def on_reader(core: CoreState, event: ReaderHealth) -> Step:
    """Remember each reader's health by name; say when one goes down or comes back."""
    was = next((r for r in core.readers if r.name == event.reader_name), None)
    others = tuple(r for r in core.readers if r.name != event.reader_name)
    reader = ReaderState(event.reader_name, event.ok, event.detail)
    core = dataclasses.replace(core, readers=(*others, reader))
    if not event.ok and (was is None or was.ok):
        return core, [Announce(ev.ReaderDown(event.reader_name, event.detail))]
    if event.ok and was is not None and not was.ok:
        return core, [Announce(ev.ReaderUp(event.reader_name))]
    return core, []


# --- work --------------------------------------------------------------------------------------


def _probe(worker: Worker, work: m.Probe, emit: Emit, cancel: threading.Event) -> None:
    if work.refresh:
        # One try: while ezeep is away the core's own backoff paces the probes, and a
        # refresh pausing between tries would hold back the news that ezeep is back.
        worker.tokens.refresh_if_due(wait=False)
    emit(m.ProbeDone(work.ticket, printer=worker.cloud.station_printer()))


WORK: WorkHandlers = {
    m.Probe: _probe,
}
