"""Why something went wrong, for every part of the station: the codes, their causes, and the one
place that turns an exception into both.

A :class:`Cause` is a :class:`Reason` code and the few facts its message needs; the screen words
it in its language (``ui/screens/causes.py``), :attr:`Cause.english` in English for the journal
and the logs. The release engine gives one per job; the core gives one with every
:class:`Failure` (pairing denied, a card that could not be read, ezeep away).
:func:`failure_of` is the only classification of exceptions: the table ``_ERRORS`` says, per
exception, both the reason and the failure kind the core's transitions act on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal

from station.cloud.errors import (
    BadAnswerError,
    DeadlineError,
    NotFoundError,
    OfflineError,
    PairingCancelledError,
    PairingDeniedError,
    PairingExpiredError,
    PairingNotEnabledError,
    PairingRefusedError,
    PrinterMatchError,
    PrintRefusedError,
    RefusedError,
    ServerError,
    TokenRejectedError,
    UnauthorisedError,
)
from station.errors import StorageError

FailureKind = Literal[
    "offline", "server", "rejected", "denied", "not_found", "bad_answer", "storage", "stopped", "error"
]
"""What the core's transitions do about a failure: an outage, a rejected token, a denied pairing,
a pairing ezeep cannot complete until someone changes a setting there (``stopped``)..."""


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
    PAIRING_REFUSED = "pairing_refused"  # ezeep answered an unknown error (text: it, verbatim)
    NOT_ENABLED = "not_enabled"  # ezeep must enable something for the client id (text: what)
    NO_PRINTER = "no_printer"  # no printer, or several, match the token (text: what to pin)
    EXPIRED = "expired"  # a sign-in or pairing code expired before it was used
    STORAGE = "storage"  # the station could not read or write its own data
    ERROR = "error"  # anything else, a bug included
    # the station's own findings
    NO_ANSWER = "no_answer"  # a tap got no answer from ezeep in time
    RANDOM_UID = "random_uid"  # the card shows a new number each time
    BAD_CARD = "bad_card"  # the card number could not be turned into a badge id (text: why)


_ERRORS: Final[tuple[tuple[type[Exception], Reason, FailureKind], ...]] = (
    (DeadlineError, Reason.NO_ANSWER, "offline"),  # before OfflineError: it is one
    (OfflineError, Reason.OFFLINE, "offline"),
    (ServerError, Reason.SERVER_ERROR, "server"),
    (BadAnswerError, Reason.BAD_ANSWER, "bad_answer"),
    (PrinterMatchError, Reason.NO_PRINTER, "not_found"),  # before NotFoundError: it is one
    (NotFoundError, Reason.NOT_FOUND, "not_found"),
    (PrintRefusedError, Reason.PRINTER_ERROR, "error"),  # before RefusedError: it is one
    (RefusedError, Reason.NOT_ALLOWED, "error"),
    (UnauthorisedError, Reason.NOT_ALLOWED, "error"),
    (TokenRejectedError, Reason.NOT_PAIRED, "rejected"),
    (PairingDeniedError, Reason.DENIED, "denied"),
    (PairingExpiredError, Reason.EXPIRED, "error"),
    (PairingCancelledError, Reason.CANCELLED, "error"),
    (PairingRefusedError, Reason.PAIRING_REFUSED, "error"),
    (PairingNotEnabledError, Reason.NOT_ENABLED, "stopped"),
    (StorageError, Reason.STORAGE, "storage"),
)
"""Per exception (first match wins): its reason, and the failure kind the core acts on."""


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
        """The cause of work that ended in ``exc``."""
        reason = next((r for kind_of, r, _kind in _ERRORS if isinstance(exc, kind_of)), Reason.ERROR)
        code = exc.code if isinstance(exc, RefusedError) else 0  # ezeep's print error code
        return cls(reason, code=code, text=str(exc) or type(exc).__name__)

    @property
    def english(self) -> str:
        """The cause in English, for the journal and the logs (never for the screen)."""
        template = _ENGLISH.get(self.reason)
        if template is None:
            return self.text or self.reason.value
        return template.format(
            printer=self.printer, status=self.status.lower(), code=self.code, timeout=self.timeout_s
        )


UNEXPECTED = Cause(Reason.ERROR)
"""The cause of a failure nothing more is known about."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a piece of work failed: a kind the transitions act on and the cause the screen words."""

    kind: FailureKind
    cause: Cause = UNEXPECTED


def failure_of(exc: BaseException) -> Failure:
    """The failure kind the transitions act on, with the cause the screen words."""
    error: FailureKind = "error"
    kind = next((kind for kind_of, _r, kind in _ERRORS if isinstance(exc, kind_of)), error)
    return Failure(kind, Cause.of_error(exc))
