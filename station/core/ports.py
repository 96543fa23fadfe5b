"""The collaborators the core works through, as small Protocols.

The worker (:class:`~station.core.worker.Worker`) holds one of each; the composition root passes the real
ones (:class:`~station.cloud.api.EzeepClient`, :class:`~station.cloud.tokens.TokenKeeper`,
:class:`~station.cloud.pairing.Pairer`, :class:`~station.release.ReleaseEngine`,
:class:`~station.directory.Directory`, :class:`~station.audit.AuditLog`,
:class:`~station.settings.StationSettings`, :class:`~station.pin.Pins`,
:class:`~station.ratelimit.RateLimiter`), and tests may pass small stand-ins. Each Protocol lists
only what the core calls.

The cloud client the core gets should be an impatient one
(:meth:`~station.cloud.api.EzeepClient.impatient`): a person is waiting on its calls, so they
must never sit in the token keeper's retries and pauses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from station.causes import Cause
from station.cloud.models import DeviceBinding, Job, PairingCode, Printer, TokenPair, UserInfo
from station.cloud.tokens import StoredTokens
from station.config import StationSection
from station.events import BadgeRead
from station.pin import PinResult, PinStatus
from station.release import DeleteResult, JobProgress, ProgressCallback, ReleaseSummary

Identify = Callable[[BadgeRead], str]
"""Applies the reader kind's transform chain to a read; raises ``ValueError`` when it cannot."""

NetworkInfo = Callable[[], tuple[str, tuple[str, ...]]]
"""Host name and IP addresses, for the technician menu."""


class Cloud(Protocol):
    def station_printer(self) -> Printer: ...

    def waiting_jobs(self, user_id: str) -> list[Job]: ...

    def find_users(
        self, email: str | None = None, search: str | None = None, *, token: str | None = None
    ) -> list[UserInfo]: ...

    def me(self, user_access_token: str) -> UserInfo: ...

    def revoke(self, refresh_token: str) -> None: ...


class Tokens(Protocol):
    @property
    def paired(self) -> bool: ...

    @property
    def binding(self) -> DeviceBinding | None: ...

    @property
    def record(self) -> StoredTokens | None: ...

    def install(self, pair: TokenPair, *, hardware_id: str) -> DeviceBinding | None: ...

    def refresh_if_due(self, *, wait: bool = True) -> bool: ...


class PairingClient(Protocol):
    def start(self, mode: Literal["device", "user"] = "device") -> PairingCode: ...

    def wait(
        self,
        code: PairingCode,
        cancel: threading.Event,
        on_new_code: Callable[[PairingCode], None] | None = None,
    ) -> TokenPair: ...


class Releaser(Protocol):
    def release(
        self,
        user_id: str,
        *,
        jobs: Sequence[Job] | None = None,
        printer_id: str | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> ReleaseSummary: ...

    def retry(
        self,
        user_id: str,
        failed: Sequence[JobProgress],
        *,
        printer_id: str | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> ReleaseSummary: ...

    def delete(
        self, jobs: Sequence[Job], *, user_id: str, cancel: threading.Event | None = None
    ) -> DeleteResult: ...

    def held_back(self, jobs: Sequence[Job]) -> Mapping[str, Cause]: ...

    def reconcile(self) -> list[JobProgress]: ...

    def unsettled(self) -> int: ...


class Entry(Protocol):
    @property
    def badge_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def email(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def enrolled_by(self) -> str: ...

    @property
    def enrolled_at(self) -> datetime: ...


class Directory(Protocol):
    def lookup(self, badge_id: str) -> Entry | None: ...

    def not_ezeep_user(self, badge_id: str) -> bool: ...

    def badges_of(self, user_id: str) -> Sequence[Entry]: ...

    def enrol(
        self,
        badge_id: str,
        user_id: str,
        *,
        email: str = "",
        display_name: str = "",
        how: Any,
        replace: bool = False,
        limit: int | None = None,
        unlink: str = "",
    ) -> Entry: ...

    def remove(self, badge_id: str) -> bool: ...

    def touch(self, badge_id: str) -> None: ...


class Audit(Protocol):
    def record(
        self,
        event: str,
        *,
        badge_id: str | None = None,
        user_id: str | None = None,
        jobs: int | None = None,
        outcome: str = "",
    ) -> int: ...


class Settings(Protocol):
    def effective(self) -> StationSection: ...

    def set(self, name: str, value: Any) -> None: ...


class Pins(Protocol):
    def status(self) -> PinStatus: ...

    def check_technician(self, pin: str) -> PinResult: ...

    def set_technician(self, pin: str) -> None: ...

    def set_release_on(self, on: bool) -> None: ...

    def badge_pin_set(self, badge_id: str) -> bool: ...

    def check_badge(self, badge_id: str, pin: str) -> PinResult: ...

    def set_badge(self, badge_id: str, pin: str) -> None: ...


class Limiter(Protocol):
    def allow(self, key: Hashable) -> bool: ...
