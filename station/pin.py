"""PINs: the technician PIN (opens the technician menu) and the optional release PIN.

A PIN is 4 to 8 digits, stored only as a salted ``hashlib.scrypt`` hash in the ``settings``
table (``pin.<purpose>``). Wrong PINs lock the guard out with a growing delay: the first three
are free, then 30 s, doubling with each further wrong PIN, capped at 15 minutes. The lockout is
stored too (``pin.<purpose>.lockout``), so restarting the station does not reset it.

Time is the wall clock because a monotonic clock does not survive a restart. Wall clocks jump
(a Pi without a real-time clock boots with a stale time until NTP answers), so a lockout is kept
as "started at, lasts" and compared robustly: if the clock now reads earlier than the start, the
lockout restarts from now, so it never lasts longer than its own duration and never vanishes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlite_utils

from station.database import transaction
from station.settings import DamagedSettingError, delete_value, read_value, write_value

PinPurpose = Literal["technician", "release"]
PIN_PURPOSES: tuple[PinPurpose, ...] = ("technician", "release")

FREE_TRIES = 3
FIRST_LOCK_S = 30.0
MAX_LOCK_S = 15 * 60.0
_PIN = re.compile(r"[0-9]{4,8}")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_MAX_INPUT = 64  # longer input is wrong without spending a hash on it


def check_pin_format(pin: str) -> None:
    """Raise ``ValueError`` unless ``pin`` is 4 to 8 digits (0-9)."""
    if not _PIN.fullmatch(pin):
        raise ValueError("a PIN must be 4 to 8 digits (0-9)")


def lock_seconds(failures: int) -> float:
    """How long the guard stays locked after ``failures`` wrong PINs in a row."""
    if failures < FREE_TRIES:
        return 0.0
    return min(FIRST_LOCK_S * 2.0 ** min(failures - FREE_TRIES, 16), MAX_LOCK_S)


@dataclass(frozen=True, slots=True)
class PinResult:
    """What a PIN check said. ``locked_until`` is in the guard's clock (wall seconds)."""

    outcome: Literal["ok", "wrong", "locked"]
    failures: int = 0
    locked_until: float | None = None
    retry_in_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True, slots=True)
class PinStatus:
    is_set: bool
    failures: int
    locked_until: float | None
    retry_in_s: float


@dataclass(frozen=True, slots=True)
class _Lockout:
    failures: int = 0
    locked_at: float = 0.0
    lock_s: float = 0.0

    def remaining(self, now: float) -> float:
        return max(0.0, self.locked_at + self.lock_s - now) if self.lock_s else 0.0


class PinGuard:
    """Checks one PIN (per purpose) and enforces the lockout. Thread-safe (one lock).

    :param db: the station database (its ``settings`` table).
    :param purpose: ``"technician"`` or ``"release"``.
    :param clock: wall-clock seconds (``time.time``); injected so tests can move it.

    With no PIN set, :meth:`check` answers ``ok``: no PIN means no second factor. Callers that
    require one test :attr:`is_set` first.

    Example::

        guard = PinGuard(db, "technician")
        guard.set_pin("2468")
        guard.check("1111").outcome  # "wrong"
    """

    def __init__(
        self,
        db: sqlite_utils.Database,
        purpose: PinPurpose = "technician",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if purpose not in PIN_PURPOSES:
            raise ValueError(f"purpose: must be one of {', '.join(PIN_PURPOSES)}, not {purpose!r}")
        self.purpose = purpose
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()
        self._hash_key = f"pin.{purpose}"
        self._lockout_key = f"pin.{purpose}.lockout"

    @property
    def is_set(self) -> bool:
        with self._lock, transaction(self._db, f"read the {self.purpose} PIN", write=False):
            return read_value(self._db, self._hash_key) is not None

    def set_pin(self, pin: str) -> None:
        """Store a new PIN (``ValueError`` unless 4-8 digits) and lift any lockout."""
        check_pin_format(pin)
        salt = secrets.token_bytes(16)
        record = {"salt": salt.hex(), "hash": _derive(pin, salt, _SCRYPT).hex(), **_SCRYPT}
        with self._lock, transaction(self._db, f"save the {self.purpose} PIN"):
            write_value(self._db, self._hash_key, record, self._stamp())
            delete_value(self._db, self._lockout_key)

    def clear(self) -> bool:
        """Remove the PIN and its lockout; True if a PIN was set."""
        with self._lock, transaction(self._db, f"remove the {self.purpose} PIN"):
            delete_value(self._db, self._lockout_key)
            return delete_value(self._db, self._hash_key)

    def status(self) -> PinStatus:
        with self._lock, transaction(self._db, f"read the {self.purpose} PIN"):
            is_set = read_value(self._db, self._hash_key) is not None
            lockout, now = self._current_lockout()
        remaining = lockout.remaining(now)
        return PinStatus(
            is_set=is_set,
            failures=lockout.failures,
            locked_until=now + remaining if remaining else None,
            retry_in_s=remaining,
        )

    def check(self, pin: str) -> PinResult:
        """Compare ``pin`` with the stored one, unless locked out; a wrong PIN counts.

        While locked, the PIN is not even compared (and the try does not count).
        """
        with self._lock:
            with transaction(self._db, f"read the {self.purpose} PIN"):
                record = read_value(self._db, self._hash_key)
                lockout, now = self._current_lockout()
            if record is None:
                return PinResult("ok")
            remaining = lockout.remaining(now)
            if remaining:
                return PinResult("locked", lockout.failures, now + remaining, remaining)
            # Hash outside the transaction: scrypt takes a while and other writers must not wait.
            right = _matches(pin, record, self._hash_key)
            with transaction(self._db, f"save the {self.purpose} PIN lockout"):
                if right:
                    delete_value(self._db, self._lockout_key)
                    return PinResult("ok")
                lockout, now = self._current_lockout()
                failures = lockout.failures + 1
                lock_s = lock_seconds(failures)
                self._save(_Lockout(failures, now, lock_s))
            if lock_s:
                return PinResult("locked", failures, now + lock_s, lock_s)
            return PinResult("wrong", failures)

    def _current_lockout(self) -> tuple[_Lockout, float]:
        # Inside a transaction. Restarts a lockout whose start lies in the clock's future.
        now = self._clock()
        stored = read_value(self._db, self._lockout_key)
        if stored is None:
            return _Lockout(), now
        try:
            lockout = _Lockout(int(stored["failures"]), float(stored["locked_at"]), float(stored["lock_s"]))
        except (TypeError, KeyError, ValueError) as exc:
            raise DamagedSettingError(f"the stored setting {self._lockout_key} is damaged") from exc
        if lockout.lock_s and now < lockout.locked_at:
            lockout = _Lockout(lockout.failures, now, lockout.lock_s)
            self._save(lockout)
        return lockout, now

    def _save(self, lockout: _Lockout) -> None:
        value = {"failures": lockout.failures, "locked_at": lockout.locked_at, "lock_s": lockout.lock_s}
        write_value(self._db, self._lockout_key, value, self._stamp())

    def _stamp(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _derive(pin: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=params["n"], r=params["r"], p=params["p"], dklen=32)


def _matches(pin: str, record: Any, key: str) -> bool:
    try:
        salt = bytes.fromhex(record["salt"])
        expected = bytes.fromhex(record["hash"])
        params = {name: int(record[name]) for name in _SCRYPT}
    except (TypeError, KeyError, ValueError) as exc:
        raise DamagedSettingError(f"the stored setting {key} is damaged; set the PIN again") from exc
    if len(pin) > _MAX_INPUT:
        return False
    return hmac.compare_digest(_derive(pin, salt, params), expected)
