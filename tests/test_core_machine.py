"""The state machine as pure functions: (state, event, tick) -> (state, effects), and its views."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from station.causes import Cause, Failure, Reason, failure_of
from station.cloud.errors import NotFoundError, PairingExpiredError
from station.cloud.models import DeviceBinding, Job, PairingCode, Printer
from station.core import intents as i
from station.core import listener as ev
from station.core import messages as m
from station.core import view as v
from station.core.enrolment import Enrolling, Unknown
from station.core.health import (
    IdleFace,
    Offline,
    PrinterUnavailable,
    ReaderMissing,
    Ready,
    backoff_s,
    view_of,
)
from station.core.identify import Identifying
from station.core.machine import Event, start, step
from station.core.pairing import Pairing, Unpaired
from station.core.pins import PinCheck, PinSetup
from station.core.session import Done, Picking, Releasing
from station.core.state import CoreState, Identity, Mode, Prefs, SignedIn, Tick, Tuning, User
from station.core.technician import Technician
from station.events import ReaderHealth
from station.feedback import Pattern

PRINTER = Printer("p1", "Floor 2", "Hall", 7, "Online")
ANNA = User("u1", "Anna Example")
JOBS = (Job("j1", "Report.pdf", None, 2, "u1"), Job("j2", "Slides.pdf", None, 9, "u1"))
TUNING = Tuning()
IDENTITY = Identity(station_name="Test station", hardware_id="hw")
BEA = SignedIn("u9", "bea@example.com", "", "b•••@example.com")


class Run:
    """Drives the machine: feeds events at a given time and keeps the last effects."""

    def __init__(self, core: CoreState) -> None:
        self.core = core
        self.effects: tuple[m.Effect, ...] = ()
        self.now = 0.0

    def __call__(self, event: Event, *, at: float | None = None, rand: float = 0.5) -> tuple[m.Effect, ...]:
        if at is not None:
            self.now = at
        self.core, self.effects = step(self.core, event, Tick(self.now, rand))
        return self.effects

    @property
    def view(self) -> v.View:
        return view_of(self.core)

    @property
    def mode(self) -> Mode | IdleFace:
        """What the screen draws now: the mode, or the idle face."""
        return self.view.mode

    @property
    def info(self) -> v.StationInfo:
        return self.view.info

    @property
    def ticket(self) -> int:
        return self.core.mode.ticket

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.effects if isinstance(e, kind)]

    def announced(self) -> list[ev.CoreEvent]:
        return [e.event for e in self.of(m.Announce)]

    def patterns(self) -> list[Pattern]:
        return [e.pattern for e in self.of(m.Play)]


def booted(*, mode: str = "all", pins: Iterable[str] = ("technician",), paired: bool = True) -> Run:
    core, effects = start(CoreState(identity=IDENTITY, tuning=TUNING))
    assert effects == [m.LoadStart(0)]
    run = Run(core)
    prefs = Prefs(release_mode=mode, session_timeout_s=60)  # type: ignore[arg-type]
    binding = DeviceBinding("dev", "org", 7) if paired else None
    run(m.Loaded(0, paired, binding, prefs, frozenset(pins)))  # type: ignore[arg-type]
    if paired:
        run(m.ProbeDone(run.core.probe_ticket, printer=PRINTER))
    return run


def open_menu(run: Run) -> None:
    """The long press and the right technician PIN."""
    run(i.OpenTechnician())
    run(i.EnterPin("24681357"))
    run(m.PinChecked(run.ticket, ok=True))


def tap(badge: str = "B1", **extra: Any) -> m.Tap:
    return m.Tap("simulated", "sim", badge, badge, badge, **extra)


def identified(run: Run, badge: str = "B1", user: User = ANNA) -> None:
    run(tap(badge))
    run(m.BadgeKnown(run.ticket, user))


def no_personal_data(value: v.View | CoreState) -> None:
    """Nothing of Anna's session in ``value``, hidden (``repr=False``) fields included."""
    text = repr(dataclasses.asdict(value))
    for secret in ("Anna", "B1", "Report.pdf", "u1"):
        assert secret not in text, f"{secret} left in {type(value).__name__}"


def progress(run: Run, *items: tuple[str, str, v.JobPhase]) -> None:
    for job_id, name, phase in items:
        run(m.ReleaseProgress(run.ticket, v.JobProgressItem(job_id, name, phase)))


# --- start-up and pairing ----------------------------------------------------------------------


def test_boot_paired_shows_ready_with_printer() -> None:
    run = booted()
    view = run.mode
    assert isinstance(view, Ready)
    assert run.info.printer_name == "Floor 2"
    assert run.info.cloud == "ok" and run.info.paired


def test_unpaired_station_fetches_a_code_shows_it_and_becomes_ready() -> None:
    run = booted(paired=False)
    assert isinstance(run.mode, Unpaired)
    assert run.of(m.PairStart)
    assert run.announced() == [ev.Started(paired=False), ev.PairingNeeded(repair=False)]
    ticket = run.ticket
    run(m.PairCode(ticket, PairingCode("ABCD", "https://x/pair", 600.0)))
    view = run.mode
    assert isinstance(view, Pairing) and view.code == "ABCD" and view.auth_url == "https://x/pair"
    assert not run.info.paired  # no "Cancel": nothing to go back to
    assert run.announced() == [ev.PairingCodeShown("ABCD", "https://x/pair", "https://x/pair")]
    assert run.patterns() == [Pattern.NEEDS_PAIRING]
    run(tap())
    assert run.patterns() == [Pattern.NEEDS_PAIRING] and isinstance(run.mode, Pairing)
    run(m.Paired(ticket, DeviceBinding("dev", "org", 7)))
    assert isinstance(run.mode, Ready) and run.mode.just_paired
    assert ev.Paired(7) in run.announced()
    assert run.of(m.SetTimer)[-1].key == "probe"


def test_pairing_offline_retries_with_a_pause() -> None:
    run = booted(paired=False)
    ticket = run.ticket
    run(m.WorkFailed(ticket, Failure("offline", Cause(Reason.OFFLINE, text="no route"))), at=1.0)
    view = run.mode
    assert isinstance(view, Unpaired) and view.problem == "offline"
    assert view.cause == Cause(Reason.OFFLINE, text="no route")  # the UI words it
    timer = run.of(m.SetTimer)[-1]
    assert timer.key == "retry_pairing" and view.retry_at == timer.at > 1.0
    run(m.TimerFired("retry_pairing", ticket), at=timer.at)
    assert run.of(m.PairStart) == [m.PairStart(ticket)]


def test_rejected_token_needs_repair_then_pairs_again() -> None:
    run = booted()
    run(
        m.ProbeDone(
            run.core.probe_ticket + 0,
            failure=Failure("rejected", Cause(Reason.NOT_PAIRED, text="invalid_grant")),
        )
    )
    assert isinstance(run.mode, Unpaired) and run.mode.repair
    assert run.of(m.PairStart) and Pattern.NEEDS_PAIRING in run.patterns()
    assert run.announced() == [ev.TokenRejected(), ev.PairingNeeded(repair=True)]
    run(m.PairCode(run.ticket, PairingCode("EFGH", "https://x/pair", 600.0)))
    assert isinstance(run.mode, Pairing) and run.mode.repair


# --- release all --------------------------------------------------------------------------------


def test_tap_is_acknowledged_before_any_network_work() -> None:
    run = booted()
    effects = run(tap())
    assert isinstance(run.mode, Identifying)
    assert isinstance(effects[0], m.Play) and effects[0].pattern is Pattern.READ
    assert [type(e) for e in effects if not isinstance(e, m.Play | m.Announce)] == [
        m.ReadPins,
        m.Lookup,
        m.SetTimer,
    ]
    assert run.announced() == [ev.TapRead("simulated", "sim")]
    run(m.BadgeKnown(run.ticket, ANNA))
    assert run.announced() == [ev.BadgeKnown("B1", "u1")]


def test_a_lookup_that_never_answers_ends_in_the_no_answer_failure() -> None:
    run = booted()
    run(tap(), at=10.0)
    ticket = run.ticket
    assert m.SetTimer("answer", 10.0 + TUNING.answer_s, ticket) in run.effects
    run(m.TimerFired("answer", ticket), at=10.0 + TUNING.answer_s)  # every worker is busy
    view = run.mode
    assert isinstance(view, Offline) and view.cause == Cause(Reason.NO_ANSWER)
    assert Pattern.ERROR in run.patterns()
    run(m.BadgeKnown(ticket, ANNA))  # the late answer is stale
    assert isinstance(run.mode, Offline) and not run.of(m.Release)


def test_release_all_flow_then_summary_then_ready_with_nothing_left() -> None:
    run = booted()
    identified(run)
    # The engine lists the jobs itself (with the printer check, one round trip).
    assert run.of(m.Release) == [m.Release(run.ticket, "B1", "u1", None)]
    assert isinstance(run.mode, Identifying) and not run.of(m.LoadJobs)
    progress(run, ("j1", "Report.pdf", "waiting"))
    assert isinstance(run.mode, Releasing) and run.mode.user_name == "Anna Example"
    progress(run, ("j2", "Slides.pdf", "waiting"), ("j1", "Report.pdf", "printing"))
    assert [j.phase for j in run.mode.jobs] == ["printing", "waiting"]
    final = (
        v.JobProgressItem("j1", "Report.pdf", "printed"),
        v.JobProgressItem("j2", "Slides.pdf", "printed"),
    )
    run(m.ReleaseFinished(run.ticket, final), at=5.0)
    view = run.mode
    assert isinstance(view, Done) and view.outcome == "released" and not view.can_retry
    assert run.patterns() == [Pattern.RELEASED]
    run(m.TimerFired("mode", run.ticket), at=5.0 + TUNING.done_linger_s)
    assert isinstance(run.mode, Ready)
    no_personal_data(run.view)
    no_personal_data(run.core)


def test_nothing_to_print() -> None:
    run = booted()
    identified(run)
    run(m.ReleaseFinished(run.ticket, ()))
    assert isinstance(run.mode, Done) and run.mode.outcome == "nothing_to_print"
    assert run.patterns() == [Pattern.NOTHING_TO_PRINT]


def test_printer_offline_holds_jobs_and_shows_printer_unavailable_until_it_is_back() -> None:
    run = booted()
    identified(run)
    offline = Cause(Reason.PRINTER_OFFLINE, PRINTER.name, "Offline")
    held = tuple(v.JobProgressItem(j.id, j.name, "held", offline) for j in JOBS)
    progress(run, *((item.id, item.name, item.phase) for item in held))
    run(m.ReleaseFinished(run.ticket, held, printer_offline=True))
    assert isinstance(run.mode, Done) and run.mode.outcome == "printer_offline"
    assert {job.cause for job in run.mode.jobs} == {offline}
    assert run.announced() == [ev.ReleaseFinished("printer_offline", held), ev.PrinterOffline("Offline")]
    run(i.Done())
    assert isinstance(run.mode, PrinterUnavailable)
    run(m.ProbeDone(run.core.probe_ticket, printer=PRINTER))
    assert isinstance(run.mode, Ready) and run.announced() == [ev.PrinterOnline()]


def test_failed_jobs_can_be_retried() -> None:
    run = booted()
    identified(run)
    final = (
        v.JobProgressItem("j1", "Report.pdf", "printed"),
        v.JobProgressItem("j2", "Slides.pdf", "failed"),
    )
    run(m.ReleaseFinished(run.ticket, final, retryable=JOBS[1:]))
    assert isinstance(run.mode, Done) and run.mode.outcome == "partly" and run.mode.can_retry
    run(i.RetryFailed())
    (release,) = run.of(m.Release)
    assert release.retry and release.jobs == JOBS[1:]
    view = run.mode
    assert isinstance(view, Releasing) and [(j.id, j.phase) for j in view.jobs] == [("j2", "waiting")]
    run(m.ReleaseFinished(run.ticket, (v.JobProgressItem("j2", "Slides.pdf", "printed"),)))
    assert isinstance(run.mode, Done) and run.mode.outcome == "released" and not run.mode.can_retry


# --- pick mode ---------------------------------------------------------------------------------


def test_pick_mode_select_release_and_delete_with_confirmation() -> None:
    run = booted(mode="pick")
    identified(run)
    view = run.mode
    assert isinstance(view, Picking) and view.busy == "loading" and view.user_name == "Anna Example"
    run(m.JobsLoaded(run.ticket, JOBS), at=1.0)
    run(i.ToggleJob("j2"), at=2.0)
    view = run.mode
    assert isinstance(view, Picking) and view.selected == {"j2"} and view.expires_at == 62.0
    run(i.DeleteSelected())
    assert run.mode.confirm_delete == ("j2",)  # type: ignore[union-attr]
    assert not run.of(m.Delete)
    run(i.ConfirmDelete())
    (delete,) = run.of(m.Delete)
    assert delete.jobs == JOBS[1:] and run.mode.busy == "deleting"  # type: ignore[union-attr]
    run(m.JobsDeleted(run.ticket, ("j2",)))
    view = run.mode
    assert isinstance(view, Picking) and [j.id for j in view.jobs] == ["j1"] and not view.selected
    run(i.ReleaseAll())
    (release,) = run.of(m.Release)
    assert release.jobs == JOBS[:1]


def test_a_job_held_back_is_shown_but_never_picked_or_released() -> None:
    run = booted(mode="pick")
    identified(run)
    run(m.JobsLoaded(run.ticket, JOBS, held_back=(("j1", Cause(Reason.IN_DOUBT)),)))
    view = run.mode
    assert isinstance(view, Picking) and [j.id for j in view.jobs] == ["j1", "j2"]
    assert view.held("j1") == Cause(Reason.IN_DOUBT) and view.held("j2") is None
    run(i.ToggleJob("j1"))
    assert run.mode.selected == frozenset()  # type: ignore[union-attr]
    run(i.ReleaseAll())
    (release,) = run.of(m.Release)
    assert release.jobs == JOBS[1:]


def test_a_failed_delete_keeps_the_list_and_says_why() -> None:
    run = booted(mode="pick")
    identified(run)
    run(m.JobsLoaded(run.ticket, JOBS))
    run(i.ToggleJob("j1"))
    run(i.DeleteSelected())
    run(i.ConfirmDelete())
    run(m.JobsDeleted(run.ticket, (), Failure("error"), Cause(Reason.BEING_RELEASED)))
    view = run.mode
    assert isinstance(view, Picking) and len(view.jobs) == 2
    assert (view.problem, view.cause) == ("delete_failed", Cause(Reason.BEING_RELEASED))
    run(i.ToggleJob("j2"))
    assert (run.mode.problem, run.mode.cause) == ("", None)  # type: ignore[union-attr]


def test_deleting_the_last_job_ends_with_a_summary() -> None:
    run = booted(mode="pick")
    identified(run)
    run(m.JobsLoaded(run.ticket, JOBS[:1]))
    run(i.ToggleJob("j1"))
    run(i.DeleteSelected())
    run(i.ConfirmDelete())
    run(m.JobsDeleted(run.ticket, ("j1",)))
    assert isinstance(run.mode, Done) and run.mode.outcome == "deleted"


def test_session_times_out_and_touches_extend_it() -> None:
    run = booted(mode="pick")
    identified(run)
    run(m.JobsLoaded(run.ticket, JOBS), at=1.0)
    ticket = run.ticket
    run(i.Touched(), at=30.0)
    assert run.of(m.SetTimer) == [m.SetTimer("mode", 90.0, ticket)]
    run(m.TimerFired("mode", ticket), at=90.0)
    assert isinstance(run.mode, Ready)
    assert run.of(m.CancelWork) == [m.CancelWork(ticket)]


def test_second_tap_of_the_same_badge_logs_out_another_badge_starts_anew() -> None:
    run = booted(mode="pick")
    identified(run)
    run(m.JobsLoaded(run.ticket, JOBS))
    run(tap("B1"))
    assert isinstance(run.mode, Ready)
    identified(run)
    old = run.ticket
    run(tap("B2"))
    assert isinstance(run.mode, Identifying) and run.ticket != old
    assert m.CancelWork(old) in run.effects and Pattern.READ in run.patterns()
    run(m.JobsLoaded(old, JOBS))  # a late answer for Anna is dropped
    assert isinstance(run.mode, Identifying)


def test_done_ends_the_session() -> None:
    run = booted(mode="pick")
    identified(run)
    run(m.JobsLoaded(run.ticket, JOBS))
    run(i.Done())
    assert isinstance(run.mode, Ready)
    no_personal_data(run.view)


# --- offline ------------------------------------------------------------------------------------


def test_tap_path_outage_shows_offline_then_probes_until_back() -> None:
    run = booted()
    identified(run)
    run(
        m.WorkFailed(run.ticket, Failure("offline", Cause(Reason.OFFLINE, text="connection refused"))),
        at=10.0,
    )
    view = run.mode
    assert isinstance(view, Offline) and view.reason == "network" and view.since == 10.0
    assert Pattern.ERROR in run.patterns() and run.announced() == [ev.Offline("network")]
    (probe_timer,) = run.of(m.SetTimer)
    assert probe_timer.key == "probe" and probe_timer.at - 10.0 <= TUNING.retry_cap_s
    run(m.TimerFired("probe", probe_timer.ticket), at=probe_timer.at)
    assert run.of(m.Probe) == [m.Probe(probe_timer.ticket, refresh=False)]
    run(m.ProbeDone(probe_timer.ticket, printer=PRINTER))
    assert isinstance(run.mode, Ready) and run.announced() == [ev.BackOnline()]
    assert run.of(m.SetTimer)[0].at == probe_timer.at + TUNING.heartbeat_s


def test_offline_station_still_tries_a_tap() -> None:
    run = booted()
    run(m.ProbeDone(run.core.probe_ticket, failure=Failure("server", Cause(Reason.SERVER_ERROR, text="503"))))
    assert isinstance(run.mode, Offline) and run.mode.reason == "server"
    run(tap())
    assert isinstance(run.mode, Identifying) and run.of(m.Lookup)


def answer_timer(run: Run) -> m.SetTimer:
    timers: list[m.SetTimer] = [t for t in run.of(m.SetTimer) if t.key == "answer"]
    (timer,) = timers
    assert timer.at == run.now + TUNING.answer_s
    return timer


def test_a_tap_not_answered_in_time_says_offline_and_drops_the_late_answer() -> None:
    run = booted()
    identified(run)
    ticket = run.ticket
    run(m.TimerFired("answer", answer_timer(run).ticket), at=TUNING.answer_s)
    view = run.mode
    assert isinstance(view, Offline) and view.cause == Cause(Reason.NO_ANSWER)
    assert m.CancelWork(ticket) in run.effects and Pattern.ERROR in run.patterns()
    assert any(t.key == "probe" for t in run.of(m.SetTimer))
    progress(run, ("j1", "Report.pdf", "waiting"))  # too late: dropped
    assert isinstance(run.mode, Offline)
    no_personal_data(run.core)


def test_the_answer_deadline_covers_the_first_answer_only() -> None:
    run = booted(mode="pick")
    identified(run)
    timer = answer_timer(run)
    run(m.JobsLoaded(run.ticket, JOBS))
    run(m.TimerFired("answer", timer.ticket), at=timer.at)
    assert isinstance(run.mode, Picking) and not run.effects
    run = booted(mode="pick")
    identified(run)
    run(m.TimerFired("answer", answer_timer(run).ticket))
    assert isinstance(run.mode, Offline)


def test_an_enrolment_code_not_answered_in_time_says_offline() -> None:
    run = booted()
    run(tap("NEW"))
    run(m.BadgeUnknown(run.ticket, allowed=True))
    ticket = run.ticket
    run(m.TimerFired("answer", answer_timer(run).ticket))
    assert isinstance(run.mode, Offline) and m.CancelWork(ticket) in run.effects


def test_the_journal_is_reconciled_once_the_token_works() -> None:
    core, _ = start(CoreState(identity=IDENTITY, tuning=TUNING))
    run = Run(core)
    run(m.Loaded(0, True, DeviceBinding("dev", "org", 7), Prefs(), frozenset()))
    run(
        m.ProbeDone(run.core.probe_ticket, failure=Failure("offline", Cause(Reason.OFFLINE, text="no route")))
    )
    assert not run.of(m.Reconcile)  # the token has not been shown to work yet
    run(m.ProbeDone(run.core.probe_ticket, printer=PRINTER))
    assert run.of(m.Reconcile) == [m.Reconcile()]
    run(m.ProbeDone(run.core.probe_ticket, printer=PRINTER))
    assert not run.of(m.Reconcile)  # one at a time
    run(m.Reconciled(3, pending=False))
    run(m.ProbeDone(run.core.probe_ticket, printer=PRINTER))
    assert not run.of(m.Reconcile) and run.core.journal == "done"


def test_open_rows_are_reconciled_after_the_next_good_probe() -> None:
    run = booted()
    assert run.of(m.Reconcile)
    run(m.JournalOpen())  # a release left rows open while the reconcile ran
    run(m.Reconciled(0, pending=False))
    run(m.ProbeDone(run.core.probe_ticket, printer=PRINTER))
    assert run.of(m.Reconcile)
    run(m.Reconciled(1, pending=True))  # e.g. a print still running
    run(m.ProbeDone(run.core.probe_ticket, failure=Failure("offline")))
    assert not run.of(m.Reconcile)
    run(m.ProbeDone(run.core.probe_ticket, printer=PRINTER))
    assert run.of(m.Reconcile)
    run(m.Reconciled(1, pending=False))
    run(m.JournalOpen())
    run(m.ProbeDone(run.core.probe_ticket, printer=PRINTER))
    assert run.of(m.Reconcile)


@given(st.integers(min_value=1, max_value=60), st.floats(min_value=0, max_value=0.999))
def test_backoff_never_exceeds_the_cap(failures: int, rand: float) -> None:
    pause = backoff_s(TUNING, failures, rand)
    assert 0 < pause <= TUNING.retry_cap_s


def test_stale_probe_answers_are_ignored() -> None:
    run = booted()
    before = run.core
    run(m.ProbeDone(run.core.probe_ticket - 1, failure=Failure("offline")))
    assert run.core == before


# --- readers -------------------------------------------------------------------------------------


def test_reader_missing_and_back() -> None:
    run = booted()
    run(ReaderHealth("simulated", "sim", False, "unplugged", 0.0))
    view = run.mode
    assert isinstance(view, ReaderMissing) and view.reader_name == "sim" and run.info.reader == "down"
    assert run.announced() == [ev.ReaderDown("sim", "unplugged")]
    run(ReaderHealth("simulated", "sim", False, "unplugged", 0.5))
    assert not run.announced()  # still down: nothing new
    run(ReaderHealth("simulated", "sim", True, "", 1.0))
    back = run.info
    assert isinstance(run.mode, Ready) and back.reader == "ok"
    assert run.announced() == [ev.ReaderUp("sim")]


def test_unusable_read_gets_an_error_pattern_and_no_ack() -> None:
    run = booted()
    run(tap("", error="hex2dec: not hex"))
    assert run.patterns() == [Pattern.ERROR] and isinstance(run.mode, Ready)
    assert run.announced() == [ev.TapRefused("unreadable")]


# --- unknown badges -----------------------------------------------------------------------------


def test_random_uid_is_refused_without_a_read_ack() -> None:
    run = booted()
    run(tap("08AABBCC", random_uid=True))
    view = run.mode
    assert isinstance(view, Unknown) and view.reason == "random_uid"
    assert run.patterns() == [Pattern.UNKNOWN_CARD] and not run.of(m.Lookup)
    assert run.announced() == [ev.TapRefused("random_uid")]


def test_self_enrolment_then_release() -> None:
    run = booted()
    run(tap("NEW"))
    run(m.BadgeUnknown(run.ticket, allowed=True), at=1.0)
    view = run.mode
    assert isinstance(view, Enrolling) and view.stage == "starting"
    assert view.expires_at == 1.0 + TUNING.enrol_timeout_s
    assert run.of(m.SelfEnrol) == [m.SelfEnrol(run.ticket, "NEW")]
    run(m.EnrolCode(run.ticket, PairingCode("USER1", "https://x/u", 600.0)))
    assert run.mode.stage == "waiting" and run.mode.code == "USER1"  # type: ignore[union-attr]
    run(m.EnrolSignedIn(run.ticket, BEA, badges=1), at=20.0)
    view = run.mode
    assert isinstance(view, Enrolling) and view.stage == "confirm"
    assert view.user_name == "b•••@example.com" and view.expires_at == 20.0 + TUNING.confirm_tap_s
    assert m.SetTimer("mode", 20.0 + TUNING.confirm_tap_s, run.ticket) in run.effects
    assert not run.of(m.LinkBadge) and not run.announced()  # nothing linked before the second tap
    run(tap("NEW"), at=25.0)
    assert run.mode.stage == "saving"  # type: ignore[union-attr]
    assert run.of(m.LinkBadge) == [m.LinkBadge(run.ticket, "NEW", BEA, TUNING.max_badges_per_user)]
    run(m.Enrolled(run.ticket, User("u9", "Bea")))
    assert isinstance(run.mode, Identifying)
    assert run.of(m.Release) == [m.Release(run.ticket, "NEW", "u9", None)]
    assert run.core.last_unknown == ""  # no longer unknown


def test_a_failed_self_enrolment_says_why_as_a_code() -> None:
    run = booted()
    run(tap("NEW"))
    run(m.BadgeUnknown(run.ticket, allowed=True))
    run(m.WorkFailed(run.ticket, failure_of(PairingExpiredError("the code expired (expired_token)"))))
    view = run.mode
    assert isinstance(view, Unknown) and view.reason == "enrolment_failed"
    assert view.cause == Cause(Reason.EXPIRED, text="the code expired (expired_token)")


def test_a_bug_in_work_is_an_unexpected_error_not_a_sentence() -> None:
    assert failure_of(ValueError()) == Failure("error", Cause(Reason.ERROR, text="ValueError"))
    assert Failure("error").cause.reason is Reason.ERROR


def test_enrolment_cancel_and_timeout_stop_the_work() -> None:
    run = booted()
    run(tap("NEW"))
    run(m.BadgeUnknown(run.ticket, allowed=True))
    ticket = run.ticket
    run(i.Cancel())
    assert isinstance(run.mode, Ready) and m.CancelWork(ticket) in run.effects
    assert run.announced() == [ev.EnrolmentAbandoned("cancelled", "sign_in", "NEW", None)]
    run(tap("NEW"))
    run(m.BadgeUnknown(run.ticket, allowed=True))
    ticket = run.ticket
    run(m.EnrolCode(run.ticket, PairingCode("USER1", "https://x/u", 600.0)))
    run(m.TimerFired("mode", ticket))
    assert isinstance(run.mode, Ready) and m.CancelWork(ticket) in run.effects
    assert run.announced() == [ev.EnrolmentAbandoned("timed_out", "sign_in", "NEW", None)]


def signed_in(run: Run, badges: int = 0) -> None:
    run(tap("NEW"))
    run(m.BadgeUnknown(run.ticket, allowed=True))
    run(m.EnrolCode(run.ticket, PairingCode("USER1", "https://x/u", 600.0)))
    run(m.EnrolSignedIn(run.ticket, BEA, badges))


def test_after_sign_in_a_timeout_cancel_or_another_badge_links_nothing_and_says_so() -> None:
    endings: list[tuple[Event, str, ev.CoreEvent]] = [
        (
            m.TimerFired("mode", 0),
            "not_confirmed",
            ev.EnrolmentAbandoned("timed_out", "confirm", "NEW", "u9"),
        ),
        (i.Cancel(), "not_confirmed", ev.EnrolmentAbandoned("cancelled", "confirm", "NEW", "u9")),
        (tap("OTHER"), "other_badge", ev.EnrolmentRefused("other_badge", "NEW", "u9")),
        (tap("R1", random_uid=True), "other_badge", ev.EnrolmentRefused("other_badge", "NEW", "u9")),
    ]
    for event, reason, audit in endings:
        run = booted()
        signed_in(run)
        ticket = run.ticket
        run(m.TimerFired("mode", ticket) if isinstance(event, m.TimerFired) else event, at=5.0)
        view = run.mode
        assert isinstance(view, Unknown) and view.reason == reason, event
        assert view.expires_at == 5.0 + TUNING.notice_s
        assert run.announced() == [audit] and not run.of(m.LinkBadge) and not run.of(m.Lookup)
        assert m.CancelWork(ticket) in run.effects


def test_a_tap_with_a_read_error_while_confirming_changes_nothing() -> None:
    run = booted()
    signed_in(run)
    before = run.core
    run(tap("", error="garbled"))
    assert run.core == before and run.patterns() == [Pattern.ERROR]


def test_self_enrolment_beyond_the_badge_limit_is_refused() -> None:
    run = booted()
    signed_in(run, badges=TUNING.max_badges_per_user)
    view = run.mode
    assert isinstance(view, Unknown) and view.reason == "too_many_badges"
    assert run.announced() == [ev.EnrolmentRefused("too_many_badges", "NEW", "u9")]
    run = booted()  # the limit reached between sign-in and the confirming tap
    signed_in(run, badges=TUNING.max_badges_per_user - 1)
    run(tap("NEW"))
    run(m.EnrolRefused(run.ticket))
    assert isinstance(run.mode, Unknown) and run.mode.reason == "too_many_badges"
    assert run.announced() == [ev.EnrolmentRefused("too_many_badges", "NEW", "u9")]


def test_self_enrolment_switched_off_only_says_ask_the_technician() -> None:
    run = Run(
        start(CoreState(identity=IDENTITY, tuning=dataclasses.replace(TUNING, self_enrolment=False)))[0]
    )
    run(m.Loaded(0, True, DeviceBinding("dev", "org", 7), Prefs(), frozenset()))
    run(tap("NEW"))
    run(m.BadgeUnknown(run.ticket, allowed=True))
    view = run.mode
    assert isinstance(view, Unknown) and view.reason == "not_enrolled"
    assert not run.of(m.SelfEnrol)


def test_a_badge_the_directory_gives_to_someone_ezeep_does_not_know_says_so_and_offers_nothing() -> None:
    run = booted()
    run(tap("STRANGER"))
    run(m.BadgeUnknown(run.ticket, allowed=True, not_ezeep_user=True))
    view = run.mode
    assert isinstance(view, Unknown) and view.reason == "not_ezeep_user"
    assert not run.of(m.SelfEnrol) and run.patterns() == [Pattern.UNKNOWN_CARD]
    assert run.announced() == [ev.BadgeUnknown("STRANGER", offered=False)]


def test_rate_limited_unknown_badge() -> None:
    run = booted()
    run(tap("NEW"))
    run(m.BadgeUnknown(run.ticket, allowed=False))
    view = run.mode
    assert isinstance(view, Unknown) and view.reason == "rate_limited"
    assert not run.of(m.SelfEnrol) and run.announced() == [ev.TapRefused("rate_limited", "NEW")]


# --- PIN ----------------------------------------------------------------------------------------


def test_release_pin_wrong_locked_then_right() -> None:
    run = booted(pins=["technician", "release"])
    run(tap())
    run(m.BadgeKnown(run.ticket, ANNA, has_pin=True))
    view = run.mode
    assert isinstance(view, PinCheck) and view.purpose == "release"
    run(i.EnterPin("0000"))
    check = run.of(m.CheckPin)[0]
    assert run.mode.checking and (check.pin, check.badge_id) == ("0000", "B1")  # type: ignore[union-attr]
    run(m.PinChecked(run.ticket, ok=False))
    assert run.mode.error == "wrong" and run.patterns() == [Pattern.ERROR]  # type: ignore[union-attr]
    run(i.EnterPin("1111"))
    run(m.PinChecked(run.ticket, ok=False, locked_until=40.0))
    assert run.mode.error == "locked" and run.mode.locked_until == 40.0  # type: ignore[union-attr]
    run(i.EnterPin("1234"))
    run(m.PinChecked(run.ticket, ok=True))
    assert isinstance(run.mode, Identifying) and run.of(m.Release)


def test_a_blocked_badge_says_so() -> None:
    run = booted(pins=["technician", "release"])
    run(tap())
    run(m.BadgeKnown(run.ticket, ANNA, has_pin=True))
    run(i.EnterPin("0000"))
    run(m.PinChecked(run.ticket, ok=False, blocked=True))
    view = run.mode
    assert isinstance(view, PinCheck) and view.error == "blocked" and view.locked_until is None


def test_a_person_without_a_release_pin_chooses_one_twice_at_the_tap() -> None:
    run = booted(pins=["technician", "release"])
    run(tap())
    run(m.BadgeKnown(run.ticket, ANNA, has_pin=False))
    view = run.mode
    assert isinstance(view, PinSetup) and (view.purpose, view.stage) == ("release", "choose")
    assert (view.min_digits, view.max_digits) == (4, 8) and view.expires_at is not None
    run(i.EnterPin("12"))
    assert run.mode.error == "invalid" and run.patterns() == [Pattern.ERROR]  # type: ignore[union-attr]
    run(i.EnterPin("4321"))
    assert run.mode.stage == "repeat" and "4321" not in repr(run.mode)  # type: ignore[union-attr]
    run(i.EnterPin("4322"))
    assert (run.mode.stage, run.mode.error) == ("choose", "mismatch")  # type: ignore[union-attr]
    run(i.EnterPin("4321"))
    run(i.EnterPin("4321"))
    assert run.of(m.SavePin) == [m.SavePin(run.ticket, "release", "4321", badge_id="B1")]
    assert run.mode.stage == "saving"  # type: ignore[union-attr]
    run(m.PinSaved(run.ticket, frozenset({"technician", "release"})))
    assert isinstance(run.mode, Identifying) and run.of(m.Release)


def test_choosing_a_release_pin_can_be_cancelled_and_times_out() -> None:
    run = booted(pins=["technician", "release"])
    run(tap())
    run(m.BadgeKnown(run.ticket, ANNA))
    run(i.Cancel())
    assert isinstance(run.mode, Ready)
    run(tap(), at=10.0)
    run(m.BadgeKnown(run.ticket, ANNA))
    view = run.mode
    assert isinstance(view, PinSetup) and view.expires_at is not None
    run(m.TimerFired("mode", run.ticket), at=view.expires_at)
    assert isinstance(run.mode, Ready)
    no_personal_data(run.core)


def test_a_person_who_just_enrolled_chooses_a_release_pin_first() -> None:
    run = booted(pins=["technician", "release"])
    run(tap("NEW"))
    run(m.BadgeUnknown(run.ticket, allowed=True))
    run(m.EnrolSignedIn(run.ticket, BEA, badges=0))
    run(tap("NEW"))  # the same badge again confirms the enrolment
    run(m.Enrolled(run.ticket, User("u9", "Bea")))
    view = run.mode
    assert isinstance(view, PinSetup) and view.purpose == "release" and not run.of(m.Release)
    run(i.EnterPin("8642"))
    run(i.EnterPin("8642"))
    assert run.of(m.SavePin) == [m.SavePin(run.ticket, "release", "8642", badge_id="NEW")]


def test_release_pins_off_means_no_pin_at_the_tap() -> None:
    run = booted(pins=["technician"])
    run(tap())
    run(m.BadgeKnown(run.ticket, ANNA, has_pin=True))
    assert isinstance(run.mode, Identifying) and run.of(m.Release)


def test_no_pairing_code_before_a_technician_pin() -> None:
    run = booted(paired=False, pins=())
    view = run.mode
    assert isinstance(view, PinSetup) and (view.purpose, view.stage) == ("technician", "choose")
    assert ev.TechnicianPinNeeded() in run.announced()
    assert (view.min_digits, view.max_digits, view.expires_at) == (6, 12, None)
    assert not run.of(m.PairStart)
    run(tap())
    assert run.patterns() == [Pattern.NEEDS_PAIRING] and not run.of(m.Lookup)
    for nothing in (i.OpenTechnician(), i.Cancel(), i.StartPairing()):
        run(nothing)
        assert isinstance(run.mode, PinSetup) and not run.effects
    run(i.EnterPin("2468"))  # a release PIN's length is not enough
    assert run.mode.error == "invalid"  # type: ignore[union-attr]
    run(i.EnterPin("24681357"))
    run(i.EnterPin("24681358"))
    assert (run.mode.stage, run.mode.error) == ("choose", "mismatch")  # type: ignore[union-attr]
    run(i.EnterPin("24681357"))
    run(i.EnterPin("24681357"))
    assert run.of(m.SavePin) == [m.SavePin(run.ticket, "technician", "24681357")]
    run(m.WorkFailed(run.ticket, Failure("storage")))
    assert run.mode.error == "failed" and run.mode.stage == "choose"  # type: ignore[union-attr]
    run(i.EnterPin("24681357"))
    run(i.EnterPin("24681357"))
    run(m.PinSaved(run.ticket, frozenset({"technician"})))
    assert isinstance(run.mode, Unpaired) and run.of(m.PairStart)


def test_no_technician_menu_without_a_pin() -> None:
    run = booted(pins=())
    run(i.OpenTechnician())
    assert isinstance(run.mode, Ready)
    assert run.announced() == [ev.TechnicianRefused()]


def test_pins_changed_outside_take_effect() -> None:
    run = booted(paired=False, pins=())
    assert m.SetTimer("pins", 0.5, 0) in run.effects
    run(m.TimerFired("pins", 0), at=0.5)
    assert run.effects == (m.ReadPins(), m.SetTimer("pins", 1.0, 0))
    run(m.PinsRead(frozenset()))
    assert isinstance(run.mode, PinSetup) and not run.effects
    run(m.PinsRead(frozenset({"technician"})))  # `release-station pin set`
    assert isinstance(run.mode, Unpaired) and run.of(m.PairStart)
    run(m.PairCode(run.ticket, PairingCode("ABCD", "https://x/pair", 600.0)))
    ticket = run.ticket
    run(m.PinsRead(frozenset()))  # `release-station pin clear`: no code without a PIN
    assert isinstance(run.mode, PinSetup) and m.CancelWork(ticket) in run.effects
    paired = booted(pins=())
    paired(m.PinsRead(frozenset({"technician"})))
    paired(i.OpenTechnician())
    assert isinstance(paired.mode, PinCheck)


def test_an_idle_station_looks_at_its_pins_seldom_and_a_waiting_screen_often() -> None:
    run = booted()  # paired, idle
    run(m.TimerFired("pins", 0), at=0.5)
    assert run.effects == (m.ReadPins(), m.SetTimer("pins", 30.5, 0))  # pin_idle_poll_s
    run(tap(), at=1.0)  # a tap reads them itself, before the lookup the gate waits for
    assert [type(e) for e in run.effects if isinstance(e, m.ReadPins | m.Lookup)] == [m.ReadPins, m.Lookup]
    cleared = booted(pins=())  # `release-station pin clear`, then ezeep refused the token
    cleared(m.ProbeDone(cleared.core.probe_ticket, failure=Failure("rejected")), at=2.0)
    assert isinstance(cleared.mode, Unpaired) and m.SetTimer("pins", 2.5, 0) in cleared.effects
    cleared(m.TimerFired("pins", 0), at=2.5)
    assert cleared.effects == (m.ReadPins(), m.SetTimer("pins", 3.0, 0))  # pin_poll_s while it waits


# --- technician menu ----------------------------------------------------------------------------


def test_technician_menu_behind_its_pin() -> None:
    run = booted(pins=["technician"])
    run(i.OpenTechnician())
    assert isinstance(run.mode, PinCheck) and run.mode.purpose == "technician"
    run(tap())
    assert isinstance(run.mode, PinCheck) and not run.of(m.Lookup)
    run(i.EnterPin("2468"))
    run(m.PinChecked(run.ticket, ok=True))
    view = run.mode
    assert isinstance(view, Technician) and view.page == "menu" and run.info.technician_pin_set
    assert run.info.hardware_id == "hw" and run.info.tp_id == 7 and run.info.version


def test_technician_pages_settings_feedback_and_reader_test() -> None:
    run = booted()
    open_menu(run)
    assert run.patterns() == [Pattern.TECHNICIAN]
    run(i.ShowPage("network"))
    run(m.NetworkRead(run.ticket, "kiosk", ("eth0: 10.0.0.2",)))
    assert run.mode.addresses == ("eth0: 10.0.0.2",)  # type: ignore[union-attr]
    run(i.ShowPage("directory"))
    assert run.of(m.ReadDirectory) == [m.ReadDirectory(run.ticket)]
    facts = v.DirectoryFacts("ldap", write_back=True, last_success_age_s=60, entries=12, held_back=True)
    run(m.DirectoryRead(run.ticket, facts))
    assert run.mode.directory == facts  # type: ignore[union-attr]
    run(i.SetReleaseMode("pick"))
    assert run.mode.busy and run.of(m.SaveSetting)[0].value == "pick"  # type: ignore[union-attr]
    run(m.SettingSaved(run.ticket, Prefs(release_mode="pick")))
    assert run.info.release_mode == "pick" and run.mode.message == "saved"  # type: ignore[union-attr]
    run(i.TestFeedback(Pattern.RELEASED))
    assert run.patterns() == [Pattern.RELEASED]
    run(i.SetPin("2468"))
    assert run.mode.message == "pin_invalid" and not run.of(m.SavePin)  # type: ignore[union-attr]
    run(i.SetPin("246813"))
    assert run.of(m.SavePin) == [m.SavePin(run.ticket, "technician", "246813")]
    run(m.PinSaved(run.ticket, frozenset({"technician"})))
    assert run.mode.message == "pin_set"  # type: ignore[union-attr]
    run(i.SwitchReleasePins(True))
    assert run.of(m.SwitchReleasePins) == [m.SwitchReleasePins(run.ticket, True)]
    run(m.PinSaved(run.ticket, frozenset({"technician", "release"}), switched=True))
    assert run.info.release_pins_on and run.mode.message == "saved"  # type: ignore[union-attr]
    run(i.ShowPage("reader_test"))
    run(m.Tap("pcsc", "ACR122U", "1234567", "04A1B2", "04a1b2"))
    test = run.mode.reader_test  # type: ignore[union-attr]
    assert test is not None and (test.raw, test.canonical, test.transformed) == (
        "04a1b2",
        "04A1B2",
        "1234567",
    )
    run(i.Restart())
    assert not run.of(m.RequestRestart)  # not offered without a way to restart
    run(i.CloseTechnician())
    assert isinstance(run.mode, Ready)


def test_technician_enrolment() -> None:
    run = booted()
    open_menu(run)
    run(i.ShowPage("enrol"))
    run(tap("B7"))
    assert run.of(m.TechCheckBadge) == [m.TechCheckBadge(run.ticket, "B7")]
    run(m.TechBadgeChecked(run.ticket, "old@example.com"))
    run(i.SearchUsers(" anna "))
    assert run.of(m.FindUsers) == [m.FindUsers(run.ticket, "anna")]
    choice = v.UserChoice("u1", "anna@example.com", "Anna")
    run(m.UsersFound(run.ticket, (choice,)))
    enrol = run.mode.enrol  # type: ignore[union-attr]
    assert enrol.stage == "search" and enrol.existing_user == "old@example.com" and enrol.results == (choice,)
    run(i.ChooseUser("u1"))
    assert run.of(m.ListUserBadges) == [m.ListUserBadges(run.ticket, "B7", "u1")]
    assert run.mode.enrol.stage == "checking"  # type: ignore[union-attr]
    run(m.TechUserBadges(run.ticket, ()))  # no badge yet: linked at once
    assert run.of(m.SaveEnrolment) == [m.SaveEnrolment(run.ticket, "B7", choice, TUNING.max_badges_per_user)]
    run(m.TechEnrolled(run.ticket))
    enrol = run.mode.enrol  # type: ignore[union-attr]
    assert enrol.stage == "saved" and enrol.outcome == "added"


def tech_chose(run: Run, badges: tuple[v.BadgeRef, ...]) -> v.UserChoice:
    open_menu(run)
    run(i.ShowPage("enrol"))
    run(tap("B7"))
    run(i.SearchUsers("anna"))
    choice = v.UserChoice("u1", "anna@example.com", "Anna")
    run(m.UsersFound(run.ticket, (choice,)))
    run(i.ChooseUser("u1"))
    run(m.TechUserBadges(run.ticket, badges))
    return choice


def test_a_search_answer_that_comes_when_no_search_waits_is_dropped() -> None:
    # A sign-in search may end long after the technician moved on (another badge, another page):
    # its users must not replace what the page shows now.
    run = booted()
    open_menu(run)
    run(i.ShowPage("enrol"))
    run(tap("B7"))
    before = run.mode.enrol  # type: ignore[union-attr]
    assert before.stage == "search"
    run(m.UsersFound(run.ticket, (v.UserChoice("u9", "late@example.com", "Late"),)))
    assert run.mode.enrol == before  # type: ignore[union-attr]


OLD_BADGE = v.BadgeRef("0A0B0C0D", "…0C0D", datetime(2026, 1, 5, 9, 0, tzinfo=UTC), "self")


def test_technician_enrolment_for_a_user_with_a_badge_shows_it_and_asks() -> None:
    run = booted()
    choice = tech_chose(run, (OLD_BADGE,))
    view = run.mode
    assert isinstance(view, Technician) and not run.of(m.SaveEnrolment)
    assert view.enrol.stage == "confirm" and view.enrol.user_badges == (OLD_BADGE,)
    assert view.enrol.max_badges == TUNING.max_badges_per_user
    run(i.ConfirmEnrolment(replace=0))
    assert run.of(m.SaveEnrolment) == [m.SaveEnrolment(run.ticket, "B7", choice, 2, unlink="0A0B0C0D")]
    assert run.mode.enrol.outcome == "replaced"  # type: ignore[union-attr]
    run = booted()
    tech_chose(run, (OLD_BADGE,))
    run(i.ConfirmEnrolment(replace=None))  # below the limit: add it as a second badge
    assert run.of(m.SaveEnrolment) == [m.SaveEnrolment(run.ticket, "B7", choice, 2)]


def test_technician_cannot_add_beyond_the_limit_only_replace() -> None:
    run = booted()
    second = dataclasses.replace(OLD_BADGE, badge_id="0E0F1011", masked="…1011")
    tech_chose(run, (OLD_BADGE, second))
    for stale in (i.ConfirmEnrolment(replace=None), i.ConfirmEnrolment(replace=2)):
        run(stale)
        assert not run.of(m.SaveEnrolment) and run.mode.enrol.stage == "confirm"  # type: ignore[union-attr]
    run(i.ConfirmEnrolment(replace=1))
    assert run.of(m.SaveEnrolment)[0].unlink == "0E0F1011"


def test_technician_enrolment_failures_come_as_causes() -> None:
    run = booted()
    open_menu(run)
    run(i.ShowPage("enrol"))
    run(tap("", error="not hexadecimal"))
    assert run.mode.enrol == v.TechEnrol("failed", cause=Cause(Reason.BAD_CARD, text="not hexadecimal"))  # type: ignore[union-attr]
    run(tap("R1", random_uid=True))
    assert run.mode.enrol.cause == Cause(Reason.RANDOM_UID)  # type: ignore[union-attr]
    run(tap("B7"))
    run(i.SearchUsers("anna"))
    run(m.WorkFailed(run.ticket, failure_of(NotFoundError("no such user"))))
    view = run.mode
    assert isinstance(view, Technician) and view.message == "failed"
    assert view.enrol.stage == "failed" and view.enrol.cause == Cause(Reason.NOT_FOUND, text="no such user")


def test_technician_repair_can_be_cancelled_keeping_the_old_pairing() -> None:
    run = booted()
    open_menu(run)
    run(i.RePair())
    assert run.of(m.PairStart)
    run(m.PairCode(run.ticket, PairingCode("ZZ", "https://x/p", 600.0)))
    assert isinstance(run.mode, Pairing) and run.info.paired
    ticket = run.ticket
    run(i.Cancel())
    assert isinstance(run.mode, Ready) and m.CancelWork(ticket) in run.effects


def test_technician_menu_does_not_open_during_a_session() -> None:
    run = booted(mode="pick")
    identified(run)
    run(i.OpenTechnician())
    assert isinstance(run.mode, Picking)


def test_a_station_paired_before_never_lets_its_technician_pin_be_chosen_on_screen() -> None:
    run = booted(pins=())  # paired, its PIN cleared with `release-station pin clear`
    run(m.ProbeDone(run.core.probe_ticket, failure=Failure("rejected")))  # a 401 on refresh
    view = run.mode
    assert (isinstance(view, Unpaired) and view.repair) and view.problem == "no_pin"
    assert not run.of(m.PairStart) and not isinstance(run.core.mode, PinSetup)
    for nothing in (i.StartPairing(), i.EnterPin("24681357"), i.OpenTechnician()):
        run(nothing)
        assert isinstance(run.mode, Unpaired) and run.mode.repair
        assert not run.of(m.PairStart) and not run.of(m.SavePin)
    run(tap())
    assert run.patterns() == [Pattern.NEEDS_PAIRING] and not run.of(m.Lookup)
    run(m.PinsRead(frozenset({"technician"})))  # `release-station pin set`
    assert isinstance(run.mode, Unpaired) and run.mode.repair
    assert run.mode.problem == "" and run.of(m.PairStart)
    run(m.PairCode(run.ticket, PairingCode("ABCD", "https://x/pair", 600.0)))
    assert isinstance(run.mode, Pairing) and run.mode.code == "ABCD"


def test_a_station_whose_stored_pairing_was_rejected_boots_without_a_pin_keypad() -> None:
    core, _effects = start(CoreState(identity=IDENTITY, tuning=TUNING))
    run = Run(core)
    run(m.Loaded(0, False, None, Prefs(), frozenset(), paired_before=True))  # upgraded, token rejected
    assert (isinstance(run.mode, Unpaired) and run.mode.repair) and run.mode.problem == "no_pin"
    assert not run.of(m.PairStart)
    fresh = booted(paired=False, pins=())  # a fresh install chooses its PIN on the screen
    assert isinstance(fresh.mode, PinSetup) and fresh.mode.purpose == "technician"
