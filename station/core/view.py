"""What the station shows: one frozen :class:`View` published by the core after every change.

A view is the station-wide facts (:class:`StationInfo`: the status bar, who the station is, the
settings in force) and the current *mode* itself (:mod:`station.core.state`: ``Picking``,
``Done``, ``Technician``…), or, while idle, the face health gives it
(:data:`station.core.health.IdleFace`: ready, offline, printer unavailable, reader missing). The
mode carries what its screen draws, as fields or properties: there is no second class per
screen. The UI draws any screen from the current view alone (plus the clock, for countdowns)
and holds no business state. Deadlines are :func:`time.monotonic` values; the UI computes
"seconds left" as ``deadline - time.monotonic()``.

Texts the user reads are *codes* (``Literal`` values, defined here), never sentences: the UI
translates them with gettext. Why a job is where it is comes as a :class:`~station.causes.Cause`
(a :class:`~station.causes.Reason` code and the facts its message needs, in fields named
``cause``), worded by the UI too; so is why the station's work failed (offline, pairing,
enrolment). Free text that comes from elsewhere (a printer's status, a reader driver's error,
the words of a library's error in :attr:`~station.causes.Cause.text`) is passed through
untranslated; a screen shows such words only labelled as technical detail.

Personal data (user names, job names, badge numbers) appears only in the modes of an active
session or of the technician menu (``StationInfo.last_unknown_badge`` is filled only then);
once a session ends the next view holds nothing of that user. Fields holding badge numbers,
user ids or names are left out of ``repr`` so a view that lands in a log line by accident does
not leak them.

Change log (newest first):

- 0.7: one ``View(info, mode)`` replaces the seventeen ``*View`` classes: the screens draw the
  core's modes (and the idle faces) themselves; what only the technician menu showed (version,
  hardware id, organisation, readers, PINs in force…) moves into :class:`StationInfo`. (Not
  additive; the only reader is our own UI, changed with it.)
- 0.6: a PIN setup screen (choose a PIN twice: the technician PIN before the first pairing
  code, a person's release PIN at their first tap). A PIN keypad's ``error`` may be ``blocked``.
- 0.5: ``detail`` texts become ``cause``, a :class:`~station.causes.Cause`.
- 0.4: job progress ``detail`` becomes ``cause``.
- 0.3: in release mode ``all`` the identifying screen lasts until the jobs are listed.
- 0.2: ``JobPhase`` gains ``unconfirmed``; the summary gains ``cause`` and the outcome ``error``.
- 0.1: first version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from station import __version__
from station.causes import Cause
from station.config import Language, ReleaseMode

if TYPE_CHECKING:
    from station.core.health import IdleFace
    from station.core.state import Mode

Health = Literal["ok", "down", "unknown"]
"""The state of one thing the status bar shows (cloud, reader, printer)."""

PinPurpose = Literal["technician", "release"]
"""``technician`` opens the technician menu; ``release`` is a badge holder's own second factor."""


@dataclass(frozen=True, slots=True)
class StationInfo:
    """The status bar and every station-wide fact a screen may show, computed once per publish.

    :param station_name: ``[station] name`` from the configuration.
    :param language: the language to draw in (the technician menu can change it).
    :param release_mode: ``all`` (a tap releases everything) or ``pick`` (a list is shown).
    :param printer_name: the bound printer's name, ``""`` until known.
    :param printer_location: its location as ezeep has it, ``""`` if none.
    :param printer_problem: why no printer is the station's (untranslated: which printer id to
        pin in ``[cloud] printer_id``), ``""`` when one is or none was looked for.
    :param cloud: ``ok`` when ezeep answered last time, ``down`` when it did not.
    :param reader: ``ok`` when a reader works, ``down`` when none does.
    :param printer: ``ok`` when the printer is online, ``down`` when ezeep says it is not.
    :param paired: whether the station holds a device token.
    :param version: the firmware version.
    :param hardware_id: the id pairing binds to.
    :param organisation: the ezeep organisation the station is paired to, ``""`` if none.
    :param tp_id: ezeep's id of the bound printer, if known.
    :param session_timeout_s: a session closes after this long idle (the setting in force).
    :param session_timeout_range: the values the technician may choose from.
    :param readers: name and health of each reader.
    :param technician_pin_set: a technician PIN is set.
    :param release_pins_on: each badge holder has their own release PIN.
    :param last_unknown_badge: the transformed id of the last unknown badge tapped, for
        enrolment by hand; filled only while the technician menu is open.
    :param can_restart: the program can restart itself (technician menu).
    """

    station_name: str = "Release station"
    language: Language = "en"
    release_mode: ReleaseMode = "all"
    printer_name: str = ""
    printer_location: str = ""
    printer_problem: str = ""
    cloud: Health = "unknown"
    reader: Health = "unknown"
    printer: Health = "unknown"
    paired: bool = False
    version: str = __version__
    hardware_id: str = ""
    organisation: str = ""
    tp_id: int | None = None
    session_timeout_s: int = 60
    session_timeout_range: tuple[int, int] = (10, 900)
    readers: tuple[tuple[str, Health], ...] = ()
    technician_pin_set: bool = False
    release_pins_on: bool = False
    last_unknown_badge: str = field(default="", repr=False)
    can_restart: bool = False


@dataclass(frozen=True, slots=True)
class View:
    """What the UI draws: the station-wide facts and the mode (or idle face) it is in.

    The UI picks the screen by the class of ``mode`` (:data:`ui.screens.SCREENS`).
    """

    info: StationInfo
    mode: Mode | IdleFace


# --- the codes and values the modes carry ------------------------------------------------------

UnpairedProblem = Literal["", "offline", "server", "denied", "refused", "stopped", "no_pin"]


# --- idle screens ------------------------------------------------------------------------------

OfflineReason = Literal["network", "server"]


# --- a user's session --------------------------------------------------------------------------

PinSetupStage = Literal["choose", "repeat", "saving"]
PinSetupError = Literal["", "mismatch", "invalid", "failed"]
SessionBusy = Literal["", "loading", "deleting"]


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


DoneOutcome = Literal[
    "released", "partly", "failed", "nothing_to_print", "printer_offline", "deleted", "error"
]


# --- unknown badges ----------------------------------------------------------------------------

UnknownReason = Literal[
    "random_uid",
    "rate_limited",
    "not_enrolled",
    "enrolment_failed",
    "too_many_badges",
    "not_confirmed",
    "other_badge",
    "not_ezeep_user",
]


EnrolStage = Literal["starting", "waiting", "confirm", "saving"]


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
    "directory",
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

    id: str = field(repr=False)
    email: str = field(repr=False)
    name: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class BadgeRef:
    """A badge the chosen user already has, as the technician sees it (``masked``: ``…C3D4``)."""

    badge_id: str = field(repr=False)
    masked: str
    enrolled_at: datetime
    enrolled_by: str


TechEnrolStage = Literal[
    "tap", "search", "searching", "sign_in", "checking", "confirm", "saving", "saved", "failed"
]


@dataclass(frozen=True, slots=True)
class SignInCode:
    """A code a person approves on a phone: ``code`` to type at ``short_url``, or the QR code of
    ``auth_url``."""

    code: str
    auth_url: str
    short_url: str


DirectorySource = Literal["local", "ldap", "graph", "url"]


@dataclass(frozen=True, slots=True)
class DirectoryFacts:
    """The badge directory's source and its last sync, for the technician menu's directory page.

    Counts only, never a badge or a person. ``source``: where badges come from (``local``: this
    station only); ``write_back``: enrolments here go to the source (else they stay on this
    station). ``last_success_age_s``: seconds since the last successful sync when read
    (``None``: never); ``entries``: badges from the source, ``local``: enrolled here;
    ``failures``: failed syncs in a row, the last one's words in ``error`` (untranslated: shown
    as technical detail); ``held_back``: a sync that would remove too many badges waits for
    ``directory sync --force``; ``conflicts``: local enrolments the source overruled and
    ``not_ezeep_users``: people it gives a badge whom ezeep does not know, at the last sync.
    """

    source: DirectorySource = "local"
    write_back: bool = False
    last_success_age_s: float | None = None
    entries: int = 0
    local: int = 0
    failures: int = 0
    held_back: bool = False
    conflicts: int = 0
    not_ezeep_users: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class TechEnrol:
    """Technician enrolment: tap a badge, search a user by email, choose, confirm, saved.

    :param stage: ``tap`` (waiting for a badge), ``search`` (badge read; type an email),
        ``searching``, ``sign_in`` (ezeep lets only a signed-in administrator read its users:
        the technician approves ``sign_in`` on a phone, the search then
        runs once with their token, revoked at once), ``checking`` (reading the chosen user's
        badges), ``confirm`` (the user
        has ``user_badges``: replace one, or add while fewer than ``max_badges``), ``saving``,
        ``saved`` (``outcome``: the badge was ``added`` or ``replaced`` one), ``failed``
        (``cause`` says why).
    :param badge_id: the transformed id of the tapped badge (``""`` before the tap).
    :param existing_user: the email of the user the badge is already linked to, if any
        (choosing a user then replaces the link).
    :param query: the last search text; ``results`` what it found.
    :param chosen: the user picked from ``results``; ``user_badges`` their other badges (masked
        for the screen), ``max_badges`` how many one person may have.
    :param sign_in: the code the technician approves (``sign_in``), else None.
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
    sign_in: SignInCode | None = None


TechMessage = Literal["", "saved", "failed", "pin_set", "pin_invalid", "restarting", "offline"]
"""Outcome of the technician's last action; ``pin_invalid``: a technician PIN must be 6 to 12 digits."""
