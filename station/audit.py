"""The audit log: what happened at the station, without keeping badge numbers.

Each entry has a time, an event name, the badge id hashed with HMAC-SHA256 under a random
per-station secret (so the same badge gives the same hash here and a useless one elsewhere), the
ezeep user id, a job count and an outcome. The secret is made on first use and kept in the
``settings`` table. The log keeps the newest ``max_rows`` entries; older ones are deleted in the
same transaction that adds a new one, so the table never grows past its bound.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from station.database import transaction
from station.settings import DamagedSettingError, read_value, write_value

HASH_KEY_SETTING = "audit.secret"
DEFAULT_MAX_ROWS = 10_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log; ``badge_hash`` is the keyed hash, never the badge id."""

    id: int
    at: datetime
    event: str
    badge_hash: str | None
    user_id: str | None
    jobs: int | None
    outcome: str


class AuditLog:
    """Append-only, bounded log of station events. Thread-safe (one lock).

    :param db: the station database (its ``audit`` and ``settings`` tables).
    :param max_rows: how many of the newest entries to keep (at least 1).
    :param now: wall clock for the entries' times (UTC).

    Example::

        audit = AuditLog(db)
        audit.record("release", badge_id="04A1B2C3", user_id=user.id, jobs=3, outcome="printed")
    """

    def __init__(
        self,
        db: sqlite_utils.Database,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows: must be at least 1, not {max_rows}")
        self._db = db
        self._max_rows = max_rows
        self._now = now
        self._lock = threading.Lock()
        self._secret: bytes | None = None

    def record(
        self,
        event: str,
        *,
        badge_id: str | None = None,
        user_id: str | None = None,
        jobs: int | None = None,
        outcome: str = "",
    ) -> int:
        """Add one entry and drop the oldest beyond the bound; returns the new entry's id.

        Raises :class:`~station.errors.StorageError` (nothing written) when the disk is full.
        """
        if not event:
            raise ValueError("event: must not be empty")
        with self._lock, transaction(self._db, f"write the audit entry {event!r}"):
            badge_hash = None if badge_id is None else self._hash(badge_id)
            cursor = self._db.execute(
                "INSERT INTO audit (at, event, badge_hash, user_id, jobs, outcome) VALUES (?, ?, ?, ?, ?, ?)",
                [self._now().isoformat(timespec="seconds"), event, badge_hash, user_id, jobs, outcome],
            )
            new_id = cursor.lastrowid
            assert new_id is not None
            # Rows are only ever deleted from the old end, so ids are dense: one indexed delete.
            self._db.execute("DELETE FROM audit WHERE id <= ?", [new_id - self._max_rows])
        return new_id

    def hash_badge(self, badge_id: str) -> str:
        """The keyed hash the log stores for ``badge_id``; safe to put in a log line."""
        with self._lock, transaction(self._db, "read the audit secret"):
            return self._hash(badge_id)

    def entries(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        with self._lock, transaction(self._db, "read the audit log", write=False):
            rows = self._db.execute(
                "SELECT id, at, event, badge_hash, user_id, jobs, outcome FROM audit "
                "ORDER BY id DESC LIMIT ?",
                [limit],
            ).fetchall()
        return [
            AuditEntry(
                id=row[0],
                at=datetime.fromisoformat(row[1]),
                event=row[2],
                badge_hash=row[3],
                user_id=row[4],
                jobs=row[5],
                outcome=row[6] or "",
            )
            for row in rows
        ]

    def count(self) -> int:
        with self._lock, transaction(self._db, "read the audit log", write=False):
            return int(self._db.execute("SELECT count(*) FROM audit").fetchone()[0])

    def _hash(self, badge_id: str) -> str:
        return hmac.new(self._station_secret(), badge_id.encode(), hashlib.sha256).hexdigest()

    def _station_secret(self) -> bytes:
        # Runs inside a transaction. A secret made here is cached only once it has been read
        # back from the table, so a rolled-back first write cannot leave two secrets in play.
        if self._secret is not None:
            return self._secret
        stored = read_value(self._db, HASH_KEY_SETTING)
        if stored is None:
            fresh = secrets.token_bytes(32)
            write_value(self._db, HASH_KEY_SETTING, fresh.hex(), self._now())
            return fresh
        try:
            secret = bytes.fromhex(stored)
        except (TypeError, ValueError):
            secret = b""
        if len(secret) < 16:
            raise DamagedSettingError(f"the stored setting {HASH_KEY_SETTING} is damaged")
        self._secret = secret
        return secret
