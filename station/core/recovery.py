"""Settling the release journal: jobs a killed station or a network cut left in flight.

A release records its intent before each request (see :mod:`station.release`), so after a crash
or an ambiguous failure the journal may hold jobs that may or may not have been released. The
core has the release engine reconcile them with ezeep on a worker: once at start-up, as soon as
the token is known to work (the first probe found the printer); again after a release ended
with jobs left open; and again while a reconcile left rows open (ezeep could not be asked, a
print is still running), each time the next probe succeeds. Reconciling never sends a job; the
engine also settles a user's jobs in doubt itself before that user's next release.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING

from station.core import messages as m
from station.core.session import item_of

if TYPE_CHECKING:
    from station.core.worker import Emit, Worker, WorkHandlers

import dataclasses

from station.core.messages import Reconcile, Reconciled
from station.core.state import CoreState
from station.core.transition import Step


def start_if_due(core: CoreState) -> Step:
    """The token works: reconcile now if the journal needs it and no reconcile is running."""
    if core.journal != "due":
        return core, []
    return dataclasses.replace(core, journal="running"), [Reconcile()]


def journal_open(core: CoreState) -> CoreState:
    """A release left rows open: reconcile after the next successful probe."""
    if core.journal == "done":
        return dataclasses.replace(core, journal="due")
    if core.journal == "running":
        return dataclasses.replace(core, journal="rerun")
    return core


def on_reconciled(core: CoreState, event: Reconciled) -> CoreState:
    if core.journal == "rerun" or (core.journal == "running" and event.pending):
        return dataclasses.replace(core, journal="due")
    if core.journal == "running":
        return dataclasses.replace(core, journal="done")
    return core


# --- work --------------------------------------------------------------------------------------


def _reconcile(worker: Worker, work: m.Reconcile, emit: Emit, cancel: threading.Event) -> None:
    settled = worker.releaser.reconcile()
    if settled:
        counts = Counter(item_of(progress).phase for progress in settled)
        outcome = ", ".join(f"{count} {phase}" for phase, count in sorted(counts.items()))
        worker.note("reconcile", jobs=len(settled), outcome=outcome)
    emit(m.Reconciled(len(settled), pending=worker.releaser.unsettled() > 0))


WORK: WorkHandlers = {
    m.Reconcile: _reconcile,
}
