"""The work effects, performed on a worker thread; every outcome comes back as an event.

:class:`Worker` holds the collaborators (cloud, tokens, pairer, release engine, directory, audit
log, settings, PINs, rate limiter) and runs one :data:`~station.core.messages.Work` value at a
time per thread, handing results to ``emit`` (the core's queue). Each state module registers the
handlers of the work it starts in a ``WORK`` table; :data:`HANDLERS` merges them (a kind of work
with two handlers is refused at import, and a test checks that every kind has one). Failures are turned into a
:class:`~station.causes.Failure` here (by :func:`~station.causes.failure_of`), at the edge: the
transitions never see an exception. A bug in a handler is logged with its traceback and
reported as an ``error``.

Log lines name the kind of work and of failure, never a badge number, a token or a user's name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from station.causes import Cause, Failure, Reason, failure_of
from station.cloud.errors import (
    CloudError,
    PairingCancelledError,
)
from station.cloud.models import PairingCode, TokenPair
from station.core import enrolment, health, identify, pairing, pins, recovery, session, technician
from station.core import messages as m
from station.core.audit_trail import record
from station.core.netinfo import local_network
from station.core.ports import (
    Audit,
    Cloud,
    Directory,
    Limiter,
    NetworkInfo,
    PairingClient,
    Pins,
    Releaser,
    Settings,
    Tokens,
)
from station.core.state import Prefs
from station.core.view import DirectoryFacts, PinPurpose
from station.errors import StationError

log = logging.getLogger(__name__)

Emit = Callable[[m.WorkResult], None]


@dataclass(frozen=True, kw_only=True)
class Worker:
    """Everything work needs. Thread-safe as far as its collaborators are (each has its lock)."""

    cloud: Cloud
    tokens: Tokens
    pairer: PairingClient
    releaser: Releaser
    directory: Directory
    audit: Audit
    settings: Settings
    pins: Pins
    limiter: Limiter
    hardware_id: str
    clock: Callable[[], float] = time.monotonic
    """Monotonic seconds; the station's clock too (views' deadlines are read against it)."""
    network_info: NetworkInfo = local_network
    directory_facts: Callable[[], DirectoryFacts] = DirectoryFacts
    """The directory source's last sync (the technician page); the default: badges kept locally."""

    def run(self, work: m.Work, emit: Emit, cancel: threading.Event) -> None:
        """Do ``work``; results and failures go to ``emit``. Never raises."""
        handler = HANDLERS[type(work)]
        try:
            handler(self, work, emit, cancel)
        except (CloudError, StationError, ValueError) as exc:
            failure = failure_of(exc)
            log.warning("%s failed: %s (%s)", type(work).__name__, failure.kind, type(exc).__name__)
            self._failed(work, failure, emit)
        except Exception:  # the edge: a bug must not kill the worker or leave the screen stuck
            log.exception("%s failed unexpectedly", type(work).__name__)
            self._failed(work, Failure("error", Cause(Reason.ERROR, text="internal error")), emit)

    @staticmethod
    def _failed(work: m.Work, failure: Failure, emit: Emit) -> None:
        if isinstance(work, m.Probe):
            emit(m.ProbeDone(work.ticket, failure=failure))
        elif isinstance(work, m.Reconcile):
            emit(m.Reconciled(0, pending=True))
        elif isinstance(work, m.Delete):
            emit(m.JobsDeleted(work.ticket, (), failure))
        elif not isinstance(work, m.LoadStart | m.Reconcile | m.ReadPins):
            emit(m.WorkFailed(work.ticket, failure))

    def _load_start(self, work: m.LoadStart, emit: Emit, cancel: threading.Event) -> None:
        paired = self.tokens.paired
        binding = self.tokens.binding if paired else None
        before = self.tokens.record is not None  # the row outlives a rejected token
        prefs, pins = self.prefs(), self.pins_in_force()
        emit(m.Loaded(work.ticket, paired, binding, prefs, pins, paired_before=before))

    # --- what work of several states needs ---------------------------------------------------

    def prefs(self) -> Prefs:
        """The settings in force (file values with on-station overrides)."""
        section = self.settings.effective()
        return Prefs(section.release_mode, section.language, section.session_timeout_s)

    def pins_in_force(self) -> frozenset[PinPurpose]:
        """Which PINs are set and switched on now."""
        status = self.pins.status()  # also counts running lockouts down and writes them back
        in_force: set[PinPurpose] = set()
        if status.is_set:
            in_force.add("technician")
        if status.release_on:
            in_force.add("release")
        return frozenset(in_force)

    def pair(
        self, mode: Literal["device", "user"], show: Callable[[PairingCode], None], cancel: threading.Event
    ) -> TokenPair | None:
        """Fetch a code, show it (and every code that replaces it), wait; None when cancelled."""
        code = self.pairer.start(mode)
        show(code)
        try:
            return self.pairer.wait(code, cancel, on_new_code=show)
        except PairingCancelledError:
            return None

    def note(self, event: str, **fields: Any) -> None:
        """Write an audit entry of what this work did (see :func:`station.core.audit_trail.record`)."""
        record(self.audit, event, **fields)


WorkHandler = Callable[[Worker, Any, Emit, threading.Event], None]
"""Does one kind of work with the worker's collaborators; results go to ``emit``."""

WorkHandlers = Mapping[type, WorkHandler]
"""A state's work: the handler for each kind of work the state starts."""


def merge_work(*tables: WorkHandlers) -> dict[type, WorkHandler]:
    """One table from the states' tables; a kind of work with two handlers is a bug."""
    merged: dict[type, WorkHandler] = {}
    for table in tables:
        twice = merged.keys() & table.keys()
        if twice:
            raise ValueError(f"two handlers for {', '.join(sorted(kind.__name__ for kind in twice))}")
        merged.update(table)
    return merged


HANDLERS: Final = merge_work(
    {m.LoadStart: Worker._load_start},
    pairing.WORK,
    health.WORK,
    recovery.WORK,
    identify.WORK,
    session.WORK,
    pins.WORK,
    enrolment.WORK,
    technician.WORK,
)
"""The handler of each kind of work, from the states' tables; a test checks every kind has one."""
