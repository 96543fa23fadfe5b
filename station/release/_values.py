"""The values the release engine hands out: per-job progress, why a job is where it is, and the
summary of one release."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from station.causes import Cause


class ReleaseState(enum.Enum):
    """Where one job is, as the person at the station should understand it."""

    QUEUED = "queued"  # about to be sent: its intent being recorded, or waiting for a free slot
    SUBMITTED = "submitted"  # ezeep accepted the release; the spooler job id is known
    PRINTING = "printing"
    PRINTED = "printed"
    FAILED = "failed"  # definitely not printed; safe to release again (retry)
    TIMED_OUT = "timed_out"  # released, but not finished within the job timeout
    HELD = "held"  # not released: still waiting in the queue (printer offline, cancelled, ...)
    UNCONFIRMED = "unconfirmed"  # may have been released; never sent again without checking


@dataclass(frozen=True, slots=True)
class JobProgress:
    """One job's state and, when it is not obvious, its ``cause``."""

    job_id: str
    name: str
    state: ReleaseState
    cause: Cause | None = None

    @property
    def detail(self) -> str:
        """The cause in English (empty without one), for the journal and the logs."""
        return self.cause.english if self.cause is not None else ""


@dataclass(frozen=True, slots=True)
class ReleaseSummary:
    """How a release ended, job by job.

    ``printed``: done. ``failed``: definitely not printed; pass them to
    :meth:`~station.release.ReleaseEngine.retry`. ``timed_out``: released but not finished in time
    (they may still print; never retried). ``held``: not released, still waiting in the user's
    queue. ``unconfirmed``: the release may have reached ezeep (or may still reach it) but its
    outcome is not known (network trouble, or following was cancelled); "not confirmed; may
    still print". A later reconcile settles them; they are never sent again blindly, nor offered
    for a retry. ``printer_offline``: nothing was sent because the printer is offline.
    """

    printed: tuple[JobProgress, ...] = ()
    failed: tuple[JobProgress, ...] = ()
    timed_out: tuple[JobProgress, ...] = ()
    held: tuple[JobProgress, ...] = ()
    unconfirmed: tuple[JobProgress, ...] = ()
    printer_offline: bool = False

    @classmethod
    def of(cls, outcomes: list[JobProgress], *, printer_offline: bool = False) -> ReleaseSummary:
        """Sort final progress values into the buckets (non-final ones count as unconfirmed)."""
        buckets: dict[ReleaseState, list[JobProgress]] = {state: [] for state in ReleaseState}
        for progress in outcomes:
            buckets[progress.state].append(progress)
        return cls(
            printed=tuple(buckets[ReleaseState.PRINTED]),
            failed=tuple(buckets[ReleaseState.FAILED]),
            timed_out=tuple(buckets[ReleaseState.TIMED_OUT]),
            held=tuple(buckets[ReleaseState.HELD]),
            unconfirmed=tuple(
                buckets[ReleaseState.UNCONFIRMED]
                + buckets[ReleaseState.SUBMITTED]
                + buckets[ReleaseState.PRINTING]
                + buckets[ReleaseState.QUEUED]
            ),
            printer_offline=printer_offline,
        )

    @property
    def all_printed(self) -> bool:
        return not (self.failed or self.timed_out or self.held or self.unconfirmed)


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """Which jobs were deleted from the queue (or were already gone) and which could not be."""

    deleted: tuple[str, ...] = ()
    failed: tuple[JobProgress, ...] = ()
