"""The audit log: what happened at the station, without keeping badge numbers, and tamper-evident.

Each entry has a time, an event name, the badge id hashed with HMAC-SHA256 under a random
per-station secret (so the same badge gives the same hash here and a useless one elsewhere), the
ezeep user id, a job count and an outcome. Each entry also carries a MAC over its fields and the
MAC of the entry before it, under the same secret: :meth:`AuditLog.verify` finds an entry that
was changed, inserted or removed in the middle (removing the newest ones, or the whole log, is
not something a chain can show).

The secret is not in the database it protects: it lives in its own file next to the database
(``audit.key``, mode 0600, created atomically), so a copy of the database alone can neither
forge entries nor try badge numbers against the hashes. A secret an older version kept in the
``settings`` table is moved to the file and deleted from the table on first use. An in-memory
database (tests, dry runs) gets a secret that lives as long as the :class:`AuditLog`.

The log keeps the newest ``max_rows`` entries; older ones are deleted in the same transaction that
adds a new one, so the table never grows past its bound.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station.atomicfile import create_atomic
from station.database import Database, transaction
from station.errors import StorageError
from station.settings import delete_value, read_value

log = logging.getLogger(__name__)

LEGACY_SECRET_SETTING = "audit.secret"  # noqa: S105  # a settings key, not a secret
"""Where versions before the key file kept the secret (in the database it protects)."""
SECRET_FILE = "audit.key"  # noqa: S105  # a file name
DEFAULT_MAX_ROWS = 10_000
_SECRET_BYTES = 32


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditSecretError(StorageError):
    """The audit secret file is missing (when it is needed to verify) or damaged."""


def secret_path_of(db: Database) -> Path | None:
    """``audit.key`` next to the database file; None for an in-memory database."""
    row = db.execute("PRAGMA database_list").fetchone()
    return Path(row[2]).with_name(SECRET_FILE) if row is not None and row[2] else None


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


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """What :meth:`AuditLog.verify` found: ``checked`` chained entries, and the first problem."""

    checked: int
    unchained: int = 0
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


class AuditLog:
    """Append-only, bounded, chained log of station events. Thread-safe (one lock).

    :param db: the station database (its ``audit`` table).
    :param max_rows: how many of the newest entries to keep (at least 1).
    :param now: wall clock for the entries' times (UTC).
    :param secret_file: where the secret lives; by default ``audit.key`` next to the database
        file (an in-memory database keeps its secret in memory).

    Example::

        audit = AuditLog(db)
        audit.record("release", badge_id="04A1B2C3", user_id=user.id, jobs=3, outcome="printed")
        assert audit.verify().ok
    """

    def __init__(
        self,
        db: Database,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        now: Callable[[], datetime] = _utc_now,
        secret_file: Path | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows: must be at least 1, not {max_rows}")
        self._db = db
        self._max_rows = max_rows
        self._now = now
        self._lock = threading.Lock()
        self._secret_file = secret_file or secret_path_of(db)
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

        Raises :class:`~station.errors.StorageError` (nothing written) when the disk is full, and
        :class:`AuditSecretError` when the secret file is damaged.
        """
        if not event:
            raise ValueError("event: must not be empty")
        with self._lock:
            secret = self._station_secret()
            with transaction(self._db, f"write the audit entry {event!r}"):
                badge_hash = None if badge_id is None else _keyed(secret, badge_id)
                last = self._db.execute("SELECT mac FROM audit ORDER BY id DESC LIMIT 1").fetchone()
                prev_mac = (last[0] or "") if last is not None else ""
                at = self._now().isoformat(timespec="seconds")
                fields = [at, event, badge_hash, user_id, jobs, outcome, prev_mac]
                cursor = self._db.execute(
                    "INSERT INTO audit (at, event, badge_hash, user_id, jobs, outcome, prev_mac) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    fields,
                )
                new_id = cursor.lastrowid
                assert new_id is not None
                mac = _mac(secret, [new_id, *fields])
                self._db.execute("UPDATE audit SET mac = ? WHERE id = ?", [mac, new_id])
                # Rows are only ever deleted from the old end, so ids are dense: one indexed delete.
                self._db.execute("DELETE FROM audit WHERE id <= ?", [new_id - self._max_rows])
        return new_id

    def hash_badge(self, badge_id: str) -> str:
        """The keyed hash the log stores for ``badge_id``; safe to put in a log line."""
        with self._lock:
            return _keyed(self._station_secret(), badge_id)

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

    def verify(self) -> AuditCheck:
        """Check every entry's MAC and its link to the entry before; never writes.

        Raises :class:`AuditSecretError` when the secret file is missing or damaged: without
        it nothing can be verified (restore it from a backup of the state directory).
        """
        with self._lock:
            secret = self._station_secret(create=False)
            with transaction(self._db, "read the audit log", write=False):
                rows = self._db.execute(
                    "SELECT id, at, event, badge_hash, user_id, jobs, outcome, prev_mac, mac "
                    "FROM audit ORDER BY id"
                ).fetchall()
        return _check_chain(secret, rows)

    def _station_secret(self, *, create: bool = True) -> bytes:
        if self._secret is None:
            self._secret = self._load_secret(create)
        return self._secret

    def _load_secret(self, create: bool) -> bytes:
        path = self._secret_file
        if path is None:
            return secrets.token_bytes(_SECRET_BYTES)
        with transaction(self._db, "read the audit secret", write=False):
            legacy = read_value(self._db, LEGACY_SECRET_SETTING)
        if not path.exists():
            if legacy is None and not create:
                raise AuditSecretError(
                    f"the audit secret file {path} is missing; without it the audit log cannot be "
                    "verified (restore it from a backup of the state directory)"
                )
            where = f"the setting {LEGACY_SECRET_SETTING} in the database"
            fresh = None if legacy is None else _from_hex(legacy, where)
            try:
                made = create_atomic(path, (fresh or secrets.token_bytes(_SECRET_BYTES)).hex().encode())
            except OSError as exc:  # a full disk, a read-only or missing directory
                raise AuditSecretError(f"cannot create the audit secret file {path}: {exc}") from exc
            if made and fresh is None and self._chained():
                log.warning("made a new audit secret %s; older audit entries can no longer be verified", path)
        secret = _from_hex(_read_text(path), f"the audit secret file {path}")
        if legacy is not None:
            self._forget_legacy()
        return secret

    def _chained(self) -> bool:
        with transaction(self._db, "read the audit log", write=False):
            return (
                self._db.execute("SELECT 1 FROM audit WHERE mac IS NOT NULL LIMIT 1").fetchone() is not None
            )

    def _forget_legacy(self) -> None:
        # The file holds the secret now; with secure_delete the row's bytes are zeroed, and the
        # checkpoint moves the zeroed page out of the WAL into the database file.
        with transaction(self._db, "move the audit secret out of the database"):
            delete_value(self._db, LEGACY_SECRET_SETTING)
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditSecretError(f"cannot read the audit secret file {path}: {exc}") from exc


def _from_hex(stored: Any, where: str) -> bytes:
    """The secret from its hex text; a damaged one is reported, never replaced."""
    try:
        secret = bytes.fromhex(stored)
    except (TypeError, ValueError):
        secret = b""
    if len(secret) < 16:
        raise AuditSecretError(f"{where} is damaged; it is kept as it is (move it away to start a new key)")
    return secret


def _keyed(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def _mac(secret: bytes, fields: Sequence[object]) -> str:
    return _keyed(secret, json.dumps(list(fields), ensure_ascii=True))


def _check_chain(secret: bytes, rows: Sequence[Sequence[Any]]) -> AuditCheck:
    checked = unchained = 0
    previous: Sequence[Any] | None = None
    for row in rows:
        entry_id, prev_mac, mac = row[0], row[7], row[8]
        if mac is None:
            if previous is not None:
                return AuditCheck(checked, unchained, f"entry {entry_id} has no MAC: it was added by hand")
            unchained += 1  # written before entries were chained
            continue
        if previous is not None and (entry_id != previous[0] + 1 or prev_mac != previous[8]):
            return AuditCheck(
                checked,
                unchained,
                f"entry {entry_id} does not follow entry {previous[0]}: entries were removed",
            )
        if not hmac.compare_digest(mac, _mac(secret, row[:8])):
            problem = f"entry {entry_id} was changed, or written with another audit secret"
            return AuditCheck(checked, unchained, problem)
        checked += 1
        previous = row
    return AuditCheck(checked, unchained)
