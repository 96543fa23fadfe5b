"""The release engine: check the printer, release jobs in parallel, follow them, settle the journal."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from station.causes import Cause, Reason
from station.cloud.contract import Contract
from station.cloud.errors import (
    ClosedError,
    CloudError,
    NotFoundError,
    RefusedError,
    ServerError,
    TokenRejectedError,
    UnauthorisedError,
)
from station.cloud.models import Job, JobState, JobStatus, ListEnd, Printer, job_ids_for_log
from station.database import Database
from station.errors import StationError
from station.release._journal import IN_DOUBT_STATES, Change, Journal, JournalRow, RowState
from station.release._threads import CallPool
from station.release._values import DeleteResult, JobProgress, ReleaseState, ReleaseSummary

log = logging.getLogger(__name__)

ProgressCallback = Callable[[JobProgress], None]
CANCEL_CHECK_S: Final = 0.25  # how soon a set cancel event is noticed while waiting on requests
IN_DOUBT_S: Final = 300.0  # the quarantine window: longer than any request (and proxy) may live
_FINAL_ROW_STATES: Final[dict[ReleaseState, RowState]] = {
    ReleaseState.PRINTED: "printed",
    ReleaseState.FAILED: "failed",
    ReleaseState.TIMED_OUT: "timed_out",
}
_REFUSALS: Final[dict[RowState, tuple[ReleaseState, Cause]]] = {
    "intent": (ReleaseState.UNCONFIRMED, Cause(Reason.IN_DOUBT)),
    "deleting": (ReleaseState.UNCONFIRMED, Cause(Reason.DELETE_IN_DOUBT)),
    "printed": (ReleaseState.PRINTED, Cause(Reason.ALREADY_PRINTED)),
    "timed_out": (ReleaseState.TIMED_OUT, Cause(Reason.SENT_BEFORE)),
}  # why a job whose row is in that state is not sent (any other row: sent before)
_BUSY: Final = Cause(Reason.BEING_RELEASED)  # another call (or a reconcile) has the job right now
_NOT_THEIRS: Final = Cause(Reason.NOT_ALLOWED, text="the job is not the user's")


class ReleaseClient(Protocol):
    """The calls of :class:`station.cloud.api.EzeepClient` the engine uses."""

    @property
    def contract(self) -> Contract: ...

    def station_printer(self) -> Printer: ...

    def printers(self) -> list[Printer]: ...

    def waiting_jobs(
        self, user_id: str, *, on_page: Callable[[list[Job], ListEnd | None], None] | None = None
    ) -> list[Job]: ...

    def release(self, job_id: str, printer_id: str) -> str: ...

    def warm_print(self, requests: int) -> None: ...

    def status(self, spool_id: str) -> JobStatus: ...

    def delete(self, job_id: str) -> None: ...

    def owns(self, job: Job, user_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Target:
    job_id: str
    name: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _not_done(exc: BaseException, refusals: frozenset[int]) -> bool:
    """Whether ``exc`` proves the request did nothing: no token to send it with, refused at the
    door (a status of ``refusals``: see :attr:`Contract.refused_statuses`; other 5xx, such as a
    502 or 504 after a proxy gave up on ezeep, may come after the work was done), or never sent
    (the station closed its connection before it left)."""
    refused = isinstance(exc, ServerError) and exc.status in refusals
    never_sent = isinstance(exc, ClosedError) and not exc.sent
    return isinstance(exc, TokenRejectedError) or refused or never_sent


@dataclass(frozen=True, slots=True)
class _Sent:
    """What one release request came to."""

    progress: JobProgress
    spool_id: str = ""
    in_doubt: bool = False
    change: Change | None = None  # what the journal should record


@dataclass(slots=True)
class _Followed:
    target: _Target
    spool_id: str
    deadline: float
    next_poll: float
    printing: bool = False


@dataclass(frozen=True, slots=True)
class _Page:
    """One page of the user's queue as it arrived, and the future of the next (None: it was the
    last, and ``end`` says how the list ended)."""

    jobs: tuple[Job, ...]
    following: Future[_Page] | None
    end: ListEnd | None = None


@dataclass(slots=True)
class _Run:
    """The mutable state of one release call, used only by the calling thread.

    A job goes from ``known`` (or ``deferred``, while its in-doubt row waits for the whole job
    list) to claimed and sent once the printer check has said the printer is online.

    The list is paged by offset, and a released job leaves it: a job sent while later pages are
    still to come moves them, so one may be skipped, and this call would not release it. Such
    a list (``list_moved``; not one read whole, in one page) is read once more when every
    request of the call has been answered (``reread_due``); that reading moves nothing (its
    jobs wait for its end). Only a list read whole settles a row in doubt as gone
    (:class:`ListEnd`).
    """

    user_id: str
    emit: ProgressCallback
    cancel: threading.Event
    printer_check: Future[Printer] | None = None  # None once answered
    printer: Printer | None = None
    next_page: Future[_Page] | None = None  # the job list's next page; None: read (or not asked for)
    doubtful: dict[str, JournalRow] = field(default_factory=dict)  # the user's in-doubt rows
    listed: set[str] = field(default_factory=set)  # every job this reading of the list has held
    list_moved: bool = False  # a job was sent while pages of the list were still to come
    reread_due: bool = False  # read the list again once the requests in flight are answered
    rereading: bool = False
    order: list[_Target] = field(default_factory=list)  # every job of the call, as it became known
    known: list[_Target] = field(default_factory=list)  # waiting for the printer check
    deferred: list[_Target] = field(default_factory=list)  # in doubt: waiting for the whole list
    claimed: list[str] = field(default_factory=list)  # marked in flight by this call
    sent: bool = False  # a release request has been handed to the pool
    outcomes: dict[str, JobProgress] = field(default_factory=dict)
    following: dict[str, _Followed] = field(default_factory=dict)
    sends: dict[Future[_Sent], _Target] = field(default_factory=dict)
    polls: dict[Future[JobStatus], str] = field(default_factory=dict)
    in_doubt: list[_Target] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # journal writes not yet flushed

    def settle(self, progress: JobProgress) -> None:
        self.outcomes[progress.job_id] = progress
        self.emit(progress)


def _safe_callback(callback: ProgressCallback | None) -> ProgressCallback:
    def emit(progress: JobProgress) -> None:
        if callback is None:
            return
        try:
            callback(progress)
        except Exception:  # a subscriber's bug must not strand jobs half-released
            log.exception("release progress callback failed")

    return emit


class ReleaseEngine:
    """Releases a user's pull jobs on the station's printer; never releases a job twice.

    ``client``: the ezeep client (see :class:`ReleaseClient`). ``db``: the station database; the
    ``releases`` table is the journal. ``parallelism``: at most this many requests at once
    (``cloud.release_parallelism``; the release calls share their threads, a reconcile or a
    delete has as many of its own). ``job_timeout_s``: how long to follow a released job before
    calling it timed out. ``poll_interval_s``: pause between status checks of one job.
    ``in_doubt_s``: the quarantine window (``cloud.in_doubt_s``): a job whose request got no
    answer stays in doubt, never sent again, until ezeep's queue shows it gone or this long has
    passed since the station gave up on the request (see the package docstring).
    ``warm_print``: open the print host's connections while the printer check and the job list
    are on their way (:meth:`ReleaseClient.warm_print`), so the releases pay no handshake;
    False: the releases open them (how ``bench.release --field`` shows the difference).
    ``clock``: a monotonic clock for the timeouts and, within the engine's life, the quarantine
    window. ``now``: the wall clock the journal's stamps are read against (they outlive a restart).

    All methods block the calling thread (run them off the UI thread); ``on_progress`` is called
    on the calling thread, in order, and must not block. Cloud and storage errors raised before
    any job is sent propagate (nothing happened); after that, every job ends in the summary.
    :meth:`close` stops its threads.

    Example::

        engine = ReleaseEngine(client, db, parallelism=4, job_timeout_s=300, poll_interval_s=2)
        summary = engine.release(user_id, on_progress=print, cancel=threading.Event())
        engine.close()
    """

    def __init__(
        self,
        client: ReleaseClient,
        db: Database,
        *,
        parallelism: int = 4,
        job_timeout_s: float = 300.0,
        poll_interval_s: float = 2.0,
        in_doubt_s: float = IN_DOUBT_S,
        warm_print: bool = True,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if parallelism < 1:
            raise ValueError(f"parallelism must be at least 1, not {parallelism}")
        self._client = client
        self._journal = Journal(db)
        self._parallelism = parallelism
        self._job_timeout_s = job_timeout_s
        self._poll_interval_s = poll_interval_s
        self._in_doubt_s = in_doubt_s
        self._warm_print = warm_print
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()  # job ids whose intent row belongs to a running call
        # Job id -> this engine's clock when it last stamped the job's row in doubt (intent,
        # deleting): see _in_doubt_for. Rows an earlier process left count from _started.
        self._stamped: dict[str, float] = {}
        self._started = clock()
        # Kept between calls: no thread start delays a tap's requests (see station.release._threads).
        self._threads = ThreadPoolExecutor(parallelism, thread_name_prefix="release")

    def close(self) -> None:
        """Let the request threads end: at once when idle, else once the calls under way have
        ended (not waited for here: a stop must not hang on a request). A later release fails
        (:class:`RuntimeError`). Safe more than once."""
        self._threads.shutdown(wait=False)

    # --- public API ---------------------------------------------------------------------------

    def release(
        self,
        user_id: str,
        *,
        jobs: Sequence[Job] | None = None,
        printer_id: str | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> ReleaseSummary:
        """Release ``jobs`` (``None``: every job waiting for ``user_id``) and follow them.

        ``printer_id`` ``None`` means the station's own printer. If that printer is offline,
        nothing is sent and every job is ``held``. Setting ``cancel`` holds jobs not yet sent
        and stops following the ones already sent (they come back ``unconfirmed``). A job whose
        owner is not ``user_id`` (see :meth:`ReleaseClient.owns`) is never sent: it comes back
        ``held``, not allowed.
        """
        if jobs is None:
            return self._run(user_id, None, printer_id, on_progress, cancel, retry=False)
        foreign = self._not_owned(user_id, jobs, "release")
        refused = [JobProgress(job.id, job.name, ReleaseState.HELD, _NOT_THEIRS) for job in foreign]
        foreign_ids = {job.id for job in foreign}
        targets = [_Target(job.id, job.name) for job in jobs if job.id not in foreign_ids]
        return self._run(user_id, targets, printer_id, on_progress, cancel, retry=False, refused=refused)

    def retry(
        self,
        user_id: str,
        failed: Sequence[JobProgress],
        *,
        printer_id: str | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> ReleaseSummary:
        """Release again the jobs of an earlier summary's ``failed`` list.

        Only jobs whose journal row says they definitely failed (or were definitely never sent)
        for this same ``user_id`` are sent; any other job comes back as it stands
        (``unconfirmed`` if it may have been released), never sent twice.
        """
        targets = [_Target(progress.job_id, progress.name) for progress in failed]
        return self._run(user_id, targets, printer_id, on_progress, cancel, retry=True)

    def reconcile(self) -> list[JobProgress]:
        """Settle every journal row left in flight (after a restart, or after network trouble).

        An ``intent`` row whose job is no longer in its user's INQUEUE list was released: it
        becomes ``released`` (reported unconfirmed) and is never sent again. One still INQUEUE
        after the quarantine window was never released: its row becomes ``held`` (reported
        held) so the job can be released on the next tap; within the window it stays in doubt
        (reported unconfirmed). ``deleting`` rows are settled alike (not reported). A
        ``submitted`` row gets one status check. Rows of jobs being released right now are left
        alone. Rows whose user's queue cannot be read stay in doubt.
        """
        rows = self._unsettled_rows()
        intents: dict[str, list[JournalRow]] = {}
        for row in rows:
            if row.state in IN_DOUBT_STATES:
                intents.setdefault(row.user_id, []).append(row)
        submitted = [row for row in rows if row.state == "submitted"]
        if not rows:
            return []
        results: list[JobProgress] = []
        with ThreadPoolExecutor(self._parallelism, thread_name_prefix="reconcile") as pool:
            lists = {user: pool.submit(self._queue, user) for user in intents}
            statuses = {pool.submit(self._client.status, row.spool_id): row for row in submitted}
            for user, future in lists.items():
                try:
                    waiting, whole = future.result()
                except CloudError as exc:
                    cause = Cause.of_error(exc)
                    results += [
                        JobProgress(row.job_id, "", ReleaseState.UNCONFIRMED, cause)
                        for row in intents[user]
                        if row.state == "intent"
                    ]
                    continue
                results += self._settle_in_doubt(intents[user], waiting, {}, whole=whole)
            for status_future, row in statuses.items():
                results.append(self._settle_submitted(row, status_future))
        self._journal.prune()
        return results

    def unsettled(self) -> int:
        """How many journal rows are still in doubt or being followed by no one (``intent``,
        ``deleting`` or ``submitted``, leaving out jobs being released right now): :meth:`reconcile`
        has work left while this is above zero."""
        return len(self._unsettled_rows())

    def _unsettled_rows(self) -> list[JournalRow]:
        with self._lock:
            return [row for row in self._journal.unsettled() if row.job_id not in self._in_flight]

    def delete(
        self, jobs: Sequence[Job], *, user_id: str, cancel: threading.Event | None = None
    ) -> DeleteResult:
        """Delete ``user_id``'s waiting jobs from their queue, in parallel. A job already gone
        counts as deleted.

        A job being released right now, or one that may have been released (or deleted), is not
        touched; nor is a job whose owner is not ``user_id`` (it comes back failed, not allowed).
        A delete that gets no answer leaves its job in doubt (``unconfirmed``): it is not sent
        again until the queue shows the job gone or the quarantine window has passed.
        """
        cancel = cancel or threading.Event()
        foreign = {job.id for job in self._not_owned(user_id, jobs, "delete")}
        rows = self._journal.rows(job.id for job in jobs)
        with self._lock:
            refused = [
                JobProgress(job.id, job.name, ReleaseState.FAILED, _NOT_THEIRS)
                if job.id in foreign
                else JobProgress(job.id, job.name, ReleaseState.UNCONFIRMED, cause)
                for job in jobs
                if job.id in foreign or (cause := self._busy(job.id, rows.get(job.id))) is not None
            ]
            skip = {progress.job_id for progress in refused}
            to_delete = [job for job in jobs if job.id not in skip]
            # Jobs this station released before keep their row: it is what refuses a second release.
            journaled = [
                job.id for job in to_delete if job.id not in rows or rows[job.id].state in ("failed", "held")
            ]
            self._journal.record_delete(user_id, journaled)
            self._stamp(journaled)
            self._in_flight.update(journaled)
        deleted: list[str] = []
        failed: list[JobProgress] = []
        changes: list[Change] = []
        try:
            with ThreadPoolExecutor(self._parallelism, thread_name_prefix="delete") as pool:
                futures = {pool.submit(self._delete_one, job.id, cancel): job for job in to_delete}
                for future in cf.as_completed(futures):
                    job = futures[future]
                    cause, in_doubt = future.result()
                    if cause is None:
                        deleted.append(job.id)
                        continue
                    state = ReleaseState.UNCONFIRMED if in_doubt else ReleaseState.FAILED
                    failed.append(JobProgress(job.id, job.name, state, cause))
                    if in_doubt:
                        log.warning("delete of a job is in doubt: %s", cause.english)
                    changes.append(Change(job.id, "deleting" if in_doubt else "held", cause.english))
        finally:
            self._update(change for change in changes if change.job_id in journaled)
            self._journal.forget(deleted)
            with self._lock:
                self._in_flight.difference_update(journaled)
                self._unstamp(deleted)
        return DeleteResult(deleted=tuple(deleted), failed=tuple(failed + refused))

    # --- one release call ---------------------------------------------------------------------

    def _run(
        self,
        user_id: str,
        targets: list[_Target] | None,
        printer_id: str | None,
        on_progress: ProgressCallback | None,
        cancel: threading.Event | None,
        *,
        retry: bool,
        refused: Sequence[JobProgress] = (),
    ) -> ReleaseSummary:
        run = _Run(user_id, _safe_callback(on_progress), cancel or threading.Event())
        for progress in refused:
            run.settle(progress)
        run.doubtful = {
            row.job_id: row
            for row in self._unsettled_rows()
            if row.state in IN_DOUBT_STATES and row.user_id == user_id
        }
        pool = CallPool(self._threads)
        try:
            # The printer check and (when needed) the job list share the first round trip; each
            # job is sent as soon as it is known and the printer is known to be online, while
            # the list's further pages are still on their way.
            run.printer_check = pool.submit(self._printer, printer_id)
            if targets is None or run.doubtful:
                run.next_page = Future()
                pool.submit(self._read_list, user_id, run.next_page)
            if self._warm_print:  # the releases go to another host: it is connected meanwhile
                self._warm(self._parallelism if targets is None else min(self._parallelism, len(targets)))
            if targets is not None:
                self._take(run, targets)
            self._follow(run, pool, retry=retry)
        except BaseException:
            # Nothing sent: do not wait for the rest of the list (it is only read).
            pool.finish(wait=run.sent, cancel=True)
            raise
        finally:
            with self._lock:
                self._in_flight.difference_update(run.claimed)
        pool.finish()
        if run.in_doubt:
            self._recheck(run)
        self._journal.prune()
        outcomes = [run.outcomes[t.job_id] for t in run.order if t.job_id in run.outcomes]
        offline = run.printer is not None and not run.printer.online
        return ReleaseSummary.of([*refused, *outcomes], printer_offline=offline)

    def _warm(self, releases: int) -> None:
        """Open the print host's connections ahead; a failure here (no thread to be had) only
        means the releases connect as they would have, never a failed tap."""
        try:
            self._client.warm_print(releases)
        except Exception as exc:
            log.warning("could not open connections to the print host ahead: %s", type(exc).__name__)

    def _read_list(self, user_id: str, first: Future[_Page]) -> None:
        """On a pool thread: the user's queue page by page, each completing the future of its
        page (the last names no following one); a failure fails the page that was being read."""
        current: Future[_Page] | None = first

        def arrived(jobs: list[Job], end: ListEnd | None) -> None:
            nonlocal current
            following: Future[_Page] | None = Future() if end is None else None
            assert current is not None  # nothing comes after the last page
            current.set_result(_Page(tuple(jobs), following, end))
            current = following

        try:
            self._client.waiting_jobs(user_id, on_page=arrived)
        except Exception as exc:  # the calling thread decides what it means
            if current is not None:
                current.set_exception(exc)
            else:
                log.exception("the job list failed after its last page")
        else:
            if current is not None:  # a client that told no last page: nothing proven
                current.set_result(_Page((), None, ListEnd.CUT))

    def _take(self, run: _Run, targets: Iterable[_Target]) -> None:
        """Jobs just known: to be sent once the printer is known, or once the whole list is read
        when their row is in doubt (the list settles it first: it may have become sendable)."""
        seen = {t.job_id for t in run.order}
        for target in targets:
            if target.job_id in seen:
                continue
            seen.add(target.job_id)
            run.order.append(target)
            waits = run.next_page is not None and (run.rereading or target.job_id in run.doubtful)
            (run.deferred if waits else run.known).append(target)

    def _intake(self, run: _Run, done: set[Future[Any]]) -> None:
        """Take in the printer check's answer and the pages of the job list that arrived.

        A failure of either before any job was sent propagates (nothing happened); a list that
        fails after that ends early, and its jobs in doubt are judged by their rows alone.
        """
        if run.printer_check in done:
            run.printer, run.printer_check = run.printer_check.result(), None
        while run.next_page is not None and run.next_page.done():
            try:
                page = run.next_page.result()
            except CloudError as exc:
                if not run.sent:
                    raise
                log.warning("the job list ended early; released what it had: %s", Cause.of_error(exc).english)
                run.next_page = None
                break
            run.listed.update(job.id for job in page.jobs)
            self._take(run, (_Target(job.id, job.name) for job in page.jobs))
            run.next_page = page.following
            if page.following is None:
                whole = page.end is ListEnd.WHOLE
                if run.list_moved and not run.rereading and not whole:
                    run.reread_due = True  # see _Run
                else:
                    self._settle_in_doubt(run.doubtful.values(), run.listed, {}, whole=whole)
        if run.next_page is None and not run.reread_due:
            run.known += run.deferred
            run.deferred = []

    def _reread(self, run: _Run, pool: CallPool) -> None:
        """Read the list again, now that nothing of this call is in flight (see :class:`_Run`)."""
        log.info("the job list moved while it was read (jobs released meanwhile); reading it again")
        run.reread_due, run.rereading, run.listed = False, True, set()
        run.next_page = Future()
        pool.submit(self._read_list, run.user_id, run.next_page)

    def _dispatch(self, run: _Run, pool: CallPool, *, retry: bool) -> None:
        """Send the known jobs, now that the printer is known; hold them all if it is offline."""
        printer = run.printer
        if printer is None or not run.known:
            return
        batch, run.known = run.known, []
        if not printer.online:
            offline = Cause(Reason.PRINTER_OFFLINE, printer=printer.name, status=printer.status)
            for target in batch:
                run.settle(JobProgress(target.job_id, target.name, ReleaseState.HELD, offline))
            return
        to_send = self._claim(run, batch, retry=retry)
        run.claimed += [t.job_id for t in to_send]
        # Told before the intents are written: the core shows them while the disk flushes, instead
        # of competing with the request threads for the interpreter once they start.
        for target in to_send:
            run.emit(JobProgress(target.job_id, target.name, ReleaseState.QUEUED))
        try:
            self._journal.record_intent(run.user_id, printer.id, (t.job_id for t in to_send))
        except StationError as exc:
            if not run.sent:
                raise  # nothing happened yet
            with self._lock:
                self._in_flight.difference_update(t.job_id for t in to_send)
            for target in to_send:  # never sent: no row says otherwise
                run.settle(JobProgress(target.job_id, target.name, ReleaseState.HELD, Cause.of_error(exc)))
            return
        with self._lock:
            self._stamp(t.job_id for t in to_send)
        for target in to_send:
            run.sends[pool.submit(self._send, target, printer.id, run.cancel)] = target
            run.sent = True
            run.list_moved = run.list_moved or run.next_page is not None

    def held_back(self, jobs: Sequence[Job]) -> dict[str, Cause]:
        """Which of ``jobs`` (just listed as waiting) must not be offered for release, and why.

        A job whose last request got no answer stays held back until the quarantine window has
        passed (a late request may still land); one that was sent before, or is being sent now,
        too. The list is a fresh read of the queue, so rows whose window has passed are settled
        against it first: those jobs are offered again.
        """
        ids = [job.id for job in jobs]
        # Only the rows of jobs the list holds: it shows none gone.
        self._settle_in_doubt(self._journal.rows(ids).values(), set(ids), {}, whole=False)
        held: dict[str, Cause] = {}
        with self._lock:
            rows = self._journal.rows(ids)
            for job_id in ids:
                refusal = self._blocked(job_id, rows.get(job_id), "", retry=False)
                if refusal is not None:
                    held[job_id] = refusal[1]
        return held

    def _busy(self, job_id: str, row: JournalRow | None) -> Cause | None:
        """Why a job must not be deleted now (in flight, or in doubt), or ``None``. Engine lock held."""
        if job_id in self._in_flight:
            return _BUSY
        if row is not None and row.state in IN_DOUBT_STATES:
            return Cause(Reason.DELETE_IN_DOUBT if row.state == "deleting" else Reason.IN_DOUBT)
        return None

    def _not_owned(self, user_id: str, jobs: Sequence[Job], what: str) -> list[Job]:
        """The jobs whose owner is not ``user_id`` (logged by id: a bug or a hostile list)."""
        foreign = [job for job in jobs if not self._client.owns(job, user_id)]
        if foreign:
            ids = job_ids_for_log([job.id for job in foreign])
            log.warning("refused to %s %d job(s) that are not the user's: %s", what, len(foreign), ids)
        return foreign

    def _printer(self, printer_id: str | None) -> Printer:
        if printer_id is None:
            return self._client.station_printer()
        for printer in self._client.printers():
            if printer.id == printer_id:
                return printer
        raise NotFoundError(f"the printer {printer_id} is not known to ezeep")

    def _claim(self, run: _Run, targets: list[_Target], *, retry: bool) -> list[_Target]:
        """Pick the targets that may be sent and mark them in flight; settle the others."""
        to_send: list[_Target] = []
        refused: list[JobProgress] = []
        with self._lock:  # read the rows under the lock: another call may just have finished
            rows = self._journal.rows(t.job_id for t in targets)
            for target in targets:
                refusal = self._blocked(target.job_id, rows.get(target.job_id), run.user_id, retry=retry)
                if refusal is None:
                    to_send.append(target)
                    self._in_flight.add(target.job_id)
                else:
                    refused.append(JobProgress(target.job_id, target.name, *refusal))
        for progress in refused:
            run.settle(progress)
        return to_send

    def _blocked(
        self, job_id: str, row: JournalRow | None, user_id: str, *, retry: bool
    ) -> tuple[ReleaseState, Cause] | None:
        """Why a job must not be sent now (being sent, not ``user_id``'s to retry, or what its
        journal row says), or ``None`` when sending it is safe. Engine lock held."""
        if job_id in self._in_flight:
            return ReleaseState.UNCONFIRMED, _BUSY
        if retry and row is not None and row.user_id != user_id:
            return ReleaseState.HELD, _NOT_THEIRS  # a retry names jobs, not an owner
        return self._refusal(row, retry=retry)

    @staticmethod
    def _refusal(row: JournalRow | None, *, retry: bool) -> tuple[ReleaseState, Cause] | None:
        """Why a job must not be sent now, or ``None`` when sending it is safe."""
        if row is None:
            return (ReleaseState.HELD, Cause(Reason.NOT_FAILED)) if retry else None
        if row.state in ("failed", "held"):
            return None
        return _REFUSALS.get(row.state, (ReleaseState.UNCONFIRMED, Cause(Reason.SENT_BEFORE)))

    def _send(self, target: _Target, printer_id: str, cancel: threading.Event) -> _Sent:
        """Runs on a pool thread. The intent row is already committed."""
        job_id, name = target.job_id, target.name
        if cancel.is_set():
            progress = JobProgress(job_id, name, ReleaseState.HELD, Cause(Reason.CANCELLED))
            return _Sent(progress, change=Change(job_id, "held", progress.detail))
        try:
            spool_id = self._client.release(job_id, printer_id)
        except Exception as exc:  # a refusal, no answer, a garbled answer, or a bug
            return self._unsent(target, exc)
        change = Change(job_id, "submitted", spool_id=spool_id)
        return _Sent(JobProgress(job_id, name, ReleaseState.SUBMITTED), spool_id, change=change)

    def _unsent(self, target: _Target, exc: Exception) -> _Sent:
        """What a release request that ended in ``exc`` came to."""
        job_id, cause = target.job_id, Cause.of_error(exc)
        if isinstance(exc, NotFoundError | UnauthorisedError | RefusedError):
            # A definite refusal before anything was done (ezeep's own {"code": N} included, its
            # code kept in the cause for the screen): safe to retry.
            state: RowState = "failed"
            progress = JobProgress(job_id, target.name, ReleaseState.FAILED, cause)
        elif _not_done(exc, self._client.contract.refusals):
            state, progress = "held", JobProgress(job_id, target.name, ReleaseState.HELD, cause)
        else:
            # It may or may not have reached ezeep: the row stays ``intent``, stamped now, so the
            # quarantine window counts from the moment the station gave up on the request.
            progress = JobProgress(job_id, target.name, ReleaseState.UNCONFIRMED, cause)
            log.warning("release of a job is in doubt: %s", progress.detail)
            return _Sent(progress, in_doubt=True, change=Change(job_id, "intent", progress.detail))
        return _Sent(progress, change=Change(job_id, state, progress.detail))

    def _follow(self, run: _Run, pool: CallPool, *, retry: bool) -> None:
        """Take in the printer check and the job list, send each job as soon as it may go, wait
        for the sends, then poll the status of every submitted job until it settles."""
        while (
            run.printer_check or run.next_page or run.reread_due or run.known or run.sends or run.polls
        ) or run.following:
            if run.reread_due and not run.sends:
                self._reread(run, pool)
            now = self._clock()
            if run.cancel.is_set():
                self._stop_following(run)
            for followed in run.following.values():
                busy = followed.target.job_id in run.polls.values()
                if not busy and followed.next_poll <= now:
                    run.polls[pool.submit(self._client.status, followed.spool_id)] = followed.target.job_id
            self._expire(run, now)
            intake: list[Future[Any]] = [f for f in (run.printer_check, run.next_page) if f is not None]
            pending: list[Future[Any]] = [*intake, *run.sends, *run.polls]
            due = [f.next_poll for f in run.following.values() if f.target.job_id not in run.polls.values()]
            timeout = max(0.0, min([CANCEL_CHECK_S, *(t - now for t in due)]))
            done: set[Future[Any]] = set()
            if pending:
                done, _ = cf.wait(pending, timeout=timeout, return_when=cf.FIRST_COMPLETED)
            else:
                run.cancel.wait(timeout)
            self._intake(run, done)
            self._dispatch(run, pool, retry=retry)
            for send in [f for f in run.sends if f in done]:
                self._sent(run, run.sends.pop(send), send)
            for poll in [f for f in run.polls if f in done]:
                self._polled(run, run.polls.pop(poll), poll)
            if not run.sends:  # a disk flush would hold back telling the answers still to come
                self._flush(run)

    def _flush(self, run: _Run) -> None:
        """Write the journal changes gathered so far together, after telling the UI; while
        release requests are still out, not at all (one flush for all their answers).

        Only ``intent`` must be on disk before a request; these later states only save a
        reconcile some work (a row left ``intent`` by a crash is settled against the queue), so
        a failed write is logged and the rows stay in flight.
        """
        if not run.changes:
            return
        try:
            self._update(run.changes)
        except StationError:
            log.exception("could not record the progress of a release")
        run.changes.clear()

    def _update(self, changes: Iterable[Change]) -> None:
        """Write ``changes`` to the journal, stamping a row left in doubt on this engine's clock
        too (first, so that a failed write still has it: see :meth:`_in_doubt_for`)."""
        changes = list(changes)
        with self._lock:
            self._stamp(c.job_id for c in changes if c.state in IN_DOUBT_STATES)
            self._unstamp(c.job_id for c in changes if c.state not in IN_DOUBT_STATES)
        self._journal.update(changes)

    def _stamp(self, job_ids: Iterable[str]) -> None:
        """(Engine lock held.) The rows of ``job_ids`` were just stamped in doubt: the quarantine
        of each counts from no earlier than now on this engine's clock."""
        now = self._clock()
        self._stamped.update((job_id, now) for job_id in job_ids)

    def _unstamp(self, job_ids: Iterable[str]) -> None:
        """(Engine lock held.) The rows of ``job_ids`` left doubt, or the journal: their stamps go,
        so that the map holds only rows in doubt."""
        for job_id in job_ids:
            self._stamped.pop(job_id, None)

    def _sent(self, run: _Run, target: _Target, future: Future[_Sent]) -> None:
        try:
            sent = future.result()
        except Exception as exc:  # a bug in _send: the row still says intent, so in doubt
            log.exception("a release request ended in an unexpected error")
            cause = Cause.of_error(exc)
            sent = _Sent(
                JobProgress(target.job_id, target.name, ReleaseState.UNCONFIRMED, cause), in_doubt=True
            )
        run.settle(sent.progress)
        if sent.change is not None:
            run.changes.append(sent.change)
        if sent.in_doubt:
            run.in_doubt.append(target)
        elif sent.spool_id:
            now = self._clock()
            run.following[target.job_id] = _Followed(
                target, sent.spool_id, now + self._job_timeout_s, now + self._poll_interval_s
            )

    def _polled(self, run: _Run, job_id: str, future: Future[JobStatus]) -> None:
        followed = run.following.get(job_id)
        if followed is None:  # following stopped (cancel or timeout) while the poll was out
            return
        followed.next_poll = self._clock() + self._poll_interval_s
        try:
            status = future.result()
        except Exception as exc:  # keep following; the job timeout bounds this
            log.info("status check failed, will ask again: %s", Cause.of_error(exc).english)
            return
        target = followed.target
        progress = self._progress_of(target, status)
        if progress is None:
            if status.state is JobState.PRINTING and not followed.printing:
                followed.printing = True
                run.settle(JobProgress(target.job_id, target.name, ReleaseState.PRINTING))
            return
        del run.following[job_id]
        run.changes.append(self._final_change(progress))
        run.settle(progress)

    def _expire(self, run: _Run, now: float) -> None:
        for job_id, followed in list(run.following.items()):
            if followed.deadline <= now:
                del run.following[job_id]
                progress = JobProgress(
                    job_id, followed.target.name, ReleaseState.TIMED_OUT, self._timed_out()
                )
                run.changes.append(self._final_change(progress))
                run.settle(progress)

    def _stop_following(self, run: _Run) -> None:
        for job_id, followed in list(run.following.items()):
            del run.following[job_id]
            stopped = Cause(Reason.STOPPED_FOLLOWING)
            run.settle(JobProgress(job_id, followed.target.name, ReleaseState.UNCONFIRMED, stopped))

    def _recheck(self, run: _Run) -> None:
        """One fresh look at the queue for jobs whose release request ended ambiguously."""
        try:
            waiting, whole = self._queue(run.user_id)
        except CloudError as exc:
            log.warning("cannot check jobs in doubt yet: %s", Cause.of_error(exc).english)
            return
        rows = self._journal.rows(t.job_id for t in run.in_doubt)
        names = {t.job_id: t.name for t in run.in_doubt}
        for progress in self._settle_in_doubt(rows.values(), waiting, names, whole=whole):
            run.settle(progress)

    def _queue(self, user_id: str) -> tuple[set[str], bool]:
        """The ids of the jobs waiting in ``user_id``'s queue, and whether the list was read
        whole (:class:`ListEnd`): only then is a job it does not hold gone from the queue."""
        ends: list[ListEnd] = []

        def page(jobs: list[Job], end: ListEnd | None) -> None:
            if end is not None:
                ends.append(end)

        waiting = {job.id for job in self._client.waiting_jobs(user_id, on_page=page)}
        return waiting, ends == [ListEnd.WHOLE]

    # --- settling rows ------------------------------------------------------------------------

    def _settle_in_doubt(
        self, rows: Iterable[JournalRow], waiting: set[str], names: dict[str, str], *, whole: bool
    ) -> list[JobProgress]:
        """Settle ``intent`` and ``deleting`` rows against a fresh INQUEUE list (see the package
        docstring); the progress of the ``intent`` ones.

        A job gone from the queue was released (deleted); only a list read ``whole`` can show
        that (:class:`ListEnd`), any other leaves a job it does not hold in doubt. One still
        waiting was not, once the quarantine window has passed since the request was given up;
        before that a late request may still land, so the row stays in doubt. Holds the engine
        lock so that a row another call has just claimed is never touched.
        """
        results: list[JobProgress] = []
        gone: list[JournalRow] = []
        still_waiting: list[JournalRow] = []
        now = self._now()
        with self._lock:
            for row in rows:
                if row.state not in IN_DOUBT_STATES or row.job_id in self._in_flight:
                    continue
                listed = row.job_id in waiting
                if not listed and whole:
                    gone.append(row)
                    cause, state = Cause(Reason.OUTCOME_UNKNOWN), ReleaseState.UNCONFIRMED
                elif listed and self._in_doubt_for(row, now) >= self._in_doubt_s:
                    still_waiting.append(row)
                    cause, state = Cause(Reason.STILL_WAITING), ReleaseState.HELD
                else:
                    cause, state = Cause(Reason.IN_DOUBT), ReleaseState.UNCONFIRMED
                if row.state == "intent":
                    results.append(JobProgress(row.job_id, names.get(row.job_id, ""), state, cause))
            self._journal.settle(gone, still_waiting)
            self._unstamp(row.job_id for row in (*gone, *still_waiting))
        return results

    def _in_doubt_for(self, row: JournalRow, now: datetime) -> float:
        """(Engine lock held.) Seconds that ``row``'s job has surely been in doubt: since the
        later of its stamp in the journal (wall clock) and its stamp on this engine's clock.

        A Pi has no clock of its own: the station starts on the time saved at the last shutdown,
        and NTP sets it later, maybe hours forward; a stamp made before looks hours old after
        it. And a row this engine did not stamp was left by a process that may have sent its
        request until it ended (a batch's later jobs go out long after their intent is written):
        it counts from this engine's start. So neither cuts the window short.
        """
        on_wall = (now - row.updated_at).total_seconds()
        return min(on_wall, self._clock() - self._stamped.get(row.job_id, self._started))

    def _settle_submitted(self, row: JournalRow, future: Future[JobStatus]) -> JobProgress:
        try:
            status = future.result()
        except CloudError as exc:
            return JobProgress(row.job_id, "", ReleaseState.UNCONFIRMED, Cause.of_error(exc))
        progress = self._progress_of(_Target(row.job_id, ""), status)
        if progress is None:
            age = (datetime.now(UTC) - row.updated_at).total_seconds()
            if age < self._job_timeout_s:
                return JobProgress(row.job_id, "", ReleaseState.SUBMITTED)
            progress = JobProgress(row.job_id, "", ReleaseState.TIMED_OUT, self._timed_out())
        self._update([self._final_change(progress)])
        return progress

    @staticmethod
    def _progress_of(target: _Target, status: JobStatus) -> JobProgress | None:
        """The final progress a status means, or ``None`` while the job is still going."""
        if status.state is JobState.PRINTED:
            return JobProgress(target.job_id, target.name, ReleaseState.PRINTED)
        if status.state is JobState.FAILED:
            cause = Cause(Reason.PRINTER_ERROR, code=status.code)
            return JobProgress(target.job_id, target.name, ReleaseState.FAILED, cause)
        if status.state is JobState.UNKNOWN_JOB:
            lost = Cause(Reason.LOST_BY_EZEEP)
            return JobProgress(target.job_id, target.name, ReleaseState.UNCONFIRMED, lost)
        return None

    def _timed_out(self) -> Cause:
        return Cause(Reason.TIMED_OUT, timeout_s=self._job_timeout_s)

    @staticmethod
    def _final_change(progress: JobProgress) -> Change:
        return Change(progress.job_id, _FINAL_ROW_STATES.get(progress.state, "released"), progress.detail)

    def _delete_one(self, job_id: str, cancel: threading.Event) -> tuple[Cause | None, bool]:
        """Why ``job_id`` could not be deleted (``None`` when it is gone), and whether the
        delete is in doubt (it may have reached ezeep)."""
        if cancel.is_set():
            return Cause(Reason.CANCELLED), False
        try:
            self._client.delete(job_id)
        except NotFoundError:
            return None, False  # already gone: what was asked for
        except CloudError as exc:  # in doubt unless refused before anything was done
            refused = isinstance(exc, UnauthorisedError | RefusedError) or _not_done(
                exc, self._client.contract.refusals
            )
            return Cause.of_error(exc), not refused
        return None, False
