"""The release engine end to end: the real EzeepClient over HTTP against the ezeep emulator.

Every test checks the emulator's own release counts: no job is ever released twice, and a job
that was not released is still waiting in its user's queue (none is lost).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from station.causes import Cause, Reason
from station.cloud.api import EzeepClient
from station.cloud.contract import JOBS_PATH, PAGE_SIZE, PRINTERS_PATH, Contract
from station.cloud.errors import CloudError
from station.cloud.models import Job
from station.config import CloudSection
from station.database import memory_database
from station.emulator import Emulator
from station.errors import StorageError
from station.release import JobProgress, ReleaseEngine, ReleaseState
from station.release._journal import Journal
from tests.support.cloud import EmulatorFactory, add_jobs, pair, stack_for, waiting_ids
from tests.support.cutting_proxy import CuttingProxy
from tests.support.emulator_http import wait_for_slow_done

IN_DOUBT_S = 60.0  # the quarantine window of the tests' engines (on the station's wall clock)


def assert_once_and_none_lost(emulator: Emulator, email: str, job_ids: list[str]) -> None:
    counts = emulator.release_counts()
    assert {job_id: counts.get(job_id, 0) for job_id in job_ids if counts.get(job_id, 0) > 1} == {}
    lost = [
        job_id
        for job_id in job_ids
        if counts.get(job_id, 0) == 0 and job_id not in waiting_ids(emulator, email)
    ]
    assert lost == []


class Station:
    """A paired station: database, client and a release engine."""

    def __init__(
        self,
        emulator: Emulator,
        *,
        url: str | None = None,
        timeout_s: float = 5.0,
        cloud: CloudSection | None = None,
        **engine: float,
    ) -> None:
        self.emulator = emulator
        self.db = memory_database()
        pair(emulator, self.db)
        self.cloud = stack_for(url or emulator.url, self.db, timeout_s=timeout_s, cloud=cloud)
        self.client = self.cloud.client
        self.printer = self.client.station_printer()
        self.user = emulator.users[4]  # seeded with no jobs of its own
        self.progress: list[JobProgress] = []
        self.later_s = 0.0  # how far the engines' clocks run ahead (past a quarantine window)
        self.wall_ahead_s = 0.0  # how far the wall clock alone was set forward (NTP)
        options = {"parallelism": 4, "job_timeout_s": 20.0, "poll_interval_s": 0.05, **engine}
        self.engine = self.new_engine(**options)

    def new_engine(self, **options: float) -> ReleaseEngine:
        return ReleaseEngine(
            self.client,
            self.db,
            parallelism=int(options.get("parallelism", 4)),
            job_timeout_s=options.get("job_timeout_s", 20.0),
            poll_interval_s=options.get("poll_interval_s", 0.05),
            in_doubt_s=options.get("in_doubt_s", IN_DOUBT_S),
            clock=self.clock,
            now=self.now,
        )

    def clock(self) -> float:
        return time.monotonic() + self.later_s

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.later_s + self.wall_ahead_s)

    def after_quarantine(self) -> None:
        """Let the clocks pass the quarantine window (of every engine of this station)."""
        self.later_s += IN_DOUBT_S + 1

    def jobs(self, count: int) -> list[str]:
        return add_jobs(self.emulator, self.user.email, count)


@pytest.fixture
def station(emulator: Emulator) -> Station:
    return Station(emulator)


def states(progress: tuple[JobProgress, ...] | list[JobProgress]) -> dict[str, ReleaseState]:
    return {p.job_id: p.state for p in progress}


def journal_details(station: Station, job_ids: list[str]) -> set[str]:
    """The ``detail`` column of the journal rows of ``job_ids``."""
    rows = station.db.execute("SELECT job_id, detail FROM releases")
    return {detail for job_id, detail in rows if job_id in job_ids}


# --- the ordinary flows ---------------------------------------------------------------------


def test_release_all_prints_every_waiting_job_once(station: Station) -> None:
    ids = station.jobs(5)
    summary = station.engine.release(station.user.id, on_progress=station.progress.append)
    assert sorted(p.job_id for p in summary.printed) == sorted(ids)
    assert summary.all_printed
    assert station.emulator.release_counts() == dict.fromkeys(ids, 1)
    assert waiting_ids(station.emulator, station.user.email) == set()
    for job_id in ids:  # each job went queued -> submitted -> ... -> printed, in that order
        seen = [p.state for p in station.progress if p.job_id == job_id]
        assert seen[0] is ReleaseState.QUEUED
        assert seen[1] is ReleaseState.SUBMITTED
        assert seen[-1] is ReleaseState.PRINTED
    # A second tap finds nothing, and the same jobs passed again are refused, not resent.
    assert station.engine.release(station.user.id).printed == ()
    again = station.engine.release(station.user.id, jobs=station.client.waiting_jobs(station.user.id))
    assert again == type(again)()
    refused = station.engine.release(station.user.id, jobs=_jobs_by_id(station, ids))
    assert {p.cause for p in refused.printed} == {Cause(Reason.ALREADY_PRINTED)}
    assert {p.detail for p in refused.printed} == {"already printed"}
    assert station.emulator.release_counts() == dict.fromkeys(ids, 1)


def _jobs_by_id(station: Station, ids: list[str]) -> list[Job]:
    return [Job(id=job_id, name="", created=None, pages=None, owner_id=station.user.id) for job_id in ids]


def test_picked_jobs_only_are_released(station: Station) -> None:
    ids = station.jobs(4)
    picked = [job for job in station.client.waiting_jobs(station.user.id) if job.id in ids[:2]]
    summary = station.engine.release(station.user.id, jobs=picked, printer_id=station.printer.id)
    assert sorted(p.job_id for p in summary.printed) == sorted(ids[:2])
    assert waiting_ids(station.emulator, station.user.email) == set(ids[2:])


def test_offline_printer_keeps_the_jobs_held(station: Station) -> None:
    ids = station.jobs(3)
    station.emulator.set_printer_status(station.printer.id, "Offline")
    summary = station.engine.release(station.user.id, on_progress=station.progress.append)
    assert summary.printer_offline
    assert sorted(p.job_id for p in summary.held) == sorted(ids)
    offline = Cause(Reason.PRINTER_OFFLINE, printer=station.printer.name, status="Offline")
    assert {p.cause for p in summary.held} == {offline}
    assert {p.detail for p in summary.held} == {
        f"the printer {station.printer.name} is offline; your jobs are kept"
    }
    assert station.emulator.release_counts() == {}
    assert waiting_ids(station.emulator, station.user.email) == set(ids)


def test_failed_jobs_can_be_retried_and_only_those(station: Station) -> None:
    ids = station.jobs(3)
    station.emulator.set_printer_fails(station.printer.id, True)
    summary = station.engine.release(station.user.id)
    assert sorted(p.job_id for p in summary.failed) == sorted(ids)
    assert {p.cause for p in summary.failed} == {Cause(Reason.PRINTER_ERROR, code=3011)}
    assert journal_details(station, ids) == {"the printer reported an error (3011)"}  # English, for people
    station.emulator.set_printer_fails(station.printer.id, False)
    retried = station.engine.retry(station.user.id, summary.failed)
    assert sorted(p.job_id for p in retried.printed) == sorted(ids)
    assert station.emulator.release_counts() == dict.fromkeys(ids, 2)  # once failed, once printed
    # Printed jobs are never "retried".
    again = station.engine.retry(station.user.id, retried.printed)
    assert {p.state for p in again.printed} == {ReleaseState.PRINTED}
    assert station.emulator.release_counts() == dict.fromkeys(ids, 2)


def test_a_job_that_never_finishes_times_out(make_emulator: EmulatorFactory) -> None:
    station = Station(make_emulator(job_duration_s=600), job_timeout_s=0.3)
    ids = station.jobs(2)
    summary = station.engine.release(station.user.id)
    assert sorted(p.job_id for p in summary.timed_out) == sorted(ids)
    assert {p.cause for p in summary.timed_out} == {Cause(Reason.TIMED_OUT, timeout_s=0.3)}
    assert journal_details(station, ids) == {"not finished after 0.3 s; it may still print"}
    assert station.engine.release(station.user.id, jobs=_jobs_by_id(station, ids)).timed_out != ()
    assert station.emulator.release_counts() == dict.fromkeys(ids, 1)


def test_delete_removes_jobs_and_tolerates_gone_ones(station: Station) -> None:
    ids = station.jobs(3)
    jobs = station.client.waiting_jobs(station.user.id)
    result = station.engine.delete(jobs[:2], user_id=station.user.id)
    assert sorted(result.deleted) == sorted(j.id for j in jobs[:2])
    assert result.failed == ()
    assert waiting_ids(station.emulator, station.user.email) == {jobs[2].id}
    again = station.engine.delete(jobs[:2], user_id=station.user.id)
    assert sorted(again.deleted) == sorted(j.id for j in jobs[:2])
    assert station.emulator.release_counts() == {}
    assert set(ids) == {j.id for j in jobs}
    cancelled = threading.Event()
    cancelled.set()
    kept = station.engine.delete(jobs[2:], user_id=station.user.id, cancel=cancelled)
    assert (kept.deleted, [p.cause for p in kept.failed]) == ((), [Cause(Reason.CANCELLED)])


def test_cancel_holds_what_was_not_sent(make_emulator: EmulatorFactory) -> None:
    emulator = make_emulator()
    station = Station(emulator, parallelism=1)
    ids = station.jobs(5)
    emulator.set_faults(latency_s=0.1)
    cancel = threading.Event()

    def on_progress(progress: JobProgress) -> None:
        if progress.state is ReleaseState.SUBMITTED:
            cancel.set()

    summary = station.engine.release(station.user.id, on_progress=on_progress, cancel=cancel)
    emulator.set_faults(latency_s=0.0)
    assert summary.held != ()
    assert set(states(summary.held)) <= waiting_ids(emulator, station.user.email)
    assert all(p.state is ReleaseState.UNCONFIRMED for p in summary.unconfirmed)
    assert_once_and_none_lost(emulator, station.user.email, ids)


def test_two_taps_at_once_release_each_job_once(make_emulator: EmulatorFactory) -> None:
    emulator = make_emulator()
    station = Station(emulator)
    ids = station.jobs(8)
    emulator.set_faults(latency_s=0.05)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(station.engine.release(station.user.id)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert emulator.release_counts() == dict.fromkeys(ids, 1)


def release_threads() -> set[int | None]:
    return {thread.ident for thread in threading.enumerate() if thread.name.startswith("release")}


def test_taps_reuse_the_engines_threads_and_a_closed_engine_sends_nothing(station: Station) -> None:
    station.emulator.set_faults(latency_s=0.05)  # requests stay out: the first tap starts all 4 threads
    first = station.engine.release(station.user.id, jobs=_jobs_by_id(station, station.jobs(6)))
    started = release_threads()
    second = station.engine.release(station.user.id, jobs=_jobs_by_id(station, station.jobs(6)))
    assert len(first.printed) == len(second.printed) == 6
    assert release_threads() <= started  # no thread started for the second tap's requests
    station.engine.close()
    station.engine.close()  # a second close changes nothing
    left = station.jobs(1)
    with pytest.raises(RuntimeError):
        station.engine.release(station.user.id)
    assert waiting_ids(station.emulator, station.user.email) == set(left)
    assert Journal(station.db).rows(left) == {}  # not even an intent


def test_no_job_is_sent_when_the_intent_cannot_be_recorded(station: Station) -> None:
    ids = station.jobs(3)
    station.db.execute("PRAGMA query_only = ON")  # every write now fails, as on a broken disk
    with pytest.raises(StorageError, match="record the release"):
        station.engine.release(station.user.id)
    assert station.emulator.release_counts() == {}
    assert waiting_ids(station.emulator, station.user.email) == set(ids)


# --- the first round trip: the printer check and the job list at once ----------------------


def test_the_first_page_is_released_while_the_next_is_on_its_way(make_emulator: EmulatorFactory) -> None:
    station = Station(make_emulator(job_duration_s=0.05))
    ids = station.jobs(PAGE_SIZE + 3)  # two pages
    station.emulator.set_faults(slow_done_s=0.5, slow_path=JOBS_PATH)  # each page takes its time
    queued_at_first_answer: list[set[str]] = []

    def watch(progress: JobProgress) -> None:
        station.progress.append(progress)
        if progress.state is ReleaseState.SUBMITTED and not queued_at_first_answer:
            queued_at_first_answer.append(
                {p.job_id for p in station.progress if p.state is ReleaseState.QUEUED}
            )

    summary = station.engine.release(station.user.id, on_progress=watch)
    # ezeep had accepted a job before the second page's jobs were known (they are the oldest).
    assert queued_at_first_answer[0] and queued_at_first_answer[0] <= set(ids[3:])
    # None was skipped: the releases moved the later pages (offsets), so the list was read again.
    assert sorted(p.job_id for p in summary.printed) == sorted(ids)
    assert station.emulator.release_counts() == dict.fromkeys(ids, 1)


def test_a_printer_check_that_fails_while_the_list_is_on_its_way_sends_nothing(emulator: Emulator) -> None:
    with CuttingProxy(emulator.url) as proxy:
        station = Station(emulator, url=proxy.url)
        ids = station.jobs(3)
        emulator.set_faults(slow_done_s=3.0, slow_path=JOBS_PATH)
        proxy.cut_after = PRINTERS_PATH.encode()  # the printer check gets no answer
        with pytest.raises(CloudError):
            station.engine.release(station.user.id, on_progress=station.progress.append)
        assert emulator.stats()["slow_done"] == 0  # the call did not wait for the list
        emulator.set_faults(slow_done_s=0.0)
    assert station.progress == []
    assert emulator.release_counts() == {}
    assert waiting_ids(emulator, station.user.email) == set(ids)


def test_a_picked_job_goes_out_while_the_list_settles_another_in_doubt(station: Station) -> None:
    doubtful, clear = station.jobs(2)
    # A crash right after the intent was committed, before the request left: in doubt.
    Journal(station.db).record_intent(station.user.id, station.printer.id, [doubtful])
    station.emulator.set_faults(slow_done_s=0.5, slow_path=JOBS_PATH)  # the list that settles it
    summary = station.engine.release(
        station.user.id, jobs=_jobs_by_id(station, [doubtful, clear]), on_progress=station.progress.append
    )
    order = [(p.job_id, p.state) for p in station.progress]
    # The clear job was queued and accepted before the list had settled the other one.
    assert order.index((clear, ReleaseState.SUBMITTED)) < min(
        n for n, (job_id, _) in enumerate(order) if job_id == doubtful
    )
    assert states(summary.unconfirmed) == {doubtful: ReleaseState.UNCONFIRMED}  # still listed: in doubt
    assert [p.job_id for p in summary.printed] == [clear]
    assert station.emulator.release_counts() == {clear: 1}


def test_a_list_that_fails_after_releases_went_out_ends_with_what_it_had(
    make_emulator: EmulatorFactory,
) -> None:
    station = Station(make_emulator(job_duration_s=0.05))
    ids = station.jobs(PAGE_SIZE + 2)
    # Each page takes 1 s: the first comes, the second would end after the list's 1.6 s.
    impatient = EzeepClient(station.cloud.http, station.cloud.keeper, list_deadline_s=1.6)
    engine = ReleaseEngine(impatient, station.db, parallelism=4, job_timeout_s=20.0, poll_interval_s=0.05)
    station.emulator.set_faults(slow_done_s=1.0, slow_path=JOBS_PATH)
    summary = engine.release(station.user.id)  # no error: jobs went out, each ends in the summary
    station.emulator.set_faults(slow_done_s=0.0)
    assert len(summary.printed) == PAGE_SIZE
    assert_once_and_none_lost(station.emulator, station.user.email, ids)
    assert len(waiting_ids(station.emulator, station.user.email)) == 2  # the second page's, for the next tap


def test_jobs_listed_after_the_printer_was_found_offline_are_held_too(make_emulator: EmulatorFactory) -> None:
    station = Station(make_emulator())
    ids = station.jobs(PAGE_SIZE + 2)
    station.emulator.set_printer_status(station.printer.id, "Offline")
    station.emulator.set_faults(slow_done_s=0.2, slow_path=JOBS_PATH)  # the printer check comes first
    summary = station.engine.release(station.user.id)
    assert summary.printer_offline
    assert sorted(p.job_id for p in summary.held) == sorted(ids)
    assert station.emulator.release_counts() == {}


# --- network trouble ------------------------------------------------------------------------


def test_server_errors_leave_jobs_held_never_doubled(station: Station) -> None:
    ids = station.jobs(3)
    station.engine = station.new_engine(parallelism=1)
    _fail_releases_with_503(station, count=2)
    summary = station.engine.release(station.user.id)
    assert len(summary.held) == 2  # a 503 is a refusal at the door: nothing was done
    assert len(summary.printed) == 1
    again = station.engine.release(station.user.id)
    assert len(again.printed) == 2
    assert station.emulator.release_counts() == dict.fromkeys(ids, 1)


def _fail_releases_with_503(station: Station, count: int) -> None:
    """Arm ``count`` 503 answers so that they hit release requests (not the list or check)."""
    original = station.client.release

    def release(job_id: str, printer_id: str) -> str:
        armed = station.emulator.faults.error_5xx
        if release.left > 0 and armed == 0:  # type: ignore[attr-defined]
            release.left -= 1  # type: ignore[attr-defined]
            station.emulator.set_faults(error_5xx=1)
        return original(job_id, printer_id)

    release.left = count  # type: ignore[attr-defined]
    station.client.release = release  # type: ignore[method-assign]


def test_network_cut_mid_release_then_reconcile(make_emulator: EmulatorFactory) -> None:
    emulator = make_emulator()
    station = Station(emulator, parallelism=2, job_timeout_s=0.5)
    ids = station.jobs(8)
    emulator.set_faults(latency_s=0.05)
    submitted = threading.Event()

    def on_progress(progress: JobProgress) -> None:
        if progress.state is ReleaseState.SUBMITTED and not submitted.is_set():
            submitted.set()
            emulator.set_faults(offline=True)

    summary = station.engine.release(station.user.id, on_progress=on_progress)
    assert summary.unconfirmed != ()  # the rest could not be confirmed while the network was down
    assert_once_and_none_lost(emulator, station.user.email, ids)

    emulator.set_faults(offline=False, latency_s=0.0)
    settled = station.new_engine().reconcile()
    assert {p.state for p in settled} <= {ReleaseState.UNCONFIRMED, ReleaseState.PRINTED}
    # Within the quarantine window a job whose request got no answer is not sent again...
    early = station.new_engine().release(station.user.id)
    assert early.printed == () and {p.cause for p in early.unconfirmed} == {Cause(Reason.IN_DOUBT)}
    assert_once_and_none_lost(emulator, station.user.email, ids)
    restarted = station.new_engine()
    station.after_quarantine()  # ...after it, the queue is read again and what still waits is sent
    restarted.release(station.user.id)
    assert emulator.release_counts() == dict.fromkeys(ids, 1)
    assert waiting_ids(emulator, station.user.email) == set()


def test_lost_answers_are_never_resent(emulator: Emulator) -> None:
    with CuttingProxy(emulator.url, cut_after=b"POST /sfapi/Print/") as proxy:
        station = Station(emulator, url=proxy.url)
        ids = station.jobs(4)
        summary = station.engine.release(station.user.id)
        # Every release reached the emulator, every answer was lost: all in doubt, then found
        # gone from the queue, so they count as released and are never sent again.
        assert sorted(p.job_id for p in summary.unconfirmed) == sorted(ids)
        assert {p.cause for p in summary.unconfirmed} == {Cause(Reason.OUTCOME_UNKNOWN)}
        assert all(p.detail == "released; outcome unknown" for p in summary.unconfirmed)
        again = station.engine.release(station.user.id, jobs=_jobs_by_id(station, ids))
        assert {p.cause for p in again.unconfirmed} == {Cause(Reason.SENT_BEFORE)}
        assert {p.detail for p in again.unconfirmed} == {"released before; not sent again"}
        retried = station.engine.retry(station.user.id, summary.unconfirmed)
        assert {p.cause for p in retried.unconfirmed} == {Cause(Reason.SENT_BEFORE)}
    assert emulator.release_counts() == dict.fromkeys(ids, 1)


def test_in_doubt_rows_block_sending_until_checked(emulator: Emulator) -> None:
    with CuttingProxy(emulator.url, cut_after=b"POST /sfapi/Print/", cut_lists=True) as proxy:
        station = Station(emulator, url=proxy.url)
        ids = station.jobs(2)
        jobs = _jobs_by_id(station, ids)
        summary = station.engine.release(station.user.id, jobs=jobs)
        assert sorted(p.job_id for p in summary.unconfirmed) == sorted(ids)  # could not check
        # The lost answer is a network error: a reason for the screen, its own words for the logs.
        assert {p.cause.reason for p in summary.unconfirmed if p.cause} == {Reason.OFFLINE}
        assert all("ezeep" in p.detail for p in summary.unconfirmed)
        # A second attempt with the same jobs may not send them while the queue cannot be read.
        with pytest.raises(CloudError):
            station.engine.release(station.user.id, jobs=jobs)
        proxy.cut_lists = False
        proxy.cut_after = b""
        settled = station.engine.reconcile()
        assert {p.state for p in settled} == {ReleaseState.UNCONFIRMED}
    assert emulator.release_counts() == dict.fromkeys(ids, 1)


# --- what a job list proves ------------------------------------------------------------------


def test_a_job_a_list_cut_short_does_not_hold_stays_in_doubt(emulator: Emulator) -> None:
    """``max_jobs`` cuts the newest-first list before an old job whose request may be out: no
    sign that the job left the queue, so it is never counted as released (and refused for good)."""
    station = Station(emulator, cloud=CloudSection(max_jobs=2))
    (old,) = station.jobs(1)
    Journal(station.db).record_intent(station.user.id, station.printer.id, [old])  # killed before sending
    newer = station.jobs(2)
    station.after_quarantine()
    settled = station.engine.reconcile()
    assert [(p.job_id, p.cause) for p in settled] == [(old, Cause(Reason.IN_DOUBT))]
    assert station.engine.unsettled() == 1
    summary = station.engine.release(station.user.id)  # the newer two, listed; the old one not
    assert sorted(p.job_id for p in summary.printed) == sorted(newer)
    assert station.engine.unsettled() == 1
    # Now the list holds every job: the old one still waits, and the window has passed.
    assert states(station.engine.reconcile()) == {old: ReleaseState.HELD}
    station.engine.release(station.user.id)
    assert emulator.release_counts() == dict.fromkeys([old, *newer], 1)


def test_a_job_skipped_by_a_list_that_moved_between_its_pages_stays_in_doubt(emulator: Emulator) -> None:
    """The list is paged by offset: a job deleted elsewhere while the second page is on its way
    moves the later ones forward, and the oldest is on neither page. No sign it left the queue."""
    station = Station(emulator)
    (old,) = station.jobs(1)
    Journal(station.db).record_intent(station.user.id, station.printer.id, [old])  # killed before sending
    newer = station.jobs(PAGE_SIZE)  # the old job is the first of the second page
    station.after_quarantine()
    emulator.set_faults(slow_done_s=0.3, slow_path=JOBS_PATH)  # each page is made 0.3 s after it is asked
    settled: list[JobProgress] = []
    reconcile = threading.Thread(target=lambda: settled.extend(station.engine.reconcile()))
    reconcile.start()
    wait_for_slow_done(emulator, 2, held=True)  # the second page is asked for, not yet made
    emulator.delete_job(newer[0])  # in ezeep's web app, say
    reconcile.join(timeout=10)
    assert [(p.job_id, p.cause) for p in settled] == [(old, Cause(Reason.IN_DOUBT))]
    assert station.engine.unsettled() == 1
    emulator.set_faults(slow_done_s=0.0)
    settled = station.engine.reconcile()  # one page now, with the old job on it: never released
    assert states(settled) == {old: ReleaseState.HELD}
    assert emulator.release_counts() == {}


# --- slow but done: a request outlives its client ------------------------------------------


def test_a_release_that_lands_after_its_timeout_is_never_sent_twice(emulator: Emulator) -> None:
    """The issue's reproduction: the print call outlasts the station's timeout and is carried
    out anyway. The job is in doubt until ezeep shows what became of it."""
    station = Station(emulator, timeout_s=0.4)
    (job_id,) = station.jobs(1)
    emulator.set_faults(slow_done_s=1.2, slow_path="/sfapi/Print/")
    first = station.engine.release(station.user.id)
    # The end-of-call check still finds the job waiting: not "held", in doubt, not offered again.
    assert states(first.unconfirmed) == {job_id: ReleaseState.UNCONFIRMED}
    assert first.held == () and first.failed == ()
    assert {p.cause for p in first.unconfirmed} == {Cause(Reason.IN_DOUBT)}
    assert "may still print" in first.unconfirmed[0].detail
    again = station.engine.release(station.user.id)  # the next tap, while it is held
    assert {p.cause for p in again.unconfirmed} == {Cause(Reason.IN_DOUBT)}
    assert station.engine.retry(station.user.id, first.unconfirmed).unconfirmed != ()
    assert station.engine.unsettled() == 1
    wait_for_slow_done(emulator, 1)  # the late request lands: the job leaves the queue
    assert emulator.release_counts() == {job_id: 1}
    emulator.set_faults(slow_done_s=0.0)
    settled = station.engine.reconcile()  # ezeep shows what became of it: settled as released
    assert [(p.job_id, p.cause) for p in settled] == [(job_id, Cause(Reason.OUTCOME_UNKNOWN))]
    assert station.engine.unsettled() == 0
    station.after_quarantine()
    last = station.engine.release(station.user.id, jobs=_jobs_by_id(station, [job_id]))
    assert {p.cause for p in last.unconfirmed} == {Cause(Reason.SENT_BEFORE)}
    assert emulator.release_counts() == {job_id: 1}


def test_a_release_that_never_landed_is_offered_again_after_the_window(emulator: Emulator) -> None:
    station = Station(emulator, timeout_s=0.3)
    (job_id,) = station.jobs(1)
    jobs = _jobs_by_id(station, [job_id])
    _drop_after_timeout(station, "release")
    first = station.engine.release(station.user.id, jobs=jobs)
    assert {p.cause for p in first.unconfirmed if p.cause} == {Cause(Reason.IN_DOUBT)}
    # Within the window the job still waits but may yet be released by a late request.
    assert {p.cause for p in station.engine.reconcile()} == {Cause(Reason.IN_DOUBT)}
    assert station.engine.release(station.user.id, jobs=jobs).printed == ()
    # A restart does not shorten the window.
    assert station.new_engine().release(station.user.id, jobs=jobs).printed == ()
    assert emulator.release_counts() == {}
    restarted = station.new_engine()
    station.after_quarantine()  # the queue is read again first, then the job is sent
    assert [p.job_id for p in restarted.release(station.user.id, jobs=jobs).printed] == [job_id]
    assert emulator.release_counts() == {job_id: 1}


def test_a_wall_clock_set_forward_does_not_cut_the_window_short(emulator: Emulator) -> None:
    """A Pi has no clock of its own: it starts on the time saved at its last shutdown, and NTP
    sets it later, maybe hours forward. A job in doubt from before still waits out the window."""
    station = Station(emulator, timeout_s=0.3)
    (job_id,) = station.jobs(1)
    jobs = _jobs_by_id(station, [job_id])
    station.after_quarantine()  # the station has been up longer than the window
    _drop_after_timeout(station, "release")
    station.engine.release(station.user.id, jobs=jobs)
    station.wall_ahead_s = 6 * 3600.0  # NTP sets the clock six hours forward
    assert {p.cause for p in station.engine.reconcile()} == {Cause(Reason.IN_DOUBT)}
    assert station.engine.release(station.user.id, jobs=jobs).printed == ()
    assert emulator.release_counts() == {}
    station.after_quarantine()
    assert [p.job_id for p in station.engine.release(station.user.id, jobs=jobs).printed] == [job_id]
    assert emulator.release_counts() == {job_id: 1}


def test_a_restarted_station_waits_out_the_window_for_rows_it_did_not_stamp(emulator: Emulator) -> None:
    """A batch's later jobs go out long after their intent was written (a few at a time, each up
    to its deadline): a station killed then may have sent one a moment before it died. The
    station that starts next counts the window from its own start, not from the old stamp."""
    station = Station(emulator)
    (job_id,) = station.jobs(1)
    Journal(station.db).record_intent(station.user.id, station.printer.id, [job_id])
    station.wall_ahead_s = IN_DOUBT_S + 1  # the intent was older than the window when it died
    restarted = station.new_engine()
    assert {p.cause for p in restarted.reconcile()} == {Cause(Reason.IN_DOUBT)}
    station.after_quarantine()
    assert states(restarted.reconcile()) == {job_id: ReleaseState.HELD}
    assert emulator.release_counts() == {}


def test_the_pick_list_holds_back_a_job_in_doubt_until_the_window_has_passed(emulator: Emulator) -> None:
    """Pick mode lists what ezeep still shows; a job whose release may still land is not offered."""
    station = Station(emulator, timeout_s=0.3)
    ids = station.jobs(2)
    jobs = _jobs_by_id(station, ids)
    _drop_after_timeout(station, "release")
    station.engine.release(station.user.id, jobs=jobs[:1])
    listed = _jobs_by_id(station, ids)  # both still waiting at ezeep
    assert station.engine.held_back(listed) == {ids[0]: Cause(Reason.IN_DOUBT)}
    restarted = station.new_engine()
    station.after_quarantine()  # the window has passed and this list was read after it
    assert restarted.held_back(listed) == {}
    assert emulator.release_counts() == {}


def test_a_delete_that_lands_after_its_timeout_is_not_retried_blindly(emulator: Emulator) -> None:
    # ezeep holds the first job's delete until the test lets it land, long after the station
    # gave up on it (its timeout is ample for every other request, even on a loaded machine).
    station = Station(emulator, timeout_s=2.0)
    ids = station.jobs(2)
    jobs = _jobs_by_id(station, ids)
    emulator.set_faults(held_path=f"/printing/v1/printjobs/{ids[0]}/")
    result = station.engine.delete(jobs, user_id=station.user.id)
    assert result.deleted == (ids[1],)
    assert [(p.job_id, p.state) for p in result.failed] == [(ids[0], ReleaseState.UNCONFIRMED)]
    # Neither deleted again nor released while the delete may still land.
    again = station.engine.delete(jobs[:1], user_id=station.user.id)
    assert {p.cause for p in again.failed} == {Cause(Reason.DELETE_IN_DOUBT)}
    released = station.engine.release(station.user.id, jobs=jobs[:1])
    assert {p.cause for p in released.unconfirmed} == {Cause(Reason.DELETE_IN_DOUBT)}
    assert emulator.stats()["slow_done"] == 0  # all of that while the delete was still held
    emulator.set_faults(held_path="")  # now it lands
    wait_for_slow_done(emulator, 1)
    assert waiting_ids(emulator, station.user.email) == set()
    assert station.engine.release(station.user.id).printed == ()  # settles the row: gone
    assert station.engine.unsettled() == 0
    assert emulator.release_counts() == {}


def test_a_delete_that_never_landed_is_offered_again_after_the_window(emulator: Emulator) -> None:
    station = Station(emulator, timeout_s=0.3)
    (job_id,) = station.jobs(1)
    jobs = _jobs_by_id(station, [job_id])
    _drop_after_timeout(station, "delete")
    assert station.engine.delete(jobs, user_id=station.user.id).deleted == ()
    assert station.engine.reconcile() == []  # a delete is not a release: nothing to report
    assert station.engine.unsettled() == 1
    station.after_quarantine()
    station.engine.reconcile()
    assert station.engine.unsettled() == 0
    assert station.engine.delete(jobs, user_id=station.user.id).deleted == (job_id,)
    assert waiting_ids(emulator, station.user.email) == set()


def test_jobs_not_sent_before_a_stop_closed_the_connection_are_held(station: Station) -> None:
    """A stop closes the connection while a release runs: what never left is not in doubt."""
    ids = station.jobs(2)
    original = station.client.release

    def release(job_id: str, printer_id: str) -> str:
        station.cloud.http.close()  # the stop, just before this request would leave
        return original(job_id, printer_id)

    station.client.release = release  # type: ignore[method-assign]
    summary = station.engine.release(station.user.id)
    assert states(summary.held) == dict.fromkeys(ids, ReleaseState.HELD)
    assert {p.cause.reason for p in summary.held if p.cause} == {Reason.OFFLINE}
    assert station.engine.unsettled() == 0
    assert station.emulator.release_counts() == {}


def _drop_after_timeout(station: Station, call: str) -> None:
    """Make the next ``call`` (release or delete) of the client outlast its timeout and be
    dropped by the emulator (``latency_s`` drops a request whose client left), the other
    requests unslowed."""
    original = getattr(station.client, call)

    def once(*args: str) -> object:
        setattr(station.client, call, original)
        station.emulator.set_faults(latency_s=1.0)
        try:
            return original(*args)
        finally:
            station.emulator.set_faults(latency_s=0.0)

    setattr(station.client, call, once)


def test_a_503_leaves_a_job_in_doubt_where_the_contract_says_it_may_come_after_the_work(
    emulator: Emulator,
) -> None:
    """Some front doors answer 503 after they passed the request on (the server was too slow):
    a site that finds so sets ``refused_statuses = "429"``, and a 503 is no refusal there."""
    station = Station(emulator, cloud=CloudSection(contract=Contract(refused_statuses="429")))
    (job_id,) = station.jobs(1)
    _fail_releases_with_503(station, count=1)
    summary = station.engine.release(station.user.id)
    assert [(p.job_id, p.state) for p in summary.unconfirmed] == [(job_id, ReleaseState.UNCONFIRMED)]
    assert station.engine.release(station.user.id).printed == ()  # in doubt: not sent again yet
    station.after_quarantine()
    assert [p.job_id for p in station.engine.release(station.user.id).printed] == [job_id]
    assert emulator.release_counts() == {job_id: 1}


def test_a_refusal_at_the_door_is_not_in_doubt(station: Station) -> None:
    (job_id,) = station.jobs(1)
    station.emulator.set_faults(error_5xx=1)  # the printer check gets it: nothing sent at all
    with pytest.raises(CloudError):
        station.engine.release(station.user.id)
    _fail_releases_with_503(station, count=1)
    summary = station.engine.release(station.user.id)
    assert states(summary.held) == {job_id: ReleaseState.HELD}  # 503: refused, not in doubt
    assert station.engine.release(station.user.id).printed != ()
    assert station.emulator.release_counts() == {job_id: 1}
