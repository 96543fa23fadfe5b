"""A user's session: load the waiting jobs, pick or release them all, follow the release, summary.

In release mode ``all`` a known badge goes straight from identifying to releasing every waiting
job: the release engine lists the jobs and checks the printer in the same round trip, and its
first progress report brings the releasing screen. In ``pick`` mode the list is shown and the
user selects, releases or deletes (with a confirmation), and every touch pushes the idle
deadline back. The summary keeps the user's id only while "retry" is possible and closes by
itself. The session ends on its idle timeout, on "Done", on a second tap of the same badge, or
when another badge is tapped; the next state holds nothing of the user.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from station.causes import Failure
from station.core import messages as m
from station.core.view import JobPhase
from station.release import JobProgress, ReleaseState, ReleaseSummary

if TYPE_CHECKING:
    from station.core.worker import Emit, Worker, WorkHandlers

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from station.causes import Cause
from station.cloud.models import Job
from station.core import exits, health, identify, pairing
from station.core import listener as ev
from station.core.intents import (
    INTENT_TYPES,
    Cancel,
    CancelDelete,
    ConfirmDelete,
    DeleteSelected,
    Intent,
    ReleaseAll,
    ReleaseSelected,
    RetryFailed,
    ToggleJob,
)
from station.core.intents import (
    Done as DoneIntent,
)
from station.core.messages import (
    Announce,
    Deadline,
    Delete,
    Effect,
    JobsDeleted,
    JobsLoaded,
    LoadJobs,
    NoAnswer,
    Play,
    Release,
    ReleaseFinished,
    ReleaseProgress,
    SetTimer,
    Tap,
)
from station.core.state import CoreState, Tick, User
from station.core.transition import Handler, Routes, Step, close, every, in_mode
from station.core.view import DoneOutcome, JobProgressItem, SessionBusy
from station.feedback import Pattern


@dataclass(frozen=True, slots=True)
class Picking:
    """Pick mode: the user's jobs on screen.

    :param jobs: the waiting jobs in ezeep's order (newest first).
    :param selected: ids of the selected jobs (the UI sends ``ToggleJob`` to change it).
    :param confirm_delete: non-empty while the delete confirmation for these jobs is shown.
    :param busy: ``loading`` (the list is being fetched) or ``deleting``; buttons disabled.
    :param problem: ``""`` or ``delete_failed`` (some jobs could not be deleted; ``cause`` says
        why, when one job's reason is known).
    :param expires_at: monotonic deadline of the session (idle timeout; every touch extends it).
    :param held_back: jobs shown but not offered, with the cause: a release of theirs is in doubt
        (it may still print), or they were sent before. They cannot be selected.
    """

    ticket: int
    badge_id: str = field(repr=False)
    user: User
    expires_at: float
    jobs: tuple[Job, ...] = ()
    selected: frozenset[str] = frozenset()
    confirm_delete: tuple[str, ...] = ()
    busy: SessionBusy = "loading"
    problem: Literal["", "delete_failed"] = ""
    cause: Cause | None = None
    held_back: tuple[tuple[str, Cause], ...] = ()

    def held(self, job_id: str) -> Cause | None:
        """Why job ``job_id`` is not offered, or ``None`` when it may be picked."""
        return next((cause for held, cause in self.held_back if held == job_id), None)

    @property
    def offered(self) -> tuple[Job, ...]:
        """The jobs that may be picked, released or deleted."""
        return tuple(job for job in self.jobs if self.held(job.id) is None)

    @property
    def user_name(self) -> str:
        """Who is signed in (display name or email)."""
        return self.user.name


@dataclass(frozen=True, slots=True)
class Releasing:
    """Jobs are being released; one row per job with its phase."""

    ticket: int
    badge_id: str = field(repr=False)
    user: User
    jobs: tuple[JobProgressItem, ...]

    @property
    def user_name(self) -> str:
        return self.user.name


@dataclass(frozen=True, slots=True)
class Done:
    """The summary after a release: what printed, what did not, and why.

    Keeps the user's id only so that "retry" can send failed jobs again.

    :param outcome: the headline: ``released`` (all printed or on their way), ``partly``,
        ``failed``, ``nothing_to_print``, ``printer_offline`` (jobs held), ``deleted`` (the
        user deleted the last job), ``error`` (something went wrong; ``cause`` says what).
    :param jobs: every job of the release with its final phase and its cause.
    :param expires_at: monotonic time the summary closes by itself (it also closes on
        ``Done``, a second tap of the same badge, or another badge).
    """

    ticket: int
    badge_id: str = field(repr=False)
    outcome: DoneOutcome
    expires_at: float
    jobs: tuple[JobProgressItem, ...] = ()
    user: User | None = None
    retryable: tuple[Job, ...] = field(default=(), repr=False)
    cause: Cause | None = None

    @property
    def can_retry(self) -> bool:
        """Some jobs definitely failed and may be sent again (``RetryFailed``)."""
        return bool(self.retryable)


def begin(core: CoreState, tick: Tick, ticket: int, badge_id: str, user: User) -> Step:
    """The badge (and PIN) are good: release everything, or load the list in pick mode.

    ezeep's first answer must come within ``answer_s``, or the station says it is offline (see
    :mod:`station.core.machine`).
    """
    answer = SetTimer("answer", tick.now + core.tuning.answer_s, ticket)
    if core.prefs.release_mode == "pick":
        at = tick.now + core.prefs.session_timeout_s
        session = Picking(ticket, badge_id, user, expires_at=at, busy="loading")
        load = LoadJobs(ticket, user.id)
        return core.with_mode(session), [load, answer, SetTimer("mode", at, ticket)]
    everything = Release(ticket, badge_id, user.id, None)
    return core.with_mode(identify.Identifying(ticket, badge_id, user)), [everything, answer]


def _nothing(core: CoreState, tick: Tick, ticket: int, badge_id: str) -> Step:
    done = Done(ticket, badge_id, "nothing_to_print", tick.now + core.tuning.done_linger_s)
    core, effects = exits.show_done(core, done)
    return core, [Play(Pattern.NOTHING_TO_PRINT), *effects]


def release(
    core: CoreState, ticket: int, badge_id: str, user: User, jobs: tuple[Job, ...], *, retry: bool = False
) -> Step:
    items = tuple(JobProgressItem(job.id, job.name, "waiting") for job in jobs)
    releasing = Releasing(ticket, badge_id, user, items)
    return core.with_mode(releasing), [Release(ticket, badge_id, user.id, jobs, retry=retry)]


def on_jobs(core: CoreState, event: JobsLoaded, tick: Tick) -> Step:
    mode = core.mode
    if not isinstance(mode, Picking):
        return core, []
    core, effects = health.cloud_up(core, tick)
    if not event.jobs:
        core, more = _nothing(core, tick, mode.ticket, mode.badge_id)
        return core, [*effects, *more]
    loaded = dataclasses.replace(mode, jobs=event.jobs, held_back=event.held_back, busy="")
    return core.with_mode(loaded), effects


def _releasing(core: CoreState, tick: Tick) -> tuple[CoreState, list[Effect], Releasing | None]:
    """The mode a release reports to; releasing everything starts it at the first report."""
    mode = core.mode
    if isinstance(mode, Releasing):
        return core, [], mode
    if isinstance(mode, identify.Identifying) and mode.user is not None:
        core, effects = health.cloud_up(core, tick)  # the engine has heard from ezeep
        return core, effects, Releasing(mode.ticket, mode.badge_id, mode.user, ())
    return core, [], None


def on_progress(core: CoreState, event: ReleaseProgress, tick: Tick) -> Step:
    core, effects, mode = _releasing(core, tick)
    if mode is None:
        return core, []
    item = event.item
    if any(job.id == item.id for job in mode.jobs):
        jobs = tuple(item if job.id == item.id else job for job in mode.jobs)
    else:
        jobs = (*mode.jobs, item)
    return core.with_mode(dataclasses.replace(mode, jobs=jobs)), effects


def outcome_of(jobs: tuple[JobProgressItem, ...], *, printer_offline: bool = False) -> DoneOutcome:
    """The summary's headline from every job's final phase."""
    phases = {job.phase for job in jobs}
    if printer_offline:
        return "printer_offline"
    if phases == {"printed"}:
        return "released"
    if phases <= {"failed", "held"}:
        return "failed"
    return "partly"  # some printed, or may yet print (timed out, unconfirmed)


def on_finished(core: CoreState, event: ReleaseFinished, tick: Tick) -> Step:
    core, effects, mode = _releasing(core, tick)
    if mode is None:
        return core, []
    if not event.jobs:
        core, more = _nothing(core, tick, mode.ticket, mode.badge_id)
        return core, [*effects, *more]
    outcome = outcome_of(event.jobs, printer_offline=event.printer_offline)
    if event.printer_offline:
        core, more = health.printer_held_jobs(core, tick)
        effects = [*effects, *more]
    done = Done(
        mode.ticket,
        mode.badge_id,
        outcome,
        tick.now + core.tuning.done_linger_s,
        jobs=event.jobs,
        user=mode.user if event.retryable else None,
        retryable=event.retryable,
    )
    core, more = exits.show_done(core, done)
    pattern = Pattern.RELEASED if outcome == "released" else Pattern.ERROR
    finished = Announce(ev.ReleaseFinished(outcome, event.jobs))
    return core, [Play(pattern), finished, *effects, *more]


def on_deleted(core: CoreState, event: JobsDeleted, tick: Tick) -> Step:
    mode = core.mode
    if not isinstance(mode, Picking):
        return core, []
    if event.failure is not None and event.failure.kind == "rejected":
        return pairing.needs_repair(core)
    gone = set(event.deleted)
    jobs = tuple(job for job in mode.jobs if job.id not in gone)
    if not jobs and event.failure is None:
        done = Done(mode.ticket, mode.badge_id, "deleted", tick.now + core.tuning.done_linger_s)
        return exits.show_done(core, done)
    session = dataclasses.replace(
        mode,
        jobs=jobs,
        selected=mode.selected - gone,
        busy="",
        problem="delete_failed" if event.failure is not None else "",
        cause=event.cause,
    )
    effects: list[Effect] = [Play(Pattern.ERROR)] if event.failure is not None else []
    return core.with_mode(session), effects


def on_session_intent(core: CoreState, mode: Picking, intent: Intent, tick: Tick) -> Step:
    """What a touch does on the job list; every touch also pushes the idle deadline back."""
    if isinstance(intent, DoneIntent):
        return exits.home(core)
    at = tick.now + core.prefs.session_timeout_s
    mode = dataclasses.replace(mode, expires_at=at)
    idle = not mode.busy
    picked = tuple(job for job in mode.offered if job.id in mode.selected)
    if isinstance(intent, ReleaseAll) and idle and mode.offered:
        return release(core, mode.ticket, mode.badge_id, mode.user, mode.offered)
    if isinstance(intent, ReleaseSelected) and idle and picked:
        return release(core, mode.ticket, mode.badge_id, mode.user, picked)
    effects: list[Effect] = [SetTimer("mode", at, mode.ticket)]
    if isinstance(intent, ToggleJob) and idle and any(job.id == intent.job_id for job in mode.offered):
        mode = dataclasses.replace(mode, selected=mode.selected ^ {intent.job_id}, problem="", cause=None)
    elif isinstance(intent, DeleteSelected) and idle and picked:
        mode = dataclasses.replace(mode, confirm_delete=tuple(job.id for job in picked))
    elif isinstance(intent, ConfirmDelete) and idle and mode.confirm_delete:
        doomed = tuple(job for job in mode.jobs if job.id in mode.confirm_delete)
        effects.append(Delete(mode.ticket, mode.badge_id, mode.user.id, doomed))
        mode = dataclasses.replace(mode, confirm_delete=(), busy="deleting", problem="", cause=None)
    elif isinstance(intent, CancelDelete | Cancel):
        mode = dataclasses.replace(mode, confirm_delete=())
    return core.with_mode(mode), effects


def on_done_intent(core: CoreState, mode: Done, intent: Intent, tick: Tick) -> Step:
    """On the summary: close it, or send the failed jobs again."""
    if isinstance(intent, DoneIntent | Cancel):
        return exits.home(core)
    if isinstance(intent, RetryFailed) and mode.user is not None and mode.retryable:
        return release(core, mode.ticket, mode.badge_id, mode.user, mode.retryable, retry=True)
    return core, []


_RELEASE: dict[type, Handler] = {ReleaseProgress: on_progress, ReleaseFinished: on_finished}


def _tap(core: CoreState, tap: Tap, tick: Tick) -> Step:
    mode = core.mode
    assert isinstance(mode, Picking | Done)
    if not tap.error and mode.badge_id and tap.badge_id == mode.badge_id:
        return exits.home(core)  # the second tap of the same badge logs out
    return identify.on_tap(core, tap, tick)


def _no_answer(core: CoreState, mode: Picking, event: NoAnswer, tick: Tick) -> Step:
    return identify.no_answer(core, tick) if mode.busy == "loading" else (core, [])


ROUTES: Routes = {
    identify.Identifying: _RELEASE,  # releasing everything: the first report brings the releasing screen
    Releasing: {**_RELEASE, Tap: identify.unless_same},
    Picking: {
        JobsLoaded: on_jobs,
        JobsDeleted: on_deleted,
        Tap: _tap,
        Deadline: close,
        NoAnswer: in_mode(Picking, _no_answer),
        **every(INTENT_TYPES, in_mode(Picking, on_session_intent)),
    },
    Done: {Tap: _tap, Deadline: close, **every(INTENT_TYPES, in_mode(Done, on_done_intent))},
}
"""The jobs, the release's reports, deletions, and every touch on the list and the summary."""


# --- work --------------------------------------------------------------------------------------


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


def _load_jobs(worker: Worker, work: m.LoadJobs, emit: Emit, cancel: threading.Event) -> None:
    jobs = tuple(worker.cloud.waiting_jobs(work.user_id))
    held_back = tuple(worker.releaser.held_back(jobs).items())  # a late release may still print
    emit(m.JobsLoaded(work.ticket, jobs, held_back))


def _release(worker: Worker, work: m.Release, emit: Emit, cancel: threading.Event) -> None:
    names = {job.id: job.name for job in work.jobs or ()}  # every job, in the order shown

    def progress(value: JobProgress) -> None:
        names.setdefault(value.job_id, value.name)
        emit(m.ReleaseProgress(work.ticket, item_of(value)))

    if work.retry:
        failed = [JobProgress(job.id, job.name, ReleaseState.FAILED) for job in work.jobs or ()]
        summary = worker.releaser.retry(work.user_id, failed, on_progress=progress, cancel=cancel)
    else:
        summary = worker.releaser.release(work.user_id, jobs=work.jobs, on_progress=progress, cancel=cancel)
    jobs = tuple(Job(job_id, name, None, None, work.user_id) for job_id, name in names.items())
    items, retryable = _final(jobs, summary)
    printed = f"{len(summary.printed)}/{len(items)} printed"
    worker.note(
        "retry" if work.retry else "release",
        badge_id=work.badge_id,
        user_id=work.user_id,
        jobs=len(items),
        outcome="printer_offline" if summary.printer_offline else printed,
    )
    emit(m.ReleaseFinished(work.ticket, items, retryable, summary.printer_offline))
    if worker.releaser.unsettled():
        emit(m.JournalOpen())


def _delete(worker: Worker, work: m.Delete, emit: Emit, cancel: threading.Event) -> None:
    result = worker.releaser.delete(work.jobs, user_id=work.user_id, cancel=cancel)
    outcome = f"{len(result.deleted)}/{len(work.jobs)} deleted"
    worker.note("delete", badge_id=work.badge_id, user_id=work.user_id, jobs=len(work.jobs), outcome=outcome)
    if result.failed:  # one job's cause says enough on the screen
        emit(m.JobsDeleted(work.ticket, result.deleted, Failure("error"), result.failed[0].cause))
    else:
        emit(m.JobsDeleted(work.ticket, result.deleted))


WORK: WorkHandlers = {
    m.LoadJobs: _load_jobs,
    m.Release: _release,
    m.Delete: _delete,
}
