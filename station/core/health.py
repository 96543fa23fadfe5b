"""The offline and health monitor: is ezeep reachable, is the printer online, do readers work.

A background probe (refresh the token if due, ask for the bound printer) runs every
``heartbeat_s`` while all is well, every ``printer_recheck_s`` while the printer is offline, and
with jittered exponential backoff capped at ``retry_cap_s`` while ezeep cannot be reached, so the
station notices the cloud coming back within a few seconds. Any successful answer on the tap
path also counts as "ezeep is back". None of this changes the mode: the idle screen picks
Offline / Printer unavailable / Reader missing / Ready from this health (see
:mod:`station.core.render`), which is why those recover by themselves.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from station.core import messages as m

if TYPE_CHECKING:
    from station.core.worker import Emit, Worker, WorkHandlers

import dataclasses

from station.causes import Failure
from station.cloud.models import Printer
from station.core import listener as ev
from station.core.messages import Announce, Effect, Probe, ProbeDone, SetTimer
from station.core.state import CloudHealth, CoreState, ReaderState, Tick, Tuning
from station.core.transition import Step
from station.events import ReaderHealth


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
    core = dataclasses.replace(core, printer=printer, cloud=CloudHealth(status="ok") if back else core.cloud)
    interval = core.tuning.heartbeat_s if printer.online else core.tuning.printer_recheck_s
    core, effects = schedule_probe(core, tick.now + interval)
    return core, [*news, *effects]


def _printer_news(was: Printer | None, now: Printer) -> list[Effect]:
    """The printer went offline (or is first seen so), or came back."""
    if not now.online and (was is None or was.online):
        return [Announce(ev.PrinterOffline(now.status))]
    if now.online and was is not None and not was.online:
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
