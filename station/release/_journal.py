"""The release journal: one row per pull job in the ``releases`` table, written before each request.

Row states::

    intent ──► submitted ──► printed | failed | timed_out
       │
       ├──► held       never released: cancelled before sending, or found still waiting
       └──► released   found gone from the queue after a crash or an ambiguous failure

    deleting ──► (row dropped)   the job left the queue: deleted
       └──► held                 a definite refusal, or found still waiting after the window

``intent`` is committed *before* the release request goes out, ``deleting`` before the delete
request. A row still ``intent`` or ``deleting`` when no request is in flight is *in doubt*: the
job may or may not have been released (deleted). An ambiguous end stamps the row again
(``updated_at``), so the quarantine window of :class:`~station.release.ReleaseEngine` counts
from the moment the station gave up on the request. ``released`` means the job left the queue
but its spooler job cannot be followed. ``failed`` (a definite failure) and ``held`` are safe to
send again; a new intent bumps ``attempts``, which only ever grows, so a settle based on an old
reading never touches a newer attempt.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from station.database import Database, transaction
from station.errors import StorageError

RowState = Literal["intent", "submitted", "printed", "failed", "timed_out", "released", "held", "deleting"]
IN_DOUBT_STATES: Final = ("intent", "deleting")
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

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()

    def rows(self, job_ids: Iterable[str]) -> dict[str, JournalRow]:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {row.job_id: row for row in self._select(f"job_id IN ({marks})", ids)}

    def unsettled(self) -> list[JournalRow]:
        """Rows left ``intent``, ``deleting`` or ``submitted``, oldest first."""
        return self._select("state IN ('intent', 'deleting', 'submitted')", [])

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

    def record_delete(self, user_id: str, job_ids: Iterable[str]) -> None:
        """Commit a ``deleting`` row per job (one transaction); call BEFORE sending the deletes."""
        now = _now()
        self._write(
            "record the delete in the journal",
            "INSERT INTO releases (job_id, user_id, printer_id, state, spool_id, attempts, detail,"
            " created_at, updated_at) VALUES (?, ?, '', 'deleting', NULL, 1, '', ?, ?)"
            " ON CONFLICT(job_id) DO UPDATE SET user_id = excluded.user_id, state = 'deleting',"
            " attempts = attempts + 1, detail = '', updated_at = excluded.updated_at",
            [(job_id, user_id, now, now) for job_id in job_ids],
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

    def settle(self, gone: Iterable[JournalRow], waiting: Iterable[JournalRow]) -> None:
        """Settle in-doubt rows in one transaction: ``gone`` ones left the queue (an ``intent``
        becomes ``released``, a ``deleting`` row is dropped), ``waiting`` ones are still in it
        (never released, never deleted: ``held``).

        A row is changed only if it is still the very row that was read (same state, and
        ``attempts`` only ever grows): one that was claimed and sent again meanwhile is left alone.
        """
        now = _now()
        gone, waiting = list(gone), list(waiting)
        released = "left the queue; outcome unknown"
        kept = "still waiting; never released"
        intents = [row for row in gone if row.state == "intent"]
        deletes = [row for row in gone if row.state == "deleting"]
        self._write_all(
            "update the release journal",
            (
                "UPDATE releases SET state = ?, detail = ?, updated_at = ?"
                " WHERE job_id = ? AND state = ? AND attempts = ?",
                [("released", released, now, r.job_id, r.state, r.attempts) for r in intents]
                + [("held", kept, now, r.job_id, r.state, r.attempts) for r in waiting],
            ),
            (
                "DELETE FROM releases WHERE job_id = ? AND state = ? AND attempts = ?",
                [(r.job_id, r.state, r.attempts) for r in deletes],
            ),
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
        self._write_all(what, (sql, rows))

    def _write_all(self, what: str, *statements: tuple[str, Sequence[tuple[object, ...]]]) -> None:
        """Run each statement once per parameter row, all in one transaction (none for no rows)."""
        work = [(sql, rows) for sql, rows in statements if rows]
        if not work:
            return
        with self._lock, transaction(self._db, what):
            for sql, rows in work:
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
