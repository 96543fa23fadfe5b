"""The work effects, performed on a worker thread; every outcome comes back as an event.

:class:`Worker` holds the collaborators (cloud, tokens, pairer, release engine, directory, audit
log, settings, PINs, rate limiter) and runs one :data:`~station.core.messages.Work` value at a
time per thread, handing results to ``emit`` (the core's queue). Failures are turned into a
:class:`~station.causes.Failure` here (by :func:`~station.causes.failure_of`), at the edge: the
transitions never see an exception. A bug in a handler is logged with its traceback and
reported as an ``error``.

Log lines name the kind of work and of failure, never a badge number, a token or a user's name.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from station.causes import Cause, Failure, Reason, failure_of
from station.cloud.errors import (
    CloudError,
    PairingCancelledError,
)
from station.cloud.models import Job, PairingCode, TokenPair
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
from station.core.state import Prefs, SignedIn, User
from station.core.view import BadgeRef, JobPhase, JobProgressItem, PinPurpose, UserChoice
from station.directory import BadgeLimitError, mask_badge, public_name
from station.errors import StationError
from station.release import JobProgress, ReleaseState, ReleaseSummary

log = logging.getLogger(__name__)

Emit = Callable[[m.WorkResult], None]

MAX_SEARCH_RESULTS = 20

_PHASES: dict[ReleaseState, JobPhase] = {
    ReleaseState.QUEUED: "waiting",
    ReleaseState.SUBMITTED: "sending",
    ReleaseState.PRINTING: "printing",
    ReleaseState.PRINTED: "printed",
    ReleaseState.FAILED: "failed",
    ReleaseState.TIMED_OUT: "timed_out",
    ReleaseState.HELD: "held",
    ReleaseState.UNCONFIRMED: "unconfirmed",
}


def item_of(progress: JobProgress) -> JobProgressItem:
    return JobProgressItem(progress.job_id, progress.name, _PHASES[progress.state], progress.cause)


def prefs_of(settings: Settings) -> Prefs:
    section = settings.effective()
    return Prefs(section.release_mode, section.language, section.session_timeout_s)


def _limiter_key(badge_id: str) -> str:
    # The limiter remembers keys for a while; keep numbers of strangers' cards out of memory.
    return hashlib.sha256(badge_id.encode()).hexdigest()


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

    # --- start-up, health, pairing ------------------------------------------------------------

    def _load_start(self, work: m.LoadStart, emit: Emit, cancel: threading.Event) -> None:
        paired = self.tokens.paired
        binding = self.tokens.binding if paired else None
        before = self.tokens.record is not None  # the row outlives a rejected token
        prefs, pins = prefs_of(self.settings), self._pins_in_force()
        emit(m.Loaded(work.ticket, paired, binding, prefs, pins, paired_before=before))

    def _read_pins(self, work: m.ReadPins, emit: Emit, cancel: threading.Event) -> None:
        emit(m.PinsRead(self._pins_in_force()))

    def _pins_in_force(self) -> frozenset[PinPurpose]:
        status = self.pins.status()  # also counts running lockouts down and writes them back
        in_force: set[PinPurpose] = set()
        if status.is_set:
            in_force.add("technician")
        if status.release_on:
            in_force.add("release")
        return frozenset(in_force)

    def _probe(self, work: m.Probe, emit: Emit, cancel: threading.Event) -> None:
        if work.refresh:
            # One try: while ezeep is away the core's own backoff paces the probes, and a
            # refresh pausing between tries would hold back the news that ezeep is back.
            self.tokens.refresh_if_due(wait=False)
        emit(m.ProbeDone(work.ticket, printer=self.cloud.station_printer()))

    def _reconcile(self, work: m.Reconcile, emit: Emit, cancel: threading.Event) -> None:
        settled = self.releaser.reconcile()
        if settled:
            counts = Counter(item_of(progress).phase for progress in settled)
            outcome = ", ".join(f"{count} {phase}" for phase, count in sorted(counts.items()))
            self._note("reconcile", jobs=len(settled), outcome=outcome)
        emit(m.Reconciled(len(settled), pending=self.releaser.unsettled() > 0))

    def _pair_start(self, work: m.PairStart, emit: Emit, cancel: threading.Event) -> None:
        pair = self._pair("device", lambda code: emit(m.PairCode(work.ticket, code)), cancel)
        if pair is None:
            return
        binding = self.tokens.install(pair, hardware_id=self.hardware_id)
        emit(m.Paired(work.ticket, binding))

    def _pair(
        self, mode: Literal["device", "user"], show: Callable[[PairingCode], None], cancel: threading.Event
    ) -> TokenPair | None:
        """Fetch a code, show it (and every code that replaces it), wait; None when cancelled."""
        code = self.pairer.start(mode)
        show(code)
        try:
            return self.pairer.wait(code, cancel, on_new_code=show)
        except PairingCancelledError:
            return None

    # --- a user's badge and jobs --------------------------------------------------------------

    def _lookup(self, work: m.Lookup, emit: Emit, cancel: threading.Event) -> None:
        entry = self.directory.lookup(work.badge_id)
        if entry is None:
            allowed = self.limiter.allow(_limiter_key(work.badge_id))
            emit(m.BadgeUnknown(work.ticket, allowed))
            self._note("tap", badge_id=work.badge_id, outcome="unknown" if allowed else "rate_limited")
            return
        user = User(entry.user_id, public_name(entry.display_name, entry.email, entry.user_id))
        has_pin = self.pins.badge_pin_set(work.badge_id)
        emit(m.BadgeKnown(work.ticket, user, has_pin))  # the release starts; the writes are not on its way
        self.directory.touch(work.badge_id)
        self._note("tap", badge_id=work.badge_id, user_id=entry.user_id, outcome="known")

    def _load_jobs(self, work: m.LoadJobs, emit: Emit, cancel: threading.Event) -> None:
        emit(m.JobsLoaded(work.ticket, tuple(self.cloud.waiting_jobs(work.user_id))))

    def _release(self, work: m.Release, emit: Emit, cancel: threading.Event) -> None:
        names = {job.id: job.name for job in work.jobs or ()}  # every job, in the order shown

        def progress(value: JobProgress) -> None:
            names.setdefault(value.job_id, value.name)
            emit(m.ReleaseProgress(work.ticket, item_of(value)))

        if work.retry:
            failed = [JobProgress(job.id, job.name, ReleaseState.FAILED) for job in work.jobs or ()]
            summary = self.releaser.retry(work.user_id, failed, on_progress=progress, cancel=cancel)
        else:
            summary = self.releaser.release(work.user_id, jobs=work.jobs, on_progress=progress, cancel=cancel)
        jobs = tuple(Job(job_id, name, None, None, work.user_id) for job_id, name in names.items())
        items, retryable = _final(jobs, summary)
        printed = f"{len(summary.printed)}/{len(items)} printed"
        self._note(
            "retry" if work.retry else "release",
            badge_id=work.badge_id,
            user_id=work.user_id,
            jobs=len(items),
            outcome="printer_offline" if summary.printer_offline else printed,
        )
        emit(m.ReleaseFinished(work.ticket, items, retryable, summary.printer_offline))
        if self.releaser.unsettled():
            emit(m.JournalOpen())

    def _delete(self, work: m.Delete, emit: Emit, cancel: threading.Event) -> None:
        result = self.releaser.delete(work.jobs, user_id=work.user_id, cancel=cancel)
        outcome = f"{len(result.deleted)}/{len(work.jobs)} deleted"
        self._note(
            "delete", badge_id=work.badge_id, user_id=work.user_id, jobs=len(work.jobs), outcome=outcome
        )
        if result.failed:  # one job's cause says enough on the screen
            emit(m.JobsDeleted(work.ticket, result.deleted, Failure("error"), result.failed[0].cause))
        else:
            emit(m.JobsDeleted(work.ticket, result.deleted))

    def _check_pin(self, work: m.CheckPin, emit: Emit, cancel: threading.Event) -> None:
        if work.purpose == "technician":
            result = self.pins.check_technician(work.pin)
        else:
            result = self.pins.check_badge(work.badge_id, work.pin)
        outcome = "blocked" if result.permanent else result.outcome
        self._note(f"pin_{work.purpose}", badge_id=work.badge_id or None, outcome=outcome)
        timed = result.outcome == "locked" and not result.permanent
        locked_until = self.clock() + result.retry_in_s if timed else None
        emit(m.PinChecked(work.ticket, result.ok, locked_until, blocked=result.permanent))

    # --- enrolment ----------------------------------------------------------------------------

    def _self_enrol(self, work: m.SelfEnrol, emit: Emit, cancel: threading.Event) -> None:
        pair = self._pair("user", lambda code: emit(m.EnrolCode(work.ticket, code)), cancel)
        if pair is None:
            return
        try:
            user = self.cloud.me(pair.access_token)
        finally:
            self._revoke(pair.refresh_token)  # the station never keeps a user's token
        shown = public_name(user.display_name, user.email, user.id)
        signed_in = SignedIn(user.id, user.email, user.display_name, shown)
        emit(m.EnrolSignedIn(work.ticket, signed_in, len(self.directory.badges_of(user.id))))

    def _link_badge(self, work: m.LinkBadge, emit: Emit, cancel: threading.Event) -> None:
        user = work.user
        try:
            linked = self._link(work.badge_id, user, work.limit, cancel)
        except BadgeLimitError:
            emit(m.EnrolRefused(work.ticket))
            return
        if linked:
            self._note("enrol_self_confirmed", badge_id=work.badge_id, user_id=user.id, outcome="self")
            emit(m.Enrolled(work.ticket, User(user.id, user.shown)))

    def _link(self, badge_id: str, user: SignedIn, limit: int, cancel: threading.Event) -> bool:
        """Store badge → user unless cancelled; a cancel that comes during the write undoes it."""
        if cancel.is_set():
            return False
        self.directory.enrol(
            badge_id, user.id, email=user.email, display_name=user.display_name, how="self", limit=limit
        )
        if cancel.is_set():
            self.directory.remove(badge_id)
            return False
        return True

    def _revoke(self, refresh_token: str) -> None:
        try:
            self.cloud.revoke(refresh_token)
        except CloudError as exc:
            # Nothing more the station can do; the token is not kept anywhere.
            log.warning("could not revoke the enrolling user's token: %s", type(exc).__name__)

    def _tech_check_badge(self, work: m.TechCheckBadge, emit: Emit, cancel: threading.Event) -> None:
        entry = self.directory.lookup(work.badge_id)
        existing = "" if entry is None else entry.email or entry.display_name or entry.user_id
        emit(m.TechBadgeChecked(work.ticket, existing))

    def _find_users(self, work: m.FindUsers, emit: Emit, cancel: threading.Event) -> None:
        found = self.cloud.find_users(search=work.query)[:MAX_SEARCH_RESULTS]
        users = tuple(UserChoice(user.id, user.email, user.display_name) for user in found)
        emit(m.UsersFound(work.ticket, users))

    def _list_user_badges(self, work: m.ListUserBadges, emit: Emit, cancel: threading.Event) -> None:
        badges = tuple(
            BadgeRef(entry.badge_id, mask_badge(entry.badge_id), entry.enrolled_at, entry.enrolled_by)
            for entry in self.directory.badges_of(work.user_id)
            if entry.badge_id != work.badge_id
        )
        emit(m.TechUserBadges(work.ticket, badges))

    def _save_enrolment(self, work: m.SaveEnrolment, emit: Emit, cancel: threading.Event) -> None:
        user = work.user
        before = self.directory.lookup(work.badge_id)
        self.directory.enrol(
            work.badge_id,
            user.id,
            email=user.email,
            display_name=user.name,
            how="technician",
            replace=True,
            limit=work.limit,
            unlink=work.unlink,
        )
        previous_owner = before.user_id if before is not None and before.user_id != user.id else ""
        if previous_owner:  # the tapped badge was someone else's: it no longer is
            self._note("badge_unlinked", badge_id=work.badge_id, user_id=previous_owner, outcome="moved")
        if work.unlink:
            self._note("badge_unlinked", badge_id=work.unlink, user_id=user.id, outcome="replaced")
        outcome = "replaced" if work.unlink else "moved" if previous_owner else "added"
        self._note("enrol_technician", badge_id=work.badge_id, user_id=user.id, outcome=outcome)
        emit(m.TechEnrolled(work.ticket))

    # --- technician menu ----------------------------------------------------------------------

    def _save_setting(self, work: m.SaveSetting, emit: Emit, cancel: threading.Event) -> None:
        self.settings.set(work.name, work.value)
        self._note("setting", outcome=work.name)
        emit(m.SettingSaved(work.ticket, prefs_of(self.settings)))

    def _save_pin(self, work: m.SavePin, emit: Emit, cancel: threading.Event) -> None:
        if work.purpose == "technician":
            self.pins.set_technician(work.pin)
        else:
            self.pins.set_badge(work.badge_id, work.pin)
        self._note(f"pin_{work.purpose}", badge_id=work.badge_id or None, outcome="set")
        emit(m.PinSaved(work.ticket, self._pins_in_force()))

    def _switch_release_pins(self, work: m.SwitchReleasePins, emit: Emit, cancel: threading.Event) -> None:
        self.pins.set_release_on(work.on)
        self._note("pin_release", outcome="switched on" if work.on else "switched off")
        emit(m.PinSaved(work.ticket, self._pins_in_force(), switched=True))

    def _read_network(self, work: m.ReadNetwork, emit: Emit, cancel: threading.Event) -> None:
        hostname, addresses = self.network_info()
        emit(m.NetworkRead(work.ticket, hostname, addresses))

    def _note(self, event: str, **fields: Any) -> None:
        record(self.audit, event, **fields)


Handler = Callable[[Worker, Any, Emit, threading.Event], None]

HANDLERS: Final[dict[type, Handler]] = {
    m.LoadStart: Worker._load_start,
    m.ReadPins: Worker._read_pins,
    m.Probe: Worker._probe,
    m.Reconcile: Worker._reconcile,
    m.PairStart: Worker._pair_start,
    m.Lookup: Worker._lookup,
    m.LoadJobs: Worker._load_jobs,
    m.Release: Worker._release,
    m.Delete: Worker._delete,
    m.CheckPin: Worker._check_pin,
    m.SelfEnrol: Worker._self_enrol,
    m.LinkBadge: Worker._link_badge,
    m.TechCheckBadge: Worker._tech_check_badge,
    m.FindUsers: Worker._find_users,
    m.ListUserBadges: Worker._list_user_badges,
    m.SaveEnrolment: Worker._save_enrolment,
    m.SaveSetting: Worker._save_setting,
    m.SavePin: Worker._save_pin,
    m.SwitchReleasePins: Worker._switch_release_pins,
    m.ReadNetwork: Worker._read_network,
}
"""The handler of each kind of work: explicit, and a test checks that every kind has one."""


def _final(
    jobs: tuple[Job, ...], summary: ReleaseSummary
) -> tuple[tuple[JobProgressItem, ...], tuple[Job, ...]]:
    """Every job's final row in the order they were shown, and the jobs that may be retried."""
    settled = {
        progress.job_id: progress
        for bucket in (summary.printed, summary.failed, summary.timed_out, summary.held, summary.unconfirmed)
        for progress in bucket
    }
    items = tuple(
        item_of(settled[job.id]) if job.id in settled else JobProgressItem(job.id, job.name, "unconfirmed")
        for job in jobs
    )
    failed = {progress.job_id for progress in summary.failed}
    return items, tuple(job for job in jobs if job.id in failed)
