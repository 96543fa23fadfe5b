"""Events out of the core, and the listeners that hear them (as Mopidy's ``CoreListener``).

Transitions say what happened as an effect, :class:`~station.core.messages.Announce` of one of
the frozen event values below; the runtime hands each to every listener's method for it, on the
core thread, in the order the transitions announced them. A listener subclasses
:class:`CoreListener` and overrides the methods it cares about; the others do nothing. It must
not block (hand slow work, like a write to disk, to a thread of its own), and one that raises is
logged and does not stop the others.

Personal facts (badge numbers, user ids) are ``repr=False``: an event may be logged.

Example::

    from station.core.listener import CoreListener, TapRefused

    class RefusedCards(CoreListener):
        def __init__(self) -> None:
            self.count = 0

        def tap_refused(self, event: TapRefused) -> None:
            self.count += 1
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, assert_never

from station.core.view import JobProgressItem

log = logging.getLogger(__name__)

RefusedBecause = Literal["unreadable", "random_uid", "rate_limited"]
EnrolRefusedBecause = Literal["too_many_badges", "other_badge"]


@dataclass(frozen=True, slots=True)
class Started:
    """The station found its state at start: ``paired`` (its token is kept) or not."""

    paired: bool


@dataclass(frozen=True, slots=True)
class TapRead:
    """A usable read of a badge; it is being looked up."""

    reader_kind: str
    reader_name: str


@dataclass(frozen=True, slots=True)
class TapRefused:
    """A tap that gets no session: the card number could not be read, the card shows a new number
    each time, or too many unknown badges came too fast (``badge_id``: only for that one)."""

    reason: RefusedBecause
    badge_id: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class BadgeKnown:
    """The tapped badge belongs to ``user_id``."""

    badge_id: str = field(repr=False)
    user_id: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class BadgeUnknown:
    """Nobody has the tapped badge; ``offered``: the station offers self-enrolment."""

    badge_id: str = field(repr=False)
    offered: bool


@dataclass(frozen=True, slots=True)
class ReleaseFinished:
    """A release (or a retry) ended; every job's final phase, ``outcome`` as the summary says it."""

    outcome: str
    jobs: tuple[JobProgressItem, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class PairingNeeded:
    """The station has no usable token: ``repair`` when it had one before (rejected since)."""

    repair: bool


@dataclass(frozen=True, slots=True)
class TechnicianPinNeeded:
    """No technician PIN is set, and the station shows no pairing code before one is."""


@dataclass(frozen=True, slots=True)
class PairingCodeShown:
    """A pairing code to approve (every new code is announced): ``auth_url`` is the address to
    type, ``qr_url`` the link that leads to the approval of this very code."""

    code: str
    auth_url: str
    qr_url: str


@dataclass(frozen=True, slots=True)
class Paired:
    """The station was paired (again); ``tp_id``: ezeep's printer binding, if it has one."""

    tp_id: int | None


@dataclass(frozen=True, slots=True)
class TokenRejected:
    """ezeep refused the station's token: the station pairs again."""


@dataclass(frozen=True, slots=True)
class Offline:
    """ezeep stopped answering (``reason``: the network or the server)."""

    reason: str


@dataclass(frozen=True, slots=True)
class BackOnline:
    """ezeep answers again."""


@dataclass(frozen=True, slots=True)
class PrinterOffline:
    status: str


@dataclass(frozen=True, slots=True)
class PrinterOnline:
    pass


@dataclass(frozen=True, slots=True)
class ReaderDown:
    reader_name: str
    detail: str


@dataclass(frozen=True, slots=True)
class ReaderUp:
    reader_name: str


@dataclass(frozen=True, slots=True)
class EnrolmentRefused:
    """Self-enrolment linked nothing: the user has too many badges, or another card confirmed."""

    reason: EnrolRefusedBecause
    badge_id: str = field(repr=False)
    user_id: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class EnrolmentAbandoned:
    """Self-enrolment was cancelled or timed out at ``stage`` (sign-in, or the confirming tap)."""

    how: Literal["cancelled", "timed_out"]
    stage: Literal["sign_in", "confirm"]
    badge_id: str = field(repr=False)
    user_id: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class EnrolmentFailed:
    """Self-enrolment failed (``kind``: the failure kind of the work)."""

    kind: str
    badge_id: str = field(repr=False)
    user_id: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class TechnicianRefused:
    """The long press found no technician PIN set: the menu stays shut."""


CoreEvent = (
    Started
    | TapRead
    | TapRefused
    | BadgeKnown
    | BadgeUnknown
    | ReleaseFinished
    | PairingNeeded
    | TechnicianPinNeeded
    | PairingCodeShown
    | Paired
    | TokenRejected
    | Offline
    | BackOnline
    | PrinterOffline
    | PrinterOnline
    | ReaderDown
    | ReaderUp
    | EnrolmentRefused
    | EnrolmentAbandoned
    | EnrolmentFailed
    | TechnicianRefused
)


class CoreListener:
    """One no-op method per event; override those you need. Called on the core thread."""

    def started(self, event: Started) -> None: ...
    def tap_read(self, event: TapRead) -> None: ...
    def tap_refused(self, event: TapRefused) -> None: ...
    def badge_known(self, event: BadgeKnown) -> None: ...
    def badge_unknown(self, event: BadgeUnknown) -> None: ...
    def release_finished(self, event: ReleaseFinished) -> None: ...
    def pairing_needed(self, event: PairingNeeded) -> None: ...
    def technician_pin_needed(self, event: TechnicianPinNeeded) -> None: ...
    def pairing_code_shown(self, event: PairingCodeShown) -> None: ...
    def paired(self, event: Paired) -> None: ...
    def token_rejected(self, event: TokenRejected) -> None: ...
    def offline(self, event: Offline) -> None: ...
    def back_online(self, event: BackOnline) -> None: ...
    def printer_offline(self, event: PrinterOffline) -> None: ...
    def printer_online(self, event: PrinterOnline) -> None: ...
    def reader_down(self, event: ReaderDown) -> None: ...
    def reader_up(self, event: ReaderUp) -> None: ...
    def enrolment_refused(self, event: EnrolmentRefused) -> None: ...
    def enrolment_abandoned(self, event: EnrolmentAbandoned) -> None: ...
    def enrolment_failed(self, event: EnrolmentFailed) -> None: ...
    def technician_refused(self, event: TechnicianRefused) -> None: ...


def deliver(listener: CoreListener, event: CoreEvent) -> None:  # noqa: PLR0912  # one case per event
    """Call ``listener``'s method for ``event`` (mypy checks that every event has one)."""
    match event:
        case Started():
            listener.started(event)
        case TapRead():
            listener.tap_read(event)
        case TapRefused():
            listener.tap_refused(event)
        case BadgeKnown():
            listener.badge_known(event)
        case BadgeUnknown():
            listener.badge_unknown(event)
        case ReleaseFinished():
            listener.release_finished(event)
        case PairingNeeded():
            listener.pairing_needed(event)
        case TechnicianPinNeeded():
            listener.technician_pin_needed(event)
        case PairingCodeShown():
            listener.pairing_code_shown(event)
        case Paired():
            listener.paired(event)
        case TokenRejected():
            listener.token_rejected(event)
        case Offline():
            listener.offline(event)
        case BackOnline():
            listener.back_online(event)
        case PrinterOffline():
            listener.printer_offline(event)
        case PrinterOnline():
            listener.printer_online(event)
        case ReaderDown():
            listener.reader_down(event)
        case ReaderUp():
            listener.reader_up(event)
        case EnrolmentRefused():
            listener.enrolment_refused(event)
        case EnrolmentAbandoned():
            listener.enrolment_abandoned(event)
        case EnrolmentFailed():
            listener.enrolment_failed(event)
        case TechnicianRefused():
            listener.technician_refused(event)
        case _:
            assert_never(event)


def announce(listeners: Iterable[CoreListener], event: CoreEvent) -> None:
    """Hand ``event`` to every listener; one that fails is logged and the others still hear it."""
    for listener in listeners:
        try:
            deliver(listener, event)
        except Exception:  # a listener's bug must not stop the core or the other listeners
            log.exception("the listener %s failed on %s", type(listener).__name__, type(event).__name__)
