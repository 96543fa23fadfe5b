"""What the station shows: one frozen view per state, published by the core after every change.

The UI draws any screen from the current view alone (plus the clock, for countdowns) and holds
no business state. Every view carries a :class:`StationInfo` (the status bar: printer, cloud,
reader, language) and the fields its screen needs. Deadlines are :func:`time.monotonic` values;
the UI computes "seconds left" as ``deadline - time.monotonic()``.

Texts the user reads are *codes* (``Literal`` values), never sentences: the UI translates them
with gettext. Why a job is where it is comes as a :class:`~station.causes.Cause` (a
:class:`~station.causes.Reason` code and the facts its message needs, in fields named
``cause``), worded by the UI too; so is why the station's work failed (offline, pairing,
enrolment). Free text that comes from elsewhere (a printer's status, a reader driver's error,
the words of a library's error in :attr:`~station.causes.Cause.text`) is passed through
untranslated; a screen shows such words only labelled as technical detail.

Personal data (user names, job names, badge numbers) appears only in views of an active
session or of the technician menu; once a session ends the next view holds nothing of that
user. Fields holding badge numbers or names are left out of ``repr`` so a view that lands in a
log line by accident does not leak them.

Change log (additive changes only, newest first):

- 0.6: new ``PinSetupView`` (choose a PIN twice: the technician PIN before the first pairing
  code, a person's release PIN at their first tap). ``PinEntryView.error`` may be ``blocked``
  (locked until a technician unlocks it). ``TechnicianView.release_pin_set`` becomes
  ``release_pins_on``; ``TechMessage`` loses ``pin_cleared``; ``pin_invalid`` now means the
  technician PIN's 6 to 12 digits.

- 0.5: the ``detail`` text of ``UnpairedView``, ``NeedsRepairView``, ``OfflineView``,
  ``DoneView``, ``UnknownBadgeView`` and ``TechEnrol`` becomes ``cause``, a
  :class:`~station.causes.Cause` (new reasons ``denied``, ``storage``, ``no_answer``,
  ``expired``, ``random_uid``, ``bad_card``). ``OfflineView.cause`` is ``no_answer`` when a tap got no answer
  in time. ``TechnicianView.detail`` is gone (the page says why in ``enrol.cause``; the logs
  say the rest). ``ReaderMissingView.detail`` stays the reader driver's own words. (Not additive; the
  only reader is our own UI, changed with it.)

- 0.4: ``JobProgressItem.detail`` and ``SessionView.detail`` (English sentences made by the
  release engine) become ``cause``, a :class:`~station.causes.Cause` the UI words in the
  screen's language. (Not additive, but the only reader is our own UI, changed with it.)
- 0.3: no new fields. In release mode ``all`` the identifying screen lasts until the release
  engine has listed the jobs and checked the printer (one round trip), and
  ``ReleasingView.jobs`` then fills as the engine reports each job (within milliseconds).
  ``OfflineView.detail`` may be ``ezeep did not answer in time`` (a tap got no answer within
  1.5 s).
- 0.2: ``JobPhase`` gains ``unconfirmed``; ``DoneView`` gains ``detail`` and the outcome
  ``error``; ``PairingView`` gains ``cancellable``.
- 0.1: first version.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from station.causes import Cause
from station.config import Language, ReleaseMode
from station.feedback import Pattern

Health = Literal["ok", "down", "unknown"]
"""The state of one thing the status bar shows (cloud, reader, printer)."""

PinPurpose = Literal["technician", "release"]
"""``technician`` opens the technician menu; ``release`` is a badge holder's own second factor."""


@dataclass(frozen=True, slots=True)
class StationInfo:
    """The status bar and what every screen may show: who the station is and how it is doing.

    :param station_name: ``[station] name`` from the configuration.
    :param language: the language to draw in (the technician menu can change it).
    :param release_mode: ``all`` (a tap releases everything) or ``pick`` (a list is shown).
    :param printer_name: the bound printer's name, ``""`` until known.
    :param printer_location: its location as ezeep has it, ``""`` if none.
    :param cloud: ``ok`` when ezeep answered last time, ``down`` when it did not.
    :param reader: ``ok`` when a reader works, ``down`` when none does.
    :param printer: ``ok`` when the printer is online, ``down`` when ezeep says it is not.
    :param paired: whether the station holds a device token.
    """

    station_name: str = "Release station"
    language: Language = "en"
    release_mode: ReleaseMode = "all"
    printer_name: str = ""
    printer_location: str = ""
    cloud: Health = "unknown"
    reader: Health = "unknown"
    printer: Health = "unknown"
    paired: bool = False


# --- start-up and pairing ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BootingView:
    """The core has started and is finding out whether it is paired."""

    info: StationInfo


UnpairedProblem = Literal["", "offline", "server", "denied", "no_pin"]


@dataclass(frozen=True, slots=True)
class UnpairedView:
    """Not paired. The core asks ezeep for a pairing code at once and shows it when it comes.

    ``problem`` says why no code is shown yet: ``""`` (asking), ``offline``/``server`` (ezeep
    could not be reached; the core keeps trying, next at ``retry_at``), ``denied`` (the last code
    was denied by an administrator; a new one is being fetched), ``no_pin`` (a station paired
    before has no technician PIN: it must be set over SSH or in a first-boot file; no code is
    fetched until then). ``cause`` says why in detail.
    """

    info: StationInfo
    problem: UnpairedProblem = ""
    cause: Cause | None = None
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class NeedsRepairView:
    """The token was rejected (``invalid_grant``): the station must be paired again.

    Re-pairing uses the same hardware id, so ezeep binds the same printer again. The core starts
    it at once; this view shows while a code is fetched or cannot be fetched (``problem`` as in
    :class:`UnpairedView`).
    """

    info: StationInfo
    problem: UnpairedProblem = ""
    cause: Cause | None = None
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class PairingView:
    """A pairing code to approve: show the code large, the URL and a QR code of ``qr_url``.

    :param code: the code a technician types in (or that is filled in by the QR code).
    :param auth_url: the sign-in page to open, as text for people.
    :param qr_url: what the QR code encodes (the same page).
    :param expires_at: monotonic deadline of this code; a new code follows by itself.
    :param repair: ``True`` when pairing *again* after a rejected token.
    :param cancellable: the station is still paired (a technician asked to pair again): offer
        "Cancel" (sends :class:`~station.core.intents.Cancel`; the old pairing stays).
    """

    info: StationInfo
    code: str
    auth_url: str
    qr_url: str
    expires_at: float
    repair: bool = False
    cancellable: bool = False


# --- idle screens ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadyView:
    """Waiting for a badge: printer name and location, "tap your badge", the status bar.

    ``just_paired`` is ``True`` on the first ready screen after a pairing was approved: show the
    bound printer and "tap a badge to test".
    """

    info: StationInfo
    just_paired: bool = False


OfflineReason = Literal["network", "server"]


@dataclass(frozen=True, slots=True)
class OfflineView:
    """ezeep (or the network) cannot be reached. The core keeps trying and comes back by itself.

    Badges still work: a tap tries again at once and lands here again within 2 s if ezeep is
    still away. ``since`` is when the outage was noticed, ``retry_at`` the next background try.
    """

    info: StationInfo
    reason: OfflineReason
    cause: Cause | None
    since: float
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class PrinterUnavailableView:
    """ezeep says the bound printer is not online; jobs stay held. Recovers by itself.

    ``status`` is ezeep's own word for the printer's state, untranslated.
    """

    info: StationInfo
    status: str


@dataclass(frozen=True, slots=True)
class ReaderMissingView:
    """No badge reader works (unplugged, failed). Recovers by itself when one comes back."""

    info: StationInfo
    reader_name: str
    detail: str


# --- a user's session --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentifyingView:
    """A badge was read: the acknowledgement shown before any network answer."""

    info: StationInfo


@dataclass(frozen=True, slots=True)
class PinEntryView:
    """A PIN keypad. ``purpose`` says which PIN; the UI sends :class:`~station.core.intents.EnterPin`.

    :param error: ``""``, ``wrong`` (the last PIN was wrong), ``locked`` (too many wrong PINs;
        no PIN is accepted before ``locked_until``) or ``blocked`` (locked until a technician
        unlocks it: ``release-station pin clear``/``pin reset`` or a first-boot file).
    :param locked_until: monotonic time the lockout ends, when ``error == "locked"``.
    :param checking: a PIN is being checked (draw the keypad disabled).
    :param expires_at: monotonic deadline after which the keypad closes by itself.
    """

    info: StationInfo
    purpose: PinPurpose
    expires_at: float
    error: Literal["", "wrong", "locked", "blocked"] = ""
    locked_until: float | None = None
    checking: bool = False


PinSetupStage = Literal["choose", "repeat", "saving"]
PinSetupError = Literal["", "mismatch", "invalid", "failed"]


@dataclass(frozen=True, slots=True)
class PinSetupView:
    """Choose a PIN, type it again, saved. The UI sends :class:`~station.core.intents.EnterPin`.

    ``technician``: the station has no technician PIN; it asks for one before it shows a
    pairing code (no way around it, no deadline). ``release``: a badge holder without a PIN of
    their own chooses one after the tap (``Cancel`` backs out; closes at ``expires_at``).

    :param stage: ``choose``, ``repeat`` (the same PIN again) or ``saving``.
    :param error: ``mismatch`` (the two differed: choose again), ``invalid`` (not
        ``min_digits`` to ``max_digits`` digits) or ``failed`` (could not be saved).
    """

    info: StationInfo
    purpose: PinPurpose
    stage: PinSetupStage
    min_digits: int
    max_digits: int
    error: PinSetupError = ""
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class JobItem:
    """One waiting job as the session list shows it."""

    id: str
    name: str = field(repr=False)
    pages: int | None
    created: datetime | None


SessionBusy = Literal["", "loading", "deleting"]


@dataclass(frozen=True, slots=True)
class SessionView:
    """Pick mode: the user's waiting jobs.

    :param user_name: who is signed in (display name or email).
    :param jobs: the waiting jobs in ezeep's order (newest first).
    :param selected: ids of the selected jobs (the UI sends ``ToggleJob`` to change it).
    :param confirm_delete: non-empty while the delete confirmation for these jobs is shown.
    :param busy: ``loading`` (the list is being fetched) or ``deleting``; buttons disabled.
    :param problem: ``""`` or ``delete_failed`` (some jobs could not be deleted; ``cause`` says
        why, when one job's reason is known).
    :param expires_at: monotonic deadline of the session (idle timeout; every touch extends it).
    """

    info: StationInfo
    user_name: str = field(repr=False)
    jobs: tuple[JobItem, ...]
    selected: frozenset[str]
    expires_at: float
    confirm_delete: tuple[str, ...] = ()
    busy: SessionBusy = ""
    problem: Literal["", "delete_failed"] = ""
    cause: Cause | None = None


JobPhase = Literal["waiting", "sending", "printing", "printed", "failed", "timed_out", "held", "unconfirmed"]
"""``waiting``: not sent yet; ``sending``: ezeep accepted the release, the printer has not
started; ``printing``; ``printed``; ``failed``: definitely not printed (may be retried);
``timed_out``: sent but not finished in time (may still print); ``held``: not sent, still in
the queue (printer offline); ``unconfirmed``: may have been sent, outcome unknown (network
trouble); never sent again without checking."""


@dataclass(frozen=True, slots=True)
class JobProgressItem:
    """One job's progress while releasing, and its outcome in the summary; ``cause`` says why
    when the phase alone does not."""

    id: str
    name: str = field(repr=False)
    phase: JobPhase
    cause: Cause | None = None


@dataclass(frozen=True, slots=True)
class ReleasingView:
    """Jobs are being released; one row per job with its phase."""

    info: StationInfo
    user_name: str = field(repr=False)
    jobs: tuple[JobProgressItem, ...]


DoneOutcome = Literal[
    "released", "partly", "failed", "nothing_to_print", "printer_offline", "deleted", "error"
]


@dataclass(frozen=True, slots=True)
class DoneView:
    """The summary after a release: what printed, what did not, and why.

    :param outcome: the headline: ``released`` (all printed or on their way), ``partly``,
        ``failed``, ``nothing_to_print``, ``printer_offline`` (jobs held), ``deleted`` (the
        user deleted the last job), ``error`` (something went wrong; ``cause`` says what).
    :param jobs: every job of the release with its final phase and its cause.
    :param can_retry: some jobs definitely failed and may be sent again (``RetryFailed``).
    :param expires_at: monotonic time the summary closes by itself (it also closes on
        ``Done``, a second tap of the same badge, or another badge).
    """

    info: StationInfo
    outcome: DoneOutcome
    jobs: tuple[JobProgressItem, ...]
    expires_at: float
    can_retry: bool = False
    cause: Cause | None = None


# --- unknown badges ----------------------------------------------------------------------------

UnknownReason = Literal[
    "random_uid",
    "rate_limited",
    "not_enrolled",
    "enrolment_failed",
    "too_many_badges",
    "not_confirmed",
    "other_badge",
]


@dataclass(frozen=True, slots=True)
class UnknownBadgeView:
    """A badge the station cannot use, and no self-enrolment on offer: explain, "ask your administrator".

    ``random_uid``: the card shows a new number each time (phones, some bank cards) and cannot be
    enrolled; ``rate_limited``: too many unknown taps, try again later; ``not_enrolled``:
    self-enrolment is switched off; ``enrolment_failed``: self-enrolment did not complete
    (``cause`` says why); ``too_many_badges``: the person who signed in has as many badges as
    allowed; ``not_confirmed``: the badge was not tapped again in time (or Cancel); ``other_badge``:
    another badge was tapped to confirm. In the last four nothing was linked. Closes by itself
    at ``expires_at``.
    """

    info: StationInfo
    reason: UnknownReason
    expires_at: float
    cause: Cause | None = None


EnrolStage = Literal["starting", "waiting", "confirm", "saving"]


@dataclass(frozen=True, slots=True)
class EnrolView:
    """Self-enrolment: sign in on a phone to link this badge to your ezeep account.

    :param stage: ``starting`` (fetching a code), ``waiting`` (show ``code``, ``auth_url`` and a
        QR code of ``qr_url``), ``confirm`` (signed in as ``user_name``: tap the same badge again
        before ``expires_at`` to link it), ``saving`` (linking the badge).
    :param user_name: who signed in, fit for a public screen: the display name, else a masked
        e-mail address (``k•••@example.com``), else ``""``.
    :param expires_at: monotonic deadline; the enrolment is cancelled then (or on ``Cancel``) and
        leaves nothing behind.
    """

    info: StationInfo
    stage: EnrolStage
    expires_at: float
    code: str = ""
    auth_url: str = ""
    qr_url: str = ""
    user_name: str = field(default="", repr=False)


# --- technician menu ---------------------------------------------------------------------------

TechnicianPage = Literal[
    "menu",
    "pairing",
    "release_mode",
    "language",
    "session_timeout",
    "network",
    "reader_test",
    "feedback_test",
    "enrol",
    "pins",
    "about",
]


@dataclass(frozen=True, slots=True)
class ReaderTestResult:
    """The last badge read on the reader-test page: every stage of the card number."""

    reader_kind: str
    reader_name: str
    raw: str = field(repr=False)
    canonical: str = field(repr=False)
    transformed: str = field(repr=False)
    random_uid: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True)
class UserChoice:
    """One ezeep user found by the technician's search."""

    id: str
    email: str = field(repr=False)
    name: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class BadgeRef:
    """A badge the chosen user already has, as the technician sees it (``masked``: ``…C3D4``)."""

    badge_id: str = field(repr=False)
    masked: str
    enrolled_at: datetime
    enrolled_by: str


TechEnrolStage = Literal["tap", "search", "searching", "checking", "confirm", "saving", "saved", "failed"]


@dataclass(frozen=True, slots=True)
class TechEnrol:
    """Technician enrolment: tap a badge, search a user by email, choose, confirm, saved.

    :param stage: ``tap`` (waiting for a badge), ``search`` (badge read; type an email),
        ``searching``, ``checking`` (reading the chosen user's badges), ``confirm`` (the user
        has ``user_badges``: replace one, or add while fewer than ``max_badges``), ``saving``,
        ``saved`` (``outcome``: the badge was ``added`` or ``replaced`` one), ``failed``
        (``cause`` says why).
    :param badge_id: the transformed id of the tapped badge (``""`` before the tap).
    :param existing_user: the email of the user the badge is already linked to, if any
        (choosing a user then replaces the link).
    :param query: the last search text; ``results`` what it found.
    :param chosen: the user picked from ``results``; ``user_badges`` their other badges (masked
        for the screen), ``max_badges`` how many one person may have.
    """

    stage: TechEnrolStage = "tap"
    badge_id: str = field(default="", repr=False)
    existing_user: str = field(default="", repr=False)
    query: str = field(default="", repr=False)
    results: tuple[UserChoice, ...] = ()
    cause: Cause | None = None
    chosen: UserChoice | None = None
    user_badges: tuple[BadgeRef, ...] = ()
    max_badges: int = 2
    outcome: Literal["", "added", "replaced"] = ""


TechMessage = Literal["", "saved", "failed", "pin_set", "pin_invalid", "restarting", "offline"]
"""Outcome of the technician's last action; ``pin_invalid``: a technician PIN must be 6 to 12 digits."""


@dataclass(frozen=True, slots=True)
class TechnicianView:
    """The technician menu; ``page`` says which page to draw. All pages' data is here.

    Pairing page: ``paired``/``printer_*`` from ``info``, ``hardware_id``, ``organisation``,
    ``tp_id``; ``RePair`` starts pairing again. Settings pages: ``info.release_mode``,
    ``info.language``, ``session_timeout_s`` and ``session_timeout_range``. Network page:
    ``hostname``, ``addresses``, ``info.cloud``. Reader test: ``reader_test`` (``None`` until a
    badge is tapped), ``readers`` (name and health of each reader). Feedback test:
    ``patterns`` (send ``TestFeedback``). Enrol: ``enrol``. Pins: ``technician_pin_set``,
    ``release_pins_on`` (each badge holder has their own release PIN; ``SwitchReleasePins``).
    About: ``version``, ``can_restart``, ``last_unknown_badge`` (the
    transformed id of the last unknown badge tapped, for enrolment by hand).

    ``busy`` is ``True`` while an action runs (saving a setting, a PIN); ``message`` is a code
    for the last action's outcome (:data:`TechMessage`); an enrolment's failure says why in
    ``enrol.cause``.
    The menu closes by itself at ``expires_at`` (idle).
    """

    info: StationInfo
    page: TechnicianPage
    expires_at: float
    version: str
    hardware_id: str = ""
    organisation: str = ""
    tp_id: int | None = None
    session_timeout_s: int = 60
    session_timeout_range: tuple[int, int] = (10, 900)
    hostname: str = ""
    addresses: tuple[str, ...] = ()
    readers: tuple[tuple[str, Health], ...] = ()
    reader_test: ReaderTestResult | None = None
    patterns: tuple[Pattern, ...] = tuple(Pattern)
    enrol: TechEnrol = field(default_factory=TechEnrol)
    technician_pin_set: bool = False
    release_pins_on: bool = False
    last_unknown_badge: str = field(default="", repr=False)
    can_restart: bool = False
    busy: bool = False
    message: TechMessage = ""


View = (
    BootingView
    | UnpairedView
    | NeedsRepairView
    | PairingView
    | ReadyView
    | OfflineView
    | PrinterUnavailableView
    | ReaderMissingView
    | IdentifyingView
    | PinEntryView
    | PinSetupView
    | SessionView
    | ReleasingView
    | DoneView
    | UnknownBadgeView
    | EnrolView
    | TechnicianView
)
"""Every view the core publishes; the UI draws one screen per class."""

ALL_VIEWS: tuple[type, ...] = typing.get_args(View)
"""The view classes, for tests that check every one has a screen."""
