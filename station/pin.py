"""PINs: the technician PIN (opens the technician menu) and each badge holder's release PIN.

A technician PIN is 6 to 12 digits and is kept in the ``settings`` table (``pin.technician``);
a release PIN is 4 to 8 digits and is kept with its badge entry (the ``badges`` table, see
:mod:`station.directory`), asked after a tap while per-person release PINs are on
(``pin.release.on``). Both are stored only as scrypt hashes in the text format
``$scrypt$ln=14,r=8,p=1$<salt>$<hash>`` (unpadded base64), which ``release-station pin hash``
prints for the first-boot file. :func:`parse_pin_hash` accepts nothing else.

Wrong PINs lock out with a growing delay: the first three are free, then 30 s, doubling with
each further wrong PIN, capped at 15 minutes; after :data:`PERMANENT_AFTER` wrong PINs in a row
the lock stays until a technician lifts it (``pin set``/``pin clear``/``pin reset``, a first-boot
file). The lockout is stored as the *remaining* seconds and counted down with a monotonic clock
only while a station process watches it (:class:`Countdown`), written back every
:data:`PERSIST_S` seconds: stepping the wall clock changes nothing, a restart loses at most a
few seconds of counted time and never resets it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from station.database import Database, transaction
from station.directory import (
    locked_badges,
    read_badge_pin,
    reset_user_pins,
    write_badge_lockout,
    write_badge_pin,
)
from station.settings import DamagedSettingError, delete_value, read_value, write_value

log = logging.getLogger(__name__)

PinPurpose = Literal["technician", "release"]

FREE_TRIES = 3
FIRST_LOCK_S = 30.0
MAX_LOCK_S = 15 * 60.0
PERMANENT_AFTER = 10
PERSIST_S = 5.0
TECHNICIAN_KEY = "pin.technician"
LOCKOUT_KEY = "pin.technician.lockout"
RELEASE_ON_KEY = "pin.release.on"
IMPORTED_KEY = "pin.technician.imported"
_FORMATS: dict[PinPurpose, tuple[int, int]] = {"technician": (6, 12), "release": (4, 8)}
_LN, _R, _P = 14, 8, 1
_SALT_BYTES, _HASH_BYTES = 16, 32
_MAX_INPUT = 64  # longer input is wrong without spending a hash on it
_HASH_TEXT = re.compile(
    r"\$scrypt\$ln=(?P<ln>[0-9]{1,2}),r=(?P<r>[0-9]{1,2}),p=(?P<p>[0-9]{1,2})"
    r"\$(?P<salt>[A-Za-z0-9+/]{22})\$(?P<hash>[A-Za-z0-9+/]{43})"
)


def pin_digits(purpose: PinPurpose) -> tuple[int, int]:
    """The fewest and most digits a PIN of ``purpose`` has."""
    return _FORMATS[purpose]


def check_pin_format(pin: str, purpose: PinPurpose = "technician") -> None:
    """Raise ``ValueError`` unless ``pin`` has the digits (0-9) a PIN of ``purpose`` needs."""
    low, high = _FORMATS[purpose]
    if not re.fullmatch(f"[0-9]{{{low},{high}}}", pin):
        raise ValueError(f"a {purpose} PIN must be {low} to {high} digits (0-9)")


def lock_seconds(failures: int) -> float:
    """How long a PIN stays locked after ``failures`` wrong PINs in a row (before the permanent lock)."""
    if failures < FREE_TRIES:
        return 0.0
    return min(FIRST_LOCK_S * 2.0 ** min(failures - FREE_TRIES, 16), MAX_LOCK_S)


# --- hashes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PinHash:
    """A parsed PIN hash; ``str()`` gives the text format back."""

    salt: bytes
    digest: bytes = dataclasses.field(repr=False)

    def __str__(self) -> str:
        return f"$scrypt$ln={_LN},r={_R},p={_P}${_b64(self.salt)}${_b64(self.digest)}"

    def matches(self, pin: str) -> bool:
        if len(pin) > _MAX_INPUT:
            return False
        return hmac.compare_digest(_derive(pin, self.salt), self.digest)


def hash_pin(pin: str, purpose: PinPurpose = "technician") -> str:
    """The hash text of ``pin`` with a new random salt (``ValueError`` for a malformed PIN).

    Example::

        hash_pin("24681357").startswith("$scrypt$ln=14,r=8,p=1$")  # True
    """
    check_pin_format(pin, purpose)
    salt = secrets.token_bytes(_SALT_BYTES)
    return str(PinHash(salt, _derive(pin, salt)))


def parse_pin_hash(text: object) -> PinHash:
    """Check a hash text strictly (``ValueError`` saying what is wrong, never quoting it).

    Only the parameters this station uses are accepted (``ln=14,r=8,p=1``): a hostile file must
    not choose how much memory or time a check costs.
    """
    if not isinstance(text, str):
        raise ValueError(f"a PIN hash must be a string, not {type(text).__name__}")
    found = _HASH_TEXT.fullmatch(text)
    if found is None:
        raise ValueError(
            "a PIN hash must look like $scrypt$ln=14,r=8,p=1$<salt>$<hash>"
            " (made by `release-station pin hash`)"
        )
    if (int(found["ln"]), int(found["r"]), int(found["p"])) != (_LN, _R, _P):
        raise ValueError(f"a PIN hash must use ln={_LN},r={_R},p={_P}")
    salt, digest = _unb64(found["salt"]), _unb64(found["hash"])
    if len(salt) != _SALT_BYTES or len(digest) != _HASH_BYTES:
        raise ValueError("a PIN hash has a salt of 16 bytes and a hash of 32 bytes")
    return PinHash(salt, digest)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    if _b64(data) != text:  # stray bits in the last character: not what we print
        raise ValueError("a PIN hash is not canonical base64")
    return data


def _derive(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=2**_LN, r=_R, p=_P, dklen=_HASH_BYTES)


def stored_hash(value: Any, where: str) -> PinHash:
    """A stored hash (text, or the older record with hex fields), or :class:`DamagedSettingError`."""
    try:
        if isinstance(value, dict):  # before per-person PINs: {"salt": hex, "hash": hex, "n", "r", "p"}
            if (int(value["n"]), int(value["r"]), int(value["p"])) != (2**_LN, _R, _P):
                raise ValueError("unknown scrypt parameters")
            return PinHash(bytes.fromhex(value["salt"]), bytes.fromhex(value["hash"]))
        return parse_pin_hash(value)
    except (TypeError, KeyError, ValueError) as exc:
        raise DamagedSettingError(f"the stored {where} is damaged; set the PIN again") from exc


# --- lockouts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lockout:
    """Wrong PINs in a row, and how many seconds of running time the lock has left."""

    failures: int = 0
    remaining_s: float = 0.0
    permanent: bool = False

    @property
    def locked(self) -> bool:
        return self.permanent or self.remaining_s > 0

    def after_wrong(self) -> Lockout:
        failures = self.failures + 1
        return Lockout(failures, lock_seconds(failures), failures >= PERMANENT_AFTER)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @staticmethod
    def parse(value: Any, where: str) -> Lockout:
        if value is None:
            return Lockout()
        try:
            data = json.loads(value) if isinstance(value, str) else value
            if "locked_at" in data:  # before running-time lockouts: a wall-clock start; keep the full length
                lockout = Lockout(int(data["failures"]), float(data["lock_s"]))
            else:
                lockout = Lockout(int(data["failures"]), float(data["remaining_s"]), bool(data["permanent"]))
        except (TypeError, KeyError, ValueError, json.JSONDecodeError) as exc:
            raise DamagedSettingError(f"the stored {where} lockout is damaged") from exc
        if lockout.failures < 0 or not 0 <= lockout.remaining_s <= MAX_LOCK_S:
            raise DamagedSettingError(f"the stored {where} lockout is out of range")
        return lockout


class Countdown:
    """Counts stored lockouts down by the running time of this process (monotonic clock).

    It remembers, per key, the lockout it last saw or wrote and when. A stored value that is not
    the remembered one (first sight after a start, or another process changed it) is taken as it
    is; only time observed by this process counts. Not thread-safe: its owner holds a lock.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[str, tuple[Lockout, float]] = {}

    def current(self, key: str, stored: Lockout) -> tuple[Lockout, bool]:
        """The lockout now, and whether it should be written back (then call :meth:`saved`)."""
        now = self._clock()
        seen = self._seen.get(key)
        if seen is None or seen[0] != stored or stored.permanent or not stored.remaining_s:
            self._seen[key] = (stored, now)
            return stored, False
        elapsed = max(0.0, now - seen[1])
        current = dataclasses.replace(stored, remaining_s=max(0.0, stored.remaining_s - elapsed))
        return current, elapsed >= PERSIST_S or not current.remaining_s

    def saved(self, key: str, lockout: Lockout) -> None:
        self._seen[key] = (lockout, self._clock())


# --- the station's PINs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PinResult:
    """What a PIN check said; ``retry_in_s`` is running time, ``permanent`` needs a technician."""

    outcome: Literal["ok", "wrong", "locked", "no_pin"]
    failures: int = 0
    retry_in_s: float = 0.0
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True, slots=True)
class PinStatus:
    is_set: bool
    failures: int
    retry_in_s: float
    permanent: bool
    release_on: bool


class Pins:
    """The technician PIN, the release-PIN switch and every badge's PIN. Thread-safe (one lock).

    :param db: the station database (``settings`` and ``badges``).
    :param clock: monotonic seconds, for counting lockouts down (see :class:`Countdown`).

    With no technician PIN set, :meth:`check_technician` answers ``no_pin``: the menu stays shut.

    Example::

        pins = Pins(memory_database())
        pins.set_technician("24681357")
        pins.check_technician("11111111").outcome  # "wrong"
    """

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._countdown = Countdown(clock)

    # --- technician ------------------------------------------------------------------------

    @property
    def technician_set(self) -> bool:
        with self._lock, transaction(self._db, "read the technician PIN", write=False):
            return read_value(self._db, TECHNICIAN_KEY) is not None

    def set_technician(self, pin: str) -> None:
        """Store a new technician PIN (``ValueError`` unless 6-12 digits) and lift any lockout."""
        self.install_technician_hash(hash_pin(pin, "technician"))

    def install_technician_hash(self, text: str) -> None:
        """Store a hash made by :func:`hash_pin` (checked) and lift any lockout."""
        parsed = parse_pin_hash(text)
        with self._lock, transaction(self._db, "save the technician PIN"):
            write_value(self._db, TECHNICIAN_KEY, str(parsed), _now())
            delete_value(self._db, LOCKOUT_KEY)

    def clear_technician(self) -> bool:
        """Remove the technician PIN and its lockout; True if one was set."""
        with self._lock, transaction(self._db, "remove the technician PIN"):
            delete_value(self._db, LOCKOUT_KEY)
            return delete_value(self._db, TECHNICIAN_KEY)

    def unlock_technician(self) -> bool:
        """Lift the technician lockout and keep the PIN; True if there was one."""
        with self._lock, transaction(self._db, "unlock the technician PIN"):
            return delete_value(self._db, LOCKOUT_KEY)

    def imported_handoff(self) -> str:
        """The id of the first-boot PIN file imported last (:mod:`station.pin_handoff`)."""
        with self._lock, transaction(self._db, "read the first-boot PIN import", write=False):
            return str(read_value(self._db, IMPORTED_KEY, ""))

    def remember_handoff(self, handoff_id: str) -> None:
        with self._lock, transaction(self._db, "save the first-boot PIN import"):
            write_value(self._db, IMPORTED_KEY, handoff_id, _now())

    def check_technician(self, pin: str) -> PinResult:
        """Compare ``pin`` with the technician PIN unless locked out; a wrong PIN counts."""
        return self._check(pin, _TechnicianSlot(self._db))

    def status(self) -> PinStatus:
        """The technician PIN's state and the release-PIN switch; counts lockouts down.

        The station calls this often (see ``ReadPins``): it also writes back every badge's
        running lockout, so that a restart loses little of the counted time.
        """
        with self._lock:
            with transaction(self._db, "read the PINs", write=False):
                is_set = read_value(self._db, TECHNICIAN_KEY) is not None
                release_on = bool(read_value(self._db, RELEASE_ON_KEY, False))
                lockout = _TechnicianSlot(self._db).read_lockout()
                badges = locked_badges(self._db)
            if lockout.remaining_s > 0 or badges:  # only then a writing transaction: polled often
                with transaction(self._db, "count the PIN lockouts down"):
                    lockout = self._counted(_TechnicianSlot(self._db))
                    for badge_id in badges:  # one locked in between is counted at the next look
                        self._counted(_BadgeSlot(self._db, badge_id))
        return PinStatus(is_set, lockout.failures, lockout.remaining_s, lockout.permanent, release_on)

    # --- release PINs --------------------------------------------------------------------

    @property
    def release_on(self) -> bool:
        with self._lock, transaction(self._db, "read the release PIN switch", write=False):
            return bool(read_value(self._db, RELEASE_ON_KEY, False))

    def set_release_on(self, on: bool) -> None:
        """Switch per-person release PINs on or off (the PINs themselves stay)."""
        with self._lock, transaction(self._db, "save the release PIN switch"):
            write_value(self._db, RELEASE_ON_KEY, on, _now())

    def badge_pin_set(self, badge_id: str) -> bool:
        with self._lock, transaction(self._db, "read the badge's PIN", write=False):
            return _BadgeSlot(self._db, badge_id).read_hash() is not None

    def set_badge(self, badge_id: str, pin: str) -> None:
        """Give the (enrolled) badge its own release PIN (``ValueError`` unless 4-8 digits)."""
        text = hash_pin(pin, "release")
        with self._lock, transaction(self._db, "save the badge's PIN"):
            if not write_badge_pin(self._db, badge_id, text):
                raise ValueError("the badge is not enrolled")

    def check_badge(self, badge_id: str, pin: str) -> PinResult:
        """Compare ``pin`` with the badge's release PIN unless that badge is locked out."""
        return self._check(pin, _BadgeSlot(self._db, badge_id))

    def reset_user(self, user_id: str) -> int:
        """Forget the release PINs (and lockouts) of every badge of ``user_id``; how many badges."""
        with self._lock, transaction(self._db, "reset the user's PIN"):
            return reset_user_pins(self._db, user_id)

    # --- shared --------------------------------------------------------------------------

    def _check(self, pin: str, slot: _Slot) -> PinResult:
        with self._lock:
            with transaction(self._db, f"read the {slot.what}"):
                record = slot.read_hash()
                lockout = self._counted(slot)
            if record is None:
                return PinResult("no_pin")
            if lockout.locked:
                return PinResult("locked", lockout.failures, lockout.remaining_s, lockout.permanent)
            # Hash outside the transaction: scrypt takes a while and other writers must not wait.
            right = stored_hash(record, slot.what).matches(pin)
            with transaction(self._db, f"save the {slot.what} lockout"):
                lockout = Lockout() if right else self._counted(slot).after_wrong()
                slot.save(lockout)
                self._countdown.saved(slot.key, lockout)
        if right:
            return PinResult("ok")
        if lockout.locked:
            return PinResult("locked", lockout.failures, lockout.remaining_s, lockout.permanent)
        return PinResult("wrong", lockout.failures)

    def _counted(self, slot: _Slot) -> Lockout:
        """The slot's lockout now (inside a writing transaction); written back when due."""
        lockout, due = self._countdown.current(slot.key, slot.read_lockout())
        if due:
            slot.save(lockout)
            self._countdown.saved(slot.key, lockout)
        return lockout


class _Slot:
    """Where one PIN and its lockout live (inside the caller's transaction)."""

    key: str
    what: str

    def read_hash(self) -> Any:
        raise NotImplementedError

    def read_lockout(self) -> Lockout:
        raise NotImplementedError

    def save(self, lockout: Lockout) -> None:
        raise NotImplementedError


class _TechnicianSlot(_Slot):
    key = LOCKOUT_KEY
    what = "technician PIN"

    def __init__(self, db: Database) -> None:
        self._db = db

    def read_hash(self) -> Any:
        return read_value(self._db, TECHNICIAN_KEY)

    def read_lockout(self) -> Lockout:
        return _or_blocked(lambda: Lockout.parse(read_value(self._db, LOCKOUT_KEY), self.what))

    def save(self, lockout: Lockout) -> None:
        if lockout.failures:
            write_value(self._db, LOCKOUT_KEY, dataclasses.asdict(lockout), _now())
        else:
            delete_value(self._db, LOCKOUT_KEY)


class _BadgeSlot(_Slot):
    what = "badge PIN"

    def __init__(self, db: Database, badge_id: str) -> None:
        self._db = db
        self._badge_id = badge_id
        self.key = "badge:" + hashlib.sha256(badge_id.encode()).hexdigest()  # no card number kept

    def read_hash(self) -> Any:
        return read_badge_pin(self._db, self._badge_id)[0]

    def read_lockout(self) -> Lockout:
        return _or_blocked(lambda: Lockout.parse(read_badge_pin(self._db, self._badge_id)[1], self.what))

    def save(self, lockout: Lockout) -> None:
        write_badge_lockout(self._db, self._badge_id, lockout.to_json() if lockout.failures else None)


def _or_blocked(read: Callable[[], Lockout]) -> Lockout:
    """A damaged lockout locks (until a technician sets or resets the PIN); it never opens."""
    try:
        return read()
    except DamagedSettingError:
        return Lockout(PERMANENT_AFTER, 0.0, True)


def _now() -> datetime:
    return datetime.now(UTC)
