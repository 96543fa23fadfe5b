"""The values the release engine hands out: per-job progress, why a job is where it is, and the
summary of one release."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from station.cloud.errors import (
    BadAnswerError,
    DeadlineError,
    NotFoundError,
    OfflineError,
    PairingCancelledError,
    PairingDeniedError,
    PairingExpiredError,
    ServerError,
    TokenRejectedError,
    UnauthorisedError,
)
from station.errors import StorageError


class ReleaseState(enum.Enum):
    """Where one job is, as the person at the station should understand it."""

    QUEUED = "queued"  # intent recorded, waiting for a free slot
    SUBMITTED = "submitted"  # ezeep accepted the release; the spooler job id is known
    PRINTING = "printing"
    PRINTED = "printed"
    FAILED = "failed"  # definitely not printed; safe to release again (retry)
    TIMED_OUT = "timed_out"  # released, but not finished within the job timeout
    HELD = "held"  # not released: still waiting in the queue (printer offline, cancelled, ...)
    UNCONFIRMED = "unconfirmed"  # may have been released; never sent again without checking


class Reason(enum.Enum):
    """Why a job is where it is, or why the station's work failed, as a code: the screen words it
    in its language, :attr:`Cause.english` in English for the journal and the logs."""

    # what the printer did (the facts in brackets are filled in)
    PRINTER_OFFLINE = "printer_offline"  # not sent: the printer is not online (printer, status)
    PRINTER_ERROR = "printer_error"  # the printer reported an error (code)
    TIMED_OUT = "timed_out"  # released, not finished in time; it may still print (timeout_s)
    LOST_BY_EZEEP = "lost_by_ezeep"  # ezeep no longer knows the print; it may have printed
    # what the journal says about the job
    ALREADY_PRINTED = "already_printed"
    SENT_BEFORE = "sent_before"  # released before; never sent twice
    NOT_FAILED = "not_failed"  # a retry of a job that had not failed
    IN_DOUBT = "in_doubt"  # may have been released (may still print); not sent until ezeep shows
    DELETE_IN_DOUBT = "delete_in_doubt"  # a delete may have reached ezeep; not sent until checked
    BEING_RELEASED = "being_released"  # another release (or reconcile) has it right now
    CANCELLED = "cancelled"
    STOPPED_FOLLOWING = "stopped_following"  # sent; following it was cancelled
    STILL_WAITING = "still_waiting"  # found still in the queue: never released
    OUTCOME_UNKNOWN = "outcome_unknown"  # found gone from the queue: released, outcome unknown
    # a request to ezeep failed (``Cause.text`` keeps the error's own words for the logs)
    OFFLINE = "offline"
    SERVER_ERROR = "server_error"
    BAD_ANSWER = "bad_answer"
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"
    NOT_PAIRED = "not_paired"
    DENIED = "denied"  # an administrator denied the pairing code
    EXPIRED = "expired"  # a sign-in or pairing code expired before it was used
    STORAGE = "storage"  # the station could not read or write its own data
    ERROR = "error"  # anything else, a bug included
    # the station's own findings
    NO_ANSWER = "no_answer"  # a tap got no answer from ezeep in time
    RANDOM_UID = "random_uid"  # the card shows a new number each time
    BAD_CARD = "bad_card"  # the card number could not be turned into a badge id (text: why)


_REQUEST_ERRORS: Final[tuple[tuple[type[Exception], Reason], ...]] = (
    (DeadlineError, Reason.NO_ANSWER),
    (OfflineError, Reason.OFFLINE),
    (ServerError, Reason.SERVER_ERROR),
    (BadAnswerError, Reason.BAD_ANSWER),
    (NotFoundError, Reason.NOT_FOUND),
    (UnauthorisedError, Reason.NOT_ALLOWED),
    (TokenRejectedError, Reason.NOT_PAIRED),
    (PairingDeniedError, Reason.DENIED),
    (PairingExpiredError, Reason.EXPIRED),
    (PairingCancelledError, Reason.CANCELLED),
    (StorageError, Reason.STORAGE),
)

_ENGLISH: Final[dict[Reason, str]] = {
    Reason.PRINTER_OFFLINE: "the printer {printer} is {status}; your jobs are kept",
    Reason.PRINTER_ERROR: "the printer reported an error ({code})",
    Reason.TIMED_OUT: "not finished after {timeout:g} s; it may still print",
    Reason.LOST_BY_EZEEP: "ezeep no longer knows the print; it may have printed",
    Reason.ALREADY_PRINTED: "already printed",
    Reason.SENT_BEFORE: "released before; not sent again",
    Reason.NOT_FAILED: "it had not failed; not sent again",
    Reason.IN_DOUBT: "not confirmed; it may still print (not sent again until ezeep shows what became of it)",
    Reason.DELETE_IN_DOUBT: "the delete may have reached ezeep; not sent again until checked",
    Reason.BEING_RELEASED: "being released",
    Reason.CANCELLED: "cancelled",
    Reason.STOPPED_FOLLOWING: "sent; stopped following it",
    Reason.STILL_WAITING: "not released; still waiting",
    Reason.OUTCOME_UNKNOWN: "released; outcome unknown",
    Reason.NO_ANSWER: "ezeep did not answer in time",
    Reason.RANDOM_UID: "the card shows a new number each time",
}


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a job is where it is: a :class:`Reason` and the few facts its message needs.

    ``printer``/``status``: the printer's name and ezeep's word for its state (``PRINTER_OFFLINE``).
    ``code``: the error the printer reported (``PRINTER_ERROR``). ``timeout_s``: how long the job
    was followed (``TIMED_OUT``). ``text``: the words of the error behind a failed request (or
    a card that could not be read), for logs and the journal; a screen may show it only
    labelled as technical detail.
    """

    reason: Reason
    printer: str = ""
    status: str = ""
    code: int = 0
    timeout_s: float = 0.0
    text: str = ""

    @classmethod
    def of_error(cls, exc: BaseException) -> Cause:
        """The cause of a request that ended in ``exc``."""
        reason = next((r for kind, r in _REQUEST_ERRORS if isinstance(exc, kind)), Reason.ERROR)
        return cls(reason, text=str(exc) or type(exc).__name__)

    @property
    def english(self) -> str:
        """The cause in English, for the journal and the logs (never for the screen)."""
        template = _ENGLISH.get(self.reason)
        if template is None:
            return self.text or self.reason.value
        return template.format(
            printer=self.printer, status=self.status.lower(), code=self.code, timeout=self.timeout_s
        )


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
