"""The release journal: one row per pull job in the ``releases`` table, written before each request.

Row states::

    intent ──► submitted ──► printed | failed | timed_out
       │
       ├──► held       never released: cancelled before sending, or found still waiting
       └──► released   found gone from the queue after a crash or an ambiguous failure

``intent`` is committed *before* the release request goes out. A row still ``intent`` when no
request is in flight is *in doubt*: the job may or may not have been released. ``released``
means the job left the queue but its spooler job cannot be followed. ``failed`` (a definite
failure) and ``held`` are safe to send again; a new intent bumps ``attempts``, which only ever
grows, so a settle based on an old reading never touches a newer attempt.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

import sqlite_utils

from station.database import transaction
from station.errors import StorageError

RowState = Literal["intent", "submitted", "printed", "failed", "timed_out", "released", "held"]
FINAL_STATES: Final = ("printed", "failed", "timed_out", "released", "held")
KEEP_FINAL_ROWS: Final = 1000  # enough to refuse a re-release for weeks; bounds the table


@dataclass(frozen=True, slots=True)
class JournalRow:
    job_id: str
    user_id: str
    printer_id: str
    state: RowState
    spool_id: str
    attempts: int
    detail: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Change:
    """A row's new state; ``spool_id`` None keeps the one recorded."""

    job_id: str
    state: RowState
    detail: str = ""
    spool_id: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _row_state(text: object) -> RowState:
    for state in get_args(RowState):
        if text == state:
            return state  # type: ignore[no-any-return]
    return "intent"  # a damaged state is treated as in doubt: checked before any resend


def _parse_time(text: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)  # a damaged stamp only delays a timeout; never blocks a row
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


class Journal:
    """Reads and writes ``releases`` rows; every write is one committed transaction.

    Thread-safe: one lock serialises this owner's use of the shared connection.
    """

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._db = db
        self._lock = threading.Lock()

    def rows(self, job_ids: Iterable[str]) -> dict[str, JournalRow]:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {row.job_id: row for row in self._select(f"job_id IN ({marks})", ids)}

    def unsettled(self) -> list[JournalRow]:
        """Rows left ``intent`` or ``submitted``, oldest first."""
        return self._select("state IN ('intent', 'submitted')", [])

    def record_intent(self, user_id: str, printer_id: str, job_ids: Iterable[str]) -> None:
        """Commit an ``intent`` row per job (one transaction); call BEFORE sending any of them."""
        now = _now()
        self._write(
            "record the release in the journal",
            "INSERT INTO releases (job_id, user_id, printer_id, state, spool_id, attempts, detail,"
            " created_at, updated_at) VALUES (?, ?, ?, 'intent', NULL, 1, '', ?, ?)"
            " ON CONFLICT(job_id) DO UPDATE SET user_id = excluded.user_id,"
            " printer_id = excluded.printer_id, state = 'intent', spool_id = NULL,"
            " attempts = attempts + 1, detail = '', updated_at = excluded.updated_at",
            [(job_id, user_id, printer_id, now, now) for job_id in job_ids],
        )

    def update(self, changes: Iterable[Change]) -> None:
        """Record how rows moved on, all in one transaction (one disk flush for a whole wave)."""
        now = _now()
        self._write(
            "update the release journal",
            "UPDATE releases SET state = ?, detail = ?, spool_id = COALESCE(?, spool_id), updated_at = ?"
            " WHERE job_id = ?",
            [(c.state, c.detail, c.spool_id, now, c.job_id) for c in changes],
        )

    def forget(self, job_ids: Iterable[str]) -> None:
        """Drop the rows of jobs deleted from their queue."""
        self._write(
            "update the release journal",
            "DELETE FROM releases WHERE job_id = ?",
            [(job_id,) for job_id in job_ids],
        )

    def settle_intents(self, released: Iterable[JournalRow], waiting: Iterable[JournalRow]) -> None:
        """Settle in-doubt rows in one transaction: ``released`` ones left the queue, ``waiting``
        ones are still in it (never released: ``held``).

        A row is changed only if it is still the very ``intent`` that was read (``attempts`` only
        ever grows): one that was claimed and sent again in the meantime is left alone.
        """
        now = _now()
        gone = "left the queue; outcome unknown"
        kept = "still waiting; never released"
        self._write(
            "update the release journal",
            "UPDATE releases SET state = ?, detail = ?, updated_at = ?"
            " WHERE job_id = ? AND state = 'intent' AND attempts = ?",
            [("released", gone, now, row.job_id, row.attempts) for row in released]
            + [("held", kept, now, row.job_id, row.attempts) for row in waiting],
        )

    def prune(self, keep: int = KEEP_FINAL_ROWS) -> None:
        """Keep only the newest ``keep`` settled rows."""
        settled = ", ".join(f"'{state}'" for state in FINAL_STATES)
        count = self._query(f"SELECT COUNT(*) FROM releases WHERE state IN ({settled})", [])[0][0]  # noqa: S608
        if count <= keep:
            return
        self._write(
            "tidy the release journal",
            f"DELETE FROM releases WHERE state IN ({settled}) AND job_id NOT IN"  # noqa: S608
            f" (SELECT job_id FROM releases WHERE state IN ({settled}) ORDER BY updated_at DESC LIMIT ?)",
            [(keep,)],
        )

    def _write(self, what: str, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
        """Run ``sql`` once per parameter row, all in one transaction; nothing at all for none."""
        if not rows:
            return
        with self._lock, transaction(self._db, what):
            self._db.conn.executemany(sql, rows)

    def _select(self, where: str, params: list[str]) -> list[JournalRow]:
        found = self._query(
            "SELECT job_id, user_id, printer_id, state, spool_id, attempts, detail, updated_at"  # noqa: S608
            f" FROM releases WHERE {where} ORDER BY created_at",  # ``where``: our own fixed fragments
            params,
        )
        return [
            JournalRow(
                job_id=str(job_id),
                user_id=str(user_id or ""),
                printer_id=str(printer_id or ""),
                state=_row_state(state),
                spool_id=str(spool_id or ""),
                attempts=int(attempts or 0),
                detail=str(detail or ""),
                updated_at=_parse_time(str(updated_at)),
            )
            for job_id, user_id, printer_id, state, spool_id, attempts, detail, updated_at in found
        ]

    def _query(self, sql: str, params: list[str]) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return list(self._db.execute(sql, params).fetchall())
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"could not read the release journal: {exc}") from exc
