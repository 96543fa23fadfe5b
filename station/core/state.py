"""The core's state: frozen values, one mode at a time plus what the station knows about its health.

The modes are also what the UI draws: each carries, as fields or properties, what its screen
shows (:class:`~station.core.view.View` pairs the mode with the station-wide
:class:`~station.core.view.StationInfo`), so a new state is one class here, its screen, and its
transitions. What only the core needs (tickets, badge ids, user ids, jobs to retry) is left out
of ``repr`` where it is personal.

:class:`CoreState` is the whole state. Its ``mode`` is what the station is doing (booting, pairing,
idle, a user's session, the technician menu…); the rest is what stays true across modes: the
settings in force, whether ezeep answers, which readers work, the bound printer. Transitions
(:mod:`station.core.machine`) replace a :class:`CoreState` with a new one; nothing here mutates.

Every mode that waits for work done elsewhere carries a ``ticket``. Work is started with the
ticket of the mode that asked for it, and a result whose ticket is not the current mode's is
stale (the user walked away, another badge came) and is dropped. That is what keeps one user's
data out of the next user's screen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from station import __version__
from station.causes import Cause
from station.cloud.models import DeviceBinding, Job, Printer
from station.config import Language, ReleaseMode
from station.core.view import (
    DoneOutcome,
    EnrolStage,
    Health,
    JobProgressItem,
    OfflineReason,
    PinPurpose,
    PinSetupError,
    PinSetupStage,
    ReaderTestResult,
    SessionBusy,
    TechEnrol,
    TechMessage,
    TechnicianPage,
    UnknownReason,
    UnpairedProblem,
)
from station.pin import pin_digits


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the station is: fixed while it runs, shown on its screens.

    :param station_name: shown on every screen.
    :param hardware_id: the id pairing binds to (shown in the technician menu).
    :param version: the firmware version (technician menu, "about").
    """

    station_name: str = "Release station"
    hardware_id: str = ""
    version: str = __version__


@dataclass(frozen=True, slots=True)
class Tuning:
    """How the station behaves, fixed while it runs: its enrolment rules and its timing.

    :param self_enrolment: offer phone sign-in for unknown badges.
    :param enrol_timeout_s: self-enrolment is cancelled after this long.
    :param confirm_tap_s: after signing in, the same badge must be tapped again within this long.
    :param max_badges_per_user: how many badges one person may have linked.
    :param done_linger_s: the summary closes after this long.
    :param notice_s: an unknown-badge notice closes after this long.
    :param pin_timeout_s: a PIN keypad closes after this long without a PIN.
    :param pin_poll_s: look at the stored PINs this often (a PIN set from the command line).
    :param answer_s: a tap waits this long for ezeep's first answer (the user's jobs, an
        enrolment code); then the station says it is offline and keeps trying in the background.
    :param technician_timeout_s: the technician menu closes after this long idle.
    :param heartbeat_s: with the cloud up and the printer online, check both this often
        (this also refreshes the device token ahead of expiry while idle).
    :param printer_recheck_s: with the printer offline, check it this often.
    :param retry_base_s: first pause before retrying an unreachable cloud; doubles per failure…
    :param retry_cap_s: …up to this, with jitter, so the station is back soon after the cloud.
    :param pair_retry_cap_s: the longest pause between tries to fetch a pairing code.
    :param can_restart: the composition root can restart the program (technician menu).
    """

    self_enrolment: bool = True
    enrol_timeout_s: float = 180.0
    confirm_tap_s: float = 30.0
    max_badges_per_user: int = 2
    done_linger_s: float = 8.0
    notice_s: float = 8.0
    pin_timeout_s: float = 30.0
    pin_poll_s: float = 0.5
    answer_s: float = 1.5
    technician_timeout_s: float = 300.0
    heartbeat_s: float = 60.0
    printer_recheck_s: float = 10.0
    retry_base_s: float = 0.5
    retry_cap_s: float = 5.0
    pair_retry_cap_s: float = 30.0
    can_restart: bool = False


@dataclass(frozen=True, slots=True)
class Tick:
    """When an event is handled: the monotonic time, and a random number in [0, 1) for jitter.

    Transitions take both as input, so they stay pure and tests choose them.
    """

    now: float
    rand: float = 0.5


@dataclass(frozen=True, slots=True)
class Prefs:
    """The settings a technician may change on the station (the effective values)."""

    release_mode: ReleaseMode = "all"
    language: Language = "en"
    session_timeout_s: int = 60


@dataclass(frozen=True, slots=True)
class CloudHealth:
    """Whether ezeep answers; ``failures`` in a row drive the retry backoff."""

    status: Health = "unknown"
    reason: OfflineReason = "network"
    cause: Cause | None = None
    since: float = 0.0
    failures: int = 0
    retry_at: float | None = None


Journal = Literal["due", "running", "rerun", "done"]
"""Whether the release journal must be reconciled with ezeep: ``due`` at start-up and after a
release left jobs unconfirmed, ``running``, ``rerun`` (asked again while running), ``done``."""


@dataclass(frozen=True, slots=True)
class ReaderState:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class User:
    """Who a session belongs to; dropped with the session."""

    id: str = field(repr=False)
    name: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who signed in on the phone during self-enrolment; kept only until the badge is linked.

    ``shown`` is what the public screen may say: the display name, else a masked address.
    """

    id: str = field(repr=False)
    email: str = field(repr=False)
    display_name: str = field(repr=False)
    shown: str = field(repr=False)


# --- modes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Booting:
    """The core has started and is finding out whether it is paired."""

    ticket: int = 0


@dataclass(frozen=True, slots=True)
class Unpaired:
    """No usable token: fetching a pairing code (``repair``: the old token was rejected).

    ``problem`` says why no code is shown yet: ``""`` (asking), ``offline``/``server`` (ezeep
    could not be reached; the core keeps trying, next at ``retry_at``), ``denied`` (the last code
    was denied by an administrator; a new one is being fetched), ``no_pin`` (a station paired
    before has no technician PIN: it must be set over SSH or in a first-boot file; no code is
    fetched until then). ``cause`` says why in detail. Re-pairing uses the same hardware id, so
    ezeep binds the same printer again.
    """

    ticket: int
    repair: bool = False
    problem: UnpairedProblem = ""
    cause: Cause | None = None
    retry_at: float | None = None
    failures: int = 0


@dataclass(frozen=True, slots=True)
class Pairing:
    """A pairing code to approve: the code large, the address to type and a QR code.

    :param code: the code a technician types in (or that is filled in by the QR code).
    :param auth_url: the sign-in page the QR code encodes.
    :param expires_at: monotonic deadline of this code; a new code follows by itself.
    :param repair: ``True`` when pairing *again* after a rejected token.
    :param short_url: the same page, short enough for a person to type.

    A station still paired (``StationInfo.paired``: a technician asked to pair again) offers
    "Cancel" (:class:`~station.core.intents.Cancel`; the old pairing stays).
    """

    ticket: int
    code: str
    auth_url: str
    expires_at: float
    repair: bool = False
    short_url: str = ""


@dataclass(frozen=True, slots=True)
class Idle:
    """Waiting for a badge; the screen is the face health gives it (:func:`station.core.health.idle_face`).

    ``just_paired`` is ``True`` until the first tap after a pairing was approved.
    """

    ticket: int = 0
    just_paired: bool = False


@dataclass(frozen=True, slots=True)
class Identifying:
    """A badge was read; looking it up (and, once known, loading jobs in "all" mode)."""

    ticket: int
    badge_id: str = field(repr=False)
    user: User | None = None


@dataclass(frozen=True, slots=True)
class PinCheck:
    """A PIN keypad: the release second factor (``user`` known) or the technician menu.

    :param error: ``""``, ``wrong`` (the last PIN was wrong), ``locked`` (too many wrong PINs;
        no PIN is accepted before ``locked_until``) or ``blocked`` (locked until a technician
        unlocks it: ``release-station pin clear``/``pin reset`` or a first-boot file).
    :param checking: a PIN is being checked (draw the keypad disabled).
    :param expires_at: monotonic deadline after which the keypad closes by itself.
    """

    ticket: int
    purpose: PinPurpose
    expires_at: float
    badge_id: str = field(default="", repr=False)
    user: User | None = None
    error: Literal["", "wrong", "locked", "blocked"] = ""
    locked_until: float | None = None
    checking: bool = False


@dataclass(frozen=True, slots=True)
class PinSetup:
    """Choosing a new PIN twice: the technician PIN before pairing (``repair`` as in
    :class:`Unpaired`), or a badge holder's first release PIN (``user`` known, ``expires_at``;
    ``Cancel`` backs out).

    ``error``: ``mismatch`` (the two differed: choose again), ``invalid`` (not
    :attr:`min_digits` to :attr:`max_digits` digits) or ``failed`` (could not be saved).
    """

    ticket: int
    purpose: PinPurpose
    first: str = field(default="", repr=False)
    saving: bool = False
    error: PinSetupError = ""
    expires_at: float | None = None
    badge_id: str = field(default="", repr=False)
    user: User | None = None
    repair: bool = False

    @property
    def stage(self) -> PinSetupStage:
        """``choose``, ``repeat`` (the same PIN again) or ``saving``."""
        return "saving" if self.saving else "repeat" if self.first else "choose"

    @property
    def min_digits(self) -> int:
        return pin_digits(self.purpose)[0]

    @property
    def max_digits(self) -> int:
        return pin_digits(self.purpose)[1]


@dataclass(frozen=True, slots=True)
class Picking:
    """Pick mode: the user's jobs on screen.

    :param jobs: the waiting jobs in ezeep's order (newest first).
    :param selected: ids of the selected jobs (the UI sends ``ToggleJob`` to change it).
    :param confirm_delete: non-empty while the delete confirmation for these jobs is shown.
    :param busy: ``loading`` (the list is being fetched) or ``deleting``; buttons disabled.
    :param problem: ``""`` or ``delete_failed`` (some jobs could not be deleted; ``cause`` says
        why, when one job's reason is known).
    :param expires_at: monotonic deadline of the session (idle timeout; every touch extends it).
    """

    ticket: int
    badge_id: str = field(repr=False)
    user: User
    expires_at: float
    jobs: tuple[Job, ...] = ()
    selected: frozenset[str] = frozenset()
    confirm_delete: tuple[str, ...] = ()
    busy: SessionBusy = "loading"
    problem: Literal["", "delete_failed"] = ""
    cause: Cause | None = None

    @property
    def user_name(self) -> str:
        """Who is signed in (display name or email)."""
        return self.user.name


@dataclass(frozen=True, slots=True)
class Releasing:
    """Jobs are being released; one row per job with its phase."""

    ticket: int
    badge_id: str = field(repr=False)
    user: User
    jobs: tuple[JobProgressItem, ...]

    @property
    def user_name(self) -> str:
        return self.user.name


@dataclass(frozen=True, slots=True)
class Done:
    """The summary after a release: what printed, what did not, and why.

    Keeps the user's id only so that "retry" can send failed jobs again.

    :param outcome: the headline: ``released`` (all printed or on their way), ``partly``,
        ``failed``, ``nothing_to_print``, ``printer_offline`` (jobs held), ``deleted`` (the
        user deleted the last job), ``error`` (something went wrong; ``cause`` says what).
    :param jobs: every job of the release with its final phase and its cause.
    :param expires_at: monotonic time the summary closes by itself (it also closes on
        ``Done``, a second tap of the same badge, or another badge).
    """

    ticket: int
    badge_id: str = field(repr=False)
    outcome: DoneOutcome
    expires_at: float
    jobs: tuple[JobProgressItem, ...] = ()
    user: User | None = None
    retryable: tuple[Job, ...] = field(default=(), repr=False)
    cause: Cause | None = None

    @property
    def can_retry(self) -> bool:
        """Some jobs definitely failed and may be sent again (``RetryFailed``)."""
        return bool(self.retryable)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A badge the station cannot use, and no self-enrolment on offer: explain, "ask your administrator".

    ``random_uid``: the card shows a new number each time (phones, some bank cards) and cannot be
    enrolled; ``rate_limited``: too many unknown taps, try again later; ``not_enrolled``:
    self-enrolment is switched off; ``enrolment_failed``: self-enrolment did not complete
    (``cause`` says why); ``too_many_badges``: the person who signed in has as many badges as
    allowed; ``not_confirmed``: the badge was not tapped again in time (or Cancel); ``other_badge``:
    another badge was tapped to confirm. In the last four nothing was linked. Closes by itself
    at ``expires_at``.
    """

    ticket: int
    reason: UnknownReason
    expires_at: float
    badge_id: str = field(default="", repr=False)
    cause: Cause | None = None


@dataclass(frozen=True, slots=True)
class Enrolling:
    """Self-enrolment: sign in on a phone to link this badge to your ezeep account.

    :param stage: ``starting`` (fetching a code), ``waiting`` (show ``code``, ``short_url`` and a
        QR code of ``auth_url``), ``confirm`` (signed in: tap the same badge again before
        ``expires_at`` to link it), ``saving`` (linking the badge).
    :param expires_at: monotonic deadline; the enrolment is cancelled then (or on ``Cancel``) and
        leaves nothing behind.
    """

    ticket: int
    badge_id: str = field(repr=False)
    stage: EnrolStage
    expires_at: float
    code: str = ""
    auth_url: str = ""
    signed_in: SignedIn | None = None
    short_url: str = ""

    @property
    def user_name(self) -> str:
        """Who signed in, fit for a public screen: the display name, else a masked e-mail
        address (``k•••@example.com``), else ``""``."""
        return self.signed_in.shown if self.signed_in else ""


@dataclass(frozen=True, slots=True)
class Technician:
    """The technician menu; ``page`` says which page to draw (the station's facts are in
    :class:`~station.core.view.StationInfo`).

    Network page: ``hostname``, ``addresses``. Reader test: ``reader_test`` (``None`` until a
    badge is tapped). Enrol: ``enrol``. ``busy`` is ``True`` while an action runs (saving a
    setting, a PIN); ``message`` is a code for the last action's outcome (:data:`TechMessage`);
    an enrolment's failure says why in ``enrol.cause``. The menu closes by itself at
    ``expires_at`` (idle).
    """

    ticket: int
    page: TechnicianPage
    expires_at: float
    reader_test: ReaderTestResult | None = None
    enrol: TechEnrol = field(default_factory=TechEnrol)
    busy: bool = False
    message: TechMessage = ""
    hostname: str = ""
    addresses: tuple[str, ...] = ()


Mode = (
    Booting
    | Unpaired
    | Pairing
    | Idle
    | Identifying
    | PinCheck
    | PinSetup
    | Picking
    | Releasing
    | Done
    | Unknown
    | Enrolling
    | Technician
)


@dataclass(frozen=True, slots=True)
class CoreState:
    """The whole state of the station core."""

    identity: Identity = field(default_factory=Identity)
    tuning: Tuning = field(default_factory=Tuning)
    prefs: Prefs = field(default_factory=Prefs)
    mode: Mode = field(default_factory=Booting)
    cloud: CloudHealth = field(default_factory=CloudHealth)
    readers: tuple[ReaderState, ...] = ()
    printer: Printer | None = None
    binding: DeviceBinding | None = None
    paired: bool = False
    paired_before: bool = False
    """This station was paired once: its technician PIN is never chosen on the touchscreen."""
    pins: frozenset[PinPurpose] = frozenset()
    """``technician``: a technician PIN is set; ``release``: per-person release PINs are on."""
    last_unknown: str = field(default="", repr=False)
    last_ticket: int = 0
    probe_ticket: int = 0
    journal: Journal = "due"

    def fresh(self) -> tuple[CoreState, int]:
        """A new ticket, never used before."""
        ticket = self.last_ticket + 1
        return dataclasses.replace(self, last_ticket=ticket), ticket

    def with_mode(self, mode: Mode) -> CoreState:
        return dataclasses.replace(self, mode=mode)
