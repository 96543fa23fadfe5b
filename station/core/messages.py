"""The core's own events (timers, results of work) and the effects transitions ask for.

Events come in on the core's queue: reads and reader health from the drivers, intents from the
UI, and the values below from timers and workers. Effects go out: a feedback pattern, a timer,
a piece of work for the worker pool (its result comes back as an event carrying the same
ticket), cancelling work, a restart, an event for the listeners. Transitions only *describe*
effects; the runtime performs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from station.causes import Cause, Failure
from station.cloud.models import DeviceBinding, Job, PairingCode, Printer
from station.core.listener import CoreEvent
from station.core.state import Prefs, SignedIn, User
from station.core.view import BadgeRef, DirectoryFacts, JobProgressItem, PinPurpose, UserChoice
from station.feedback import Pattern

# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tap:
    """A badge read, with the card number already through the reader kind's transform chain.

    ``error`` is set (and ``badge_id`` empty) when the chain could not turn the read into an id.
    """

    reader_kind: str
    reader_name: str
    badge_id: str = field(repr=False)
    canonical: str = field(repr=False)
    raw: str = field(repr=False)
    random_uid: bool = False
    error: str = ""


TimerKey = Literal["mode", "answer", "probe", "retry_pairing", "pins"]
"""``mode``: the current mode's own deadline (session idle, summary, notices); ``answer``: the
badge's lookup or the first network answer of a tap is due (else the station says it is
offline); ``probe``: the next health check; ``retry_pairing``: the next try to fetch a pairing
code; ``pins``: the next look at the stored PINs (a PIN set or cleared from the command line
takes effect within a second)."""


@dataclass(frozen=True, slots=True)
class TimerFired:
    key: TimerKey
    ticket: int


@dataclass(frozen=True, slots=True)
class Deadline:
    """The current mode's own deadline passed (its ``mode`` timer): routed to the mode's
    transition for it; a mode that registers none has no deadline."""

    ticket: int


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """A tap's lookup or first network answer did not come in time (its ``answer`` timer):
    routed to the mode still waiting for it, if any."""

    ticket: int


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the station found at start: its token, settings and PINs."""

    ticket: int
    paired: bool
    binding: DeviceBinding | None
    prefs: Prefs
    pins: frozenset[PinPurpose]
    paired_before: bool = False
    """A pairing was stored once (its token may since have been rejected): not a fresh install."""


@dataclass(frozen=True, slots=True)
class PinsRead:
    """Which PINs are in force now (``technician`` set, ``release``: per-person PINs on)."""

    pins: frozenset[PinPurpose]


@dataclass(frozen=True, slots=True)
class PairCode:
    ticket: int
    code: PairingCode


@dataclass(frozen=True, slots=True)
class Paired:
    ticket: int
    binding: DeviceBinding | None


@dataclass(frozen=True, slots=True)
class ProbeDone:
    """The background check: the bound printer, or why ezeep could not be asked."""

    ticket: int
    printer: Printer | None = None
    failure: Failure | None = None


@dataclass(frozen=True, slots=True)
class Reconciled:
    """The release journal was settled against ezeep; ``pending``: some rows are still open."""

    settled: int
    pending: bool


@dataclass(frozen=True, slots=True)
class JournalOpen:
    """A release ended with rows of the journal left open (jobs in doubt, following stopped)."""


@dataclass(frozen=True, slots=True)
class BadgeKnown:
    """The badge's user; ``has_pin``: the badge has a release PIN of its own."""

    ticket: int
    user: User
    has_pin: bool = False


@dataclass(frozen=True, slots=True)
class BadgeUnknown:
    """Nobody here has the badge; ``allowed``: the rate limiter lets it be offered enrolment;
    ``not_ezeep_user``: the directory source gives it to a person ezeep does not know."""

    ticket: int
    allowed: bool
    not_ezeep_user: bool = False


@dataclass(frozen=True, slots=True)
class JobsLoaded:
    """The user's waiting jobs; ``held_back``: those not to be offered now, with the cause (a
    release in doubt, one sent before)."""

    ticket: int
    jobs: tuple[Job, ...] = field(repr=False)
    held_back: tuple[tuple[str, Cause], ...] = ()


@dataclass(frozen=True, slots=True)
class ReleaseProgress:
    ticket: int
    item: JobProgressItem


@dataclass(frozen=True, slots=True)
class ReleaseFinished:
    """Every job's final phase; ``retryable`` are the jobs that definitely failed;
    ``printer_offline``: nothing was sent because the printer is offline."""

    ticket: int
    jobs: tuple[JobProgressItem, ...]
    retryable: tuple[Job, ...] = field(default=(), repr=False)
    printer_offline: bool = False


@dataclass(frozen=True, slots=True)
class JobsDeleted:
    """Which jobs are gone; ``failure`` when some are not, with the ``cause`` of one of them."""

    ticket: int
    deleted: tuple[str, ...]
    failure: Failure | None = None
    cause: Cause | None = None


@dataclass(frozen=True, slots=True)
class PinChecked:
    """``locked_until``: a timed lock ends then (monotonic); ``blocked``: a technician must unlock."""

    ticket: int
    ok: bool
    locked_until: float | None = None
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class EnrolCode:
    ticket: int
    code: PairingCode


@dataclass(frozen=True, slots=True)
class EnrolSignedIn:
    """Self-enrolment: ``user`` signed in (their token is already revoked) and has ``badges``."""

    ticket: int
    user: SignedIn
    badges: int


@dataclass(frozen=True, slots=True)
class EnrolRefused:
    """Self-enrolment: linking would give the user more badges than allowed; nothing linked."""

    ticket: int


@dataclass(frozen=True, slots=True)
class Enrolled:
    ticket: int
    user: User


@dataclass(frozen=True, slots=True)
class TechBadgeChecked:
    """Technician enrolment: whom the tapped badge belongs to now (``""``: nobody)."""

    ticket: int
    existing: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TechUserBadges:
    """Technician enrolment: the badges the chosen user already has (not the tapped one)."""

    ticket: int
    badges: tuple[BadgeRef, ...]


@dataclass(frozen=True, slots=True)
class SearchSignIn:
    """Technician enrolment: ezeep refused the users list to the device token, so a technician
    signs in with ``code`` (user mode) and the search runs once with their token."""

    ticket: int
    code: PairingCode


@dataclass(frozen=True, slots=True)
class UsersFound:
    ticket: int
    users: tuple[UserChoice, ...]


@dataclass(frozen=True, slots=True)
class TechEnrolled:
    ticket: int


@dataclass(frozen=True, slots=True)
class SettingSaved:
    ticket: int
    prefs: Prefs


@dataclass(frozen=True, slots=True)
class PinSaved:
    """A PIN was stored (``switched``: the release-PIN switch instead); the PINs in force now."""

    ticket: int
    pins: frozenset[PinPurpose]
    switched: bool = False


@dataclass(frozen=True, slots=True)
class NetworkRead:
    ticket: int
    hostname: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DirectoryRead:
    ticket: int
    facts: DirectoryFacts


@dataclass(frozen=True, slots=True)
class WorkFailed:
    """A piece of work for the current mode failed (any kind without its own result)."""

    ticket: int
    failure: Failure


WorkResult = (
    Loaded
    | PinsRead
    | PairCode
    | Paired
    | ProbeDone
    | Reconciled
    | JournalOpen
    | BadgeKnown
    | BadgeUnknown
    | JobsLoaded
    | ReleaseProgress
    | ReleaseFinished
    | JobsDeleted
    | PinChecked
    | EnrolCode
    | EnrolSignedIn
    | EnrolRefused
    | Enrolled
    | TechBadgeChecked
    | TechUserBadges
    | UsersFound
    | SearchSignIn
    | TechEnrolled
    | SettingSaved
    | PinSaved
    | NetworkRead
    | DirectoryRead
    | WorkFailed
)

# --- effects -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Play:
    pattern: Pattern


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Fire ``TimerFired(key, ticket)`` at monotonic time ``at``; replaces the key's timer."""

    key: TimerKey
    at: float
    ticket: int


@dataclass(frozen=True, slots=True)
class CancelWork:
    """Ask work started with ``ticket`` to stop (pairing waits, enrolment, a release)."""

    ticket: int


@dataclass(frozen=True, slots=True)
class RequestRestart:
    pass


@dataclass(frozen=True, slots=True)
class Announce:
    """Tell the listeners what happened (see :mod:`station.core.listener`)."""

    event: CoreEvent


@dataclass(frozen=True, slots=True)
class LoadStart:
    ticket: int


@dataclass(frozen=True, slots=True)
class PairStart:
    """Fetch a device pairing code, wait for approval, keep the new token."""

    ticket: int


@dataclass(frozen=True, slots=True)
class Probe:
    """Ask for the bound printer; with ``refresh``, first refresh the token if one is due.

    While ezeep is away the probe skips the proactive refresh: its retries would hold the probe
    (and so the news that ezeep is back) for many seconds.
    """

    ticket: int
    refresh: bool = True


@dataclass(frozen=True, slots=True)
class Reconcile:
    """Settle the release journal: jobs left in flight by a crash or by network trouble."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """Find the badge in the directory; unknown ones go through the rate limiter."""

    ticket: int
    badge_id: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class LoadJobs:
    """The user's waiting jobs."""

    ticket: int
    user_id: str


@dataclass(frozen=True, slots=True)
class Release:
    """Release ``jobs`` (``None``: every job waiting; ``retry``: they failed before and are sent
    again)."""

    ticket: int
    badge_id: str = field(repr=False)
    user_id: str
    jobs: tuple[Job, ...] | None = field(repr=False)
    retry: bool = False


@dataclass(frozen=True, slots=True)
class Delete:
    ticket: int
    badge_id: str = field(repr=False)
    user_id: str
    jobs: tuple[Job, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class ReadPins:
    """Look at the stored PINs (and count their lockouts down); answered with ``PinsRead``."""


@dataclass(frozen=True, slots=True)
class CheckPin:
    """Check the technician PIN, or the release PIN of ``badge_id``."""

    ticket: int
    purpose: PinPurpose
    pin: str = field(repr=False)
    badge_id: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class SelfEnrol:
    """Pair in user mode, learn who signed in, revoke the user's token, count their badges
    (linking waits for the confirming tap: :class:`LinkBadge`)."""

    ticket: int
    badge_id: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class LinkBadge:
    """Self-enrolment confirmed by a second tap: link the badge, at most ``limit`` per user."""

    ticket: int
    badge_id: str = field(repr=False)
    user: SignedIn
    limit: int


@dataclass(frozen=True, slots=True)
class TechCheckBadge:
    ticket: int
    badge_id: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class FindUsers:
    ticket: int
    query: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ListUserBadges:
    """Technician enrolment: which badges the chosen user has besides ``badge_id``."""

    ticket: int
    badge_id: str = field(repr=False)
    user_id: str


@dataclass(frozen=True, slots=True)
class SaveEnrolment:
    """Technician enrolment: link the badge to the chosen user (taking it from whoever had it),
    unlinking the user's badge ``unlink`` if given; at most ``limit`` badges per user."""

    ticket: int
    badge_id: str = field(repr=False)
    user: UserChoice
    limit: int
    unlink: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class SaveSetting:
    ticket: int
    name: Literal["release_mode", "language", "session_timeout_s"]
    value: str | int


@dataclass(frozen=True, slots=True)
class SavePin:
    """Set the technician PIN, or the release PIN of ``badge_id``."""

    ticket: int
    purpose: PinPurpose
    pin: str = field(repr=False)
    badge_id: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class SwitchReleasePins:
    ticket: int
    on: bool


@dataclass(frozen=True, slots=True)
class ReadNetwork:
    ticket: int


@dataclass(frozen=True, slots=True)
class ReadDirectory:
    """Read the directory source's last sync for the technician page."""

    ticket: int


Work = (
    LoadStart
    | PairStart
    | Probe
    | Reconcile
    | ReadPins
    | Lookup
    | LoadJobs
    | Release
    | Delete
    | CheckPin
    | SelfEnrol
    | LinkBadge
    | TechCheckBadge
    | ListUserBadges
    | FindUsers
    | SaveEnrolment
    | SaveSetting
    | SavePin
    | SwitchReleasePins
    | ReadNetwork
    | ReadDirectory
)

Effect = Play | SetTimer | CancelWork | RequestRestart | Announce | Work
