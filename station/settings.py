"""Settings changed on the station, and the ``settings`` table they live in.

The configuration file gives the defaults; a technician may override a few of them on the
touchscreen (release mode, language, session timeout). :class:`StationSettings` answers with the
effective value: the override from the ``settings`` table when there is one, else the file's.
A setter checks a value exactly as the configuration loader would (the ``Literal`` types and
ranges of :class:`~station.config.StationSection`), so the rules live in one place.

The table is a small key → JSON store. Other owners keep per-station state in it through
:func:`read_value`, :func:`write_value` and :func:`delete_value` (the audit log's secret under
``audit.``, PIN hashes and lockouts under ``pin.``); overrides use the ``station.`` prefix.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from station.config import Config, Language, ReleaseMode, StationSection
from station.database import Database, transaction
from station.errors import StorageError

log = logging.getLogger(__name__)

Overridable = Literal["release_mode", "language", "session_timeout_s"]
OVERRIDABLE: tuple[Overridable, ...] = typing.get_args(Overridable)
_PREFIX = "station."
_ABSENT = object()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DamagedSettingError(StorageError):
    """A value in the ``settings`` table is not what was stored there (not JSON, wrong shape)."""


def read_value(db: Database, key: str, default: Any = None) -> Any:
    """The JSON value stored under ``key``, else ``default``.

    Raises :class:`DamagedSettingError` when the stored text is not JSON.
    """
    row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    if row is None:
        return default
    try:
        return json.loads(row[0])
    except (TypeError, json.JSONDecodeError) as exc:
        raise DamagedSettingError(f"the stored setting {key} is damaged ({exc})") from exc


def write_value(db: Database, key: str, value: Any, at: datetime) -> None:
    """Store ``value`` (JSON-able) under ``key``; call it inside :func:`transaction`."""
    db.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        [key, json.dumps(value), at.isoformat(timespec="seconds")],
    )


def delete_value(db: Database, key: str) -> bool:
    """Forget ``key``; True if it was there. Call it inside :func:`transaction`."""
    return db.execute("DELETE FROM settings WHERE key = ?", [key]).rowcount > 0


def check_override(name: str, value: Any, base: StationSection) -> StationSection:
    """``base`` with ``name`` set to ``value``, checked like the configuration file is.

    Raises ``ValueError`` naming the setting and what is allowed.
    """
    if name not in OVERRIDABLE:
        raise ValueError(f"{name}: cannot be changed on the station; allowed: {', '.join(OVERRIDABLE)}")
    hint = typing.get_type_hints(StationSection)[name]
    if typing.get_origin(hint) is Literal:
        allowed = typing.get_args(hint)
        if isinstance(value, bool) or value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise ValueError(f"{name}: must be one of {choices}, not {value!r}")
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: must be an integer, not {value!r}")
    else:
        raise TypeError(f"unsupported type for {name}: {hint}")  # extend when OVERRIDABLE grows
    return dataclasses.replace(base, **{name: value})  # __post_init__ checks the ranges


class StationSettings:
    """Effective station settings: overrides from the ``settings`` table win over the file.

    Thread-safe (one lock); a stored override that no longer passes the checks is ignored with
    a warning, so a damaged row can never stop the station.

    Example::

        settings = StationSettings(db, config)
        settings.set_release_mode("pick")
        settings.release_mode  # "pick", also after a restart
    """

    def __init__(self, db: Database, config: Config, *, now: Callable[[], datetime] = _utc_now) -> None:
        self._db = db
        self._config = config
        self._now = now
        self._lock = threading.Lock()

    def effective(self) -> StationSection:
        """The ``[station]`` section with every valid override applied."""
        return dataclasses.replace(self._config.station, **self.overrides())

    def overrides(self) -> dict[str, Any]:
        """The settings changed on the station that still pass the checks, by name."""
        with self._lock, transaction(self._db, "read the station settings", write=False):
            stored = {name: self._stored(name) for name in OVERRIDABLE}
        valid: dict[str, Any] = {}
        for name, value in stored.items():
            if value is _ABSENT:
                continue
            try:
                check_override(name, value, self._config.station)
            except ValueError as exc:
                log.warning("ignoring the setting %s stored on the station: %s", name, exc)
            else:
                valid[name] = value
        return valid

    @property
    def release_mode(self) -> ReleaseMode:
        return self.effective().release_mode

    @property
    def language(self) -> Language:
        return self.effective().language

    @property
    def session_timeout_s(self) -> int:
        return self.effective().session_timeout_s

    def set(self, name: str, value: Any) -> None:
        """Override ``name``; ``ValueError`` if the value is not allowed, nothing stored then."""
        check_override(name, value, self._config.station)
        with self._lock, transaction(self._db, f"save the setting {name}"):
            write_value(self._db, _PREFIX + name, value, self._now())

    def reset(self, name: str) -> bool:
        """Drop the override of ``name`` (back to the file's value); True if there was one."""
        if name not in OVERRIDABLE:
            raise ValueError(f"{name}: not a station setting; allowed: {', '.join(OVERRIDABLE)}")
        with self._lock, transaction(self._db, f"reset the setting {name}"):
            return delete_value(self._db, _PREFIX + name)

    def set_release_mode(self, mode: ReleaseMode) -> None:
        self.set("release_mode", mode)

    def set_language(self, language: Language) -> None:
        self.set("language", language)

    def set_session_timeout_s(self, seconds: int) -> None:
        self.set("session_timeout_s", seconds)

    def _stored(self, name: str) -> Any:
        try:
            return read_value(self._db, _PREFIX + name, _ABSENT)
        except DamagedSettingError as exc:
            log.warning("ignoring a setting stored on the station: %s", exc)
            return _ABSENT
