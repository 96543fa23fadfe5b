"""Values the cloud client returns: frozen, typed, and free of secrets in their ``repr``."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class PairingCode:
    """What to show a technician (or a user enrolling a badge) while pairing waits.

    ``auth_url`` leads to the approval of this very code: the QR code carries it. ``short_url``
    is the address to show as text, short enough to type; the person then types ``code``.
    Without one from ezeep it is ``auth_url``.
    """

    code: str
    auth_url: str
    expires_at: float  # time.monotonic() deadline
    mode: Literal["device", "user"] = "device"
    short_url: str = ""

    def __post_init__(self) -> None:
        if not self.short_url:
            object.__setattr__(self, "short_url", self.auth_url)


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access and refresh token and when the access token runs out (monotonic clock)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    obtained_at: float  # time.monotonic() when the answer arrived


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    """What a device token says about this station: its principal and bound printer."""

    subject: str
    organisation: str
    tp_id: int | None


@dataclass(frozen=True, slots=True)
class Printer:
    """A printer of the organisation. ``tp_id`` is unique only per connector (``connector_id``;
    "" when ezeep did not say); ``is_queue``: a pull-print queue such as AnyPrinter, never a
    release target."""

    id: str
    name: str
    location: str
    tp_id: int | None
    status: str  # "Online", "Offline", or whatever ezeep says
    connector_id: str = ""
    is_queue: bool = False

    @property
    def online(self) -> bool:
        return self.status.lower() == "online"


@dataclass(frozen=True, slots=True)
class Job:
    """A pull job waiting in a user's queue (its name and owner are personal: not in ``repr``)."""

    id: str
    name: str = field(repr=False)
    created: datetime | None
    pages: int | None
    owner_id: str = field(repr=False)
    size: int | None = None


class ListEnd(enum.Enum):
    """How a list read page by page ended, and so what it proves about a job it does not hold.

    ezeep pages by offset. While the next page is on its way, a job that leaves the queue (it
    was released or deleted, here or anywhere else) moves every later one a place forward, so
    one of them can be skipped; and a list cut short holds only some of the jobs. Only a list
    read in one request is a picture of the queue at one moment: a job it does not hold was not
    waiting.
    """

    WHOLE = "whole"  # one page, nothing left out
    PAGED = "paged"  # the last of several pages
    CUT = "cut"  # stopped at ``max_jobs``, or a page held more than asked for (the rest ignored)


LOGGED_JOB_IDS = 10


def job_ids_for_log(ids: Sequence[str]) -> str:
    """Job ids for one log line: the first :data:`LOGGED_JOB_IDS`, then ``...`` for the rest."""
    return ", ".join(ids[:LOGGED_JOB_IDS]) + (", ..." if len(ids) > LOGGED_JOB_IDS else "")


class JobState(enum.Enum):
    """Where a released job is, from ``sfapi/Status``'s ``jobstatus``."""

    WAITING = "waiting"  # 1246: no status yet
    PRINTING = "printing"  # 129
    PRINTED = "printed"  # 0
    FAILED = "failed"  # 3011 or any other Win32 error
    UNKNOWN_JOB = "unknown-job"  # 2: the id is not known

    @property
    def final(self) -> bool:
        return self in (JobState.PRINTED, JobState.FAILED, JobState.UNKNOWN_JOB)


@dataclass(frozen=True, slots=True)
class JobStatus:
    state: JobState
    code: int
    text: str
    pages_printed: int
    pages_total: int


@dataclass(frozen=True, slots=True)
class UserInfo:
    """Who signed in on a phone during self-enrolment. Only ``id`` is kept afterwards."""

    id: str
    email: str
    first_name: str
    last_name: str

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email
