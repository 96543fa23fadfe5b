"""How the screens word a :class:`~station.causes.Cause`: its reason in the screen's language,
and the untranslated words behind it only under a "technical detail" label."""

from __future__ import annotations

from station.causes import Cause, Reason
from ui.i18n import Translator


def cause_text(cause: Cause, tr: Translator) -> str:
    """Why a job is where it is (or why the station's work failed), short enough for a job's row."""
    text = {
        Reason.PRINTER_OFFLINE: tr._("printer: {status}"),
        Reason.PRINTER_ERROR: tr._("printer error {code}"),
        Reason.TIMED_OUT: tr._("after {seconds} s; it may still print"),
        Reason.LOST_BY_EZEEP: tr._("ezeep lost track of it"),
        Reason.ALREADY_PRINTED: tr._("already printed"),
        Reason.SENT_BEFORE: tr._("already sent once"),
        Reason.NOT_FAILED: tr._("it had not failed"),
        Reason.IN_DOUBT: tr._("not confirmed; may still print"),
        Reason.DELETE_IN_DOUBT: tr._("deletion not confirmed yet"),
        Reason.BEING_RELEASED: tr._("being sent right now"),
        Reason.CANCELLED: tr._("cancelled"),
        Reason.STOPPED_FOLLOWING: tr._("sent; no longer followed"),
        Reason.STILL_WAITING: tr._("not sent"),
        Reason.OUTCOME_UNKNOWN: tr._("it was sent"),
        Reason.OFFLINE: tr._("ezeep could not be reached"),
        Reason.SERVER_ERROR: tr._("ezeep had a server error"),
        Reason.BAD_ANSWER: tr._("unreadable answer from ezeep"),
        Reason.NOT_FOUND: tr._("not found at ezeep"),
        Reason.NOT_ALLOWED: tr._("ezeep refused it"),
        Reason.NOT_PAIRED: tr._("needs pairing again"),
        Reason.DENIED: tr._("the code was denied"),
        Reason.PAIRING_REFUSED: tr._("pairing refused"),
        Reason.NOT_ENABLED: tr._("not enabled at ezeep"),
        Reason.NO_PRINTER: tr._("no printer found"),
        Reason.EXPIRED: tr._("the code expired"),
        Reason.STORAGE: tr._("the station's storage failed"),
        Reason.ERROR: tr._("unexpected error"),
        Reason.NO_ANSWER: tr._("ezeep did not answer in time"),
        Reason.RANDOM_UID: tr._("a new card number each time"),
        Reason.BAD_CARD: tr._("card number unreadable"),
    }[cause.reason]
    return text.format(status=cause.status, code=cause.code, seconds=f"{cause.timeout_s:g}")


def technical(cause: Cause | None, tr: Translator) -> str:
    """The words of the error behind ``cause`` (a library's or a driver's), labelled as such;
    ``""`` when there are none."""
    return technical_text(cause.text if cause is not None else "", tr)


def technical_text(text: str, tr: Translator) -> str:
    """Untranslated ``text`` from elsewhere, labelled as technical detail (``""`` if empty)."""
    return tr._("Technical detail: {text}").format(text=text) if text else ""
