"""The core's state: frozen values, one mode at a time plus what the station knows about its health.

Each mode lives in the module of its state (:class:`~station.core.pairing.Pairing` in
:mod:`~station.core.pairing`, :class:`~station.core.session.Picking` in
:mod:`~station.core.session`…; only :class:`Booting`, the start, is here); :data:`Mode` is their
union. The modes are also what the UI draws: each carries, as fields or properties, what its
screen shows (:class:`~station.core.view.View` pairs the mode with the station-wide
:class:`~station.core.view.StationInfo`), so a new state is its module (mode and transitions) and
its screen. What only the core needs (tickets, badge ids, user ids, jobs to retry) is left out
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
from typing import Literal, TypeAlias

from station import __version__
from station.causes import Cause
from station.cloud.models import DeviceBinding, Printer
from station.config import Language, ReleaseMode
from station.core.view import (
    Health,
    OfflineReason,
    PinPurpose,
)


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
    :param pin_poll_s: look at the stored PINs this often while a screen waits for a technician
        PIN that may be set from the command line (:func:`station.core.pins.waits_for_pin`)…
    :param pin_idle_poll_s: …and this often elsewhere (a tap reads them itself).
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
    pin_idle_poll_s: float = 30.0
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
class CoreState:
    """The whole state of the station core."""

    identity: Identity = field(default_factory=Identity)
    tuning: Tuning = field(default_factory=Tuning)
    prefs: Prefs = field(default_factory=Prefs)
    mode: Mode = field(default_factory=Booting)
    cloud: CloudHealth = field(default_factory=CloudHealth)
    readers: tuple[ReaderState, ...] = ()
    printer: Printer | None = None
    printer_problem: str = ""
    """Why no printer is this station's (the last probe's words: which ``cloud.printer_id`` to pin)."""
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


# The modes live in the modules of their states, which build on the values above: they are
# imported here, after everything those modules need (station/core/__init__.py loads this module
# first, so whichever module is imported first, the cycle resolves in this order).
from station.core.enrolment import Enrolling, Unknown  # noqa: E402
from station.core.health import Idle  # noqa: E402
from station.core.identify import Identifying  # noqa: E402
from station.core.pairing import Pairing, Unpaired  # noqa: E402
from station.core.pins import PinCheck, PinSetup  # noqa: E402
from station.core.session import Done, Picking, Releasing  # noqa: E402
from station.core.technician import Technician  # noqa: E402

Mode: TypeAlias = (
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
"""What the station is doing: one of the states' modes (each module owns its own)."""
