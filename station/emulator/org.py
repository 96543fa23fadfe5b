"""The organisation the emulator serves: members, printers, pull jobs and the spooler.

A released job becomes a spooler job whose ``sfapi/Status`` goes 1246 (no status yet) → 129
(printing) → 0 (done), or 3011 when its printer was set to fail, over ``job_duration_s``. A
printer that goes offline holds its unfinished spooler jobs where they are until it comes back.
All methods are thread-safe: the HTTP handlers and the test's Python calls share this object.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from station.emulator.model import PRINTER_STATUSES, EmuPrinter, EmuUser, SeedJob

STATUS_NO_STATUS = 1246
STATUS_PRINTING = 129
STATUS_DONE = 0
STATUS_FAILED = 3011
STATUS_BAD_ID = 2

_BYTES_PER_PAGE = 48_213


class NotFound(LookupError):
    """An id or email the organisation does not know."""


@dataclass(slots=True)
class _Job:
    id: str
    owner_id: str
    name: str
    pages: int
    created: float
    seq: int
    spool_ids: list[str]

    def as_json(self, status: str) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(self.created, UTC).isoformat(timespec="microseconds")
        return {
            "id": self.id,
            "name": self.name,
            "created": stamp.replace("+00:00", "Z"),
            "pages": self.pages,
            "owner_id": self.owner_id,
            "status": status,
            "size": self.pages * _BYTES_PER_PAGE,
        }


@dataclass(slots=True)
class _SpoolJob:
    id: str
    job_id: str
    printer_id: str
    pages: int
    fails: bool
    started: float
    held_elapsed: float | None  # set while the printer is offline


class Org:
    def __init__(
        self,
        users: tuple[EmuUser, ...],
        printers: tuple[EmuPrinter, ...],
        jobs: tuple[SeedJob, ...],
        *,
        job_duration_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._duration = job_duration_s
        self._users = {u.id: u for u in users}
        self._by_email = {u.email.lower(): u for u in users}
        self._printers = {p.id: p for p in printers}
        self._failing: set[str] = set()
        self._jobs: dict[str, _Job] = {}
        self._spool: dict[str, _SpoolJob] = {}
        self._releases: Counter[str] = Counter()
        self._seq = itertools.count(1)
        now = clock()
        for seed in sorted(jobs, key=lambda s: -s.age_s):
            self._add_job(self.user_by_email(seed.owner_email), seed.name, seed.pages, now - seed.age_s)

    # -- members and printers ------------------------------------------------------------

    @property
    def users(self) -> list[EmuUser]:
        return list(self._users.values())

    def user_by_email(self, email: str) -> EmuUser:
        try:
            return self._by_email[email.strip().lower()]
        except KeyError:
            raise NotFound(f"no org member with email {email!r}") from None

    def user(self, user_id: str) -> EmuUser:
        try:
            return self._users[user_id]
        except KeyError:
            raise NotFound(f"no org member with id {user_id!r}") from None

    def find_users(self, *, email: str | None, search: str | None) -> list[EmuUser]:
        found = self.users
        if email is not None:
            found = [u for u in found if u.email == email.strip().lower()]
        if search:
            needle = search.lower()
            found = [u for u in found if needle in f"{u.email} {u.first_name} {u.last_name}".lower()]
        return found

    @property
    def printers(self) -> list[EmuPrinter]:
        with self._lock:
            return list(self._printers.values())

    def printer(self, printer_id: str) -> EmuPrinter:
        with self._lock:
            return self._printer(printer_id)

    def _printer(self, printer_id: str) -> EmuPrinter:
        try:
            return self._printers[printer_id]
        except KeyError:
            raise NotFound(f"no printer with id {printer_id!r}") from None

    def set_printer_status(self, printer_id: str, status: str) -> None:
        if status not in PRINTER_STATUSES:
            raise ValueError(f"printer status must be one of {PRINTER_STATUSES}, not {status!r}")
        with self._lock:
            printer = self._printer(printer_id)
            if printer.status == status:
                return
            self._printers[printer_id] = replace(printer, status=status)
            now = self._clock()
            for spool in self._spool.values():
                if spool.printer_id != printer_id:
                    continue
                if status == "Offline" and now - spool.started < self._duration:
                    spool.held_elapsed = now - spool.started
                elif status == "Online" and spool.held_elapsed is not None:
                    spool.started, spool.held_elapsed = now - spool.held_elapsed, None

    def set_printer_fails(self, printer_id: str, fails: bool) -> None:
        with self._lock:
            self._printer(printer_id)
            if fails:
                self._failing.add(printer_id)
            else:
                self._failing.discard(printer_id)

    def printer_fails(self, printer_id: str) -> bool:
        with self._lock:
            return printer_id in self._failing

    # -- pull jobs -----------------------------------------------------------------------

    def add_job(self, email: str, name: str = "Report.pdf", pages: int = 1) -> str:
        if pages < 1:
            raise ValueError("a job has at least one page")
        if not name.strip():
            raise ValueError("a job needs a name")
        user = self.user_by_email(email)
        with self._lock:
            return self._add_job(user, name, pages, self._clock())

    def _add_job(self, user: EmuUser, name: str, pages: int, created: float) -> str:
        job = _Job(str(uuid.uuid4()), user.id, name, pages, created, next(self._seq), [])
        self._jobs[job.id] = job
        return job.id

    def jobs(self, *, user_id: str | None, status: str | None, newest_first: bool) -> list[dict[str, Any]]:
        """Jobs as the REST API shows them; only ``INQUEUE`` is a status anyone asks for."""
        with self._lock:
            rows = [
                (job, self._job_status(job))
                for job in self._jobs.values()
                if user_id is None or job.owner_id == user_id
            ]
        rows = [(job, st) for job, st in rows if status is None or st == status]
        rows.sort(key=lambda row: (row[0].created, row[0].seq), reverse=newest_first)
        return [job.as_json(st) for job, st in rows]

    def waiting_jobs(self, email: str) -> list[dict[str, Any]]:
        return self.jobs(user_id=self.user_by_email(email).id, status="INQUEUE", newest_first=True)

    def _job_status(self, job: _Job) -> str:
        # A job leaves the queue once released; it comes back if every release of it failed.
        if not job.spool_ids:
            return "INQUEUE"
        codes = [self._spool_status(self._spool[s])[0] for s in job.spool_ids]
        if all(code == STATUS_FAILED for code in codes):
            return "INQUEUE"
        return "DONE" if STATUS_DONE in codes else "PRINTING"

    def delete_job(self, job_id: str) -> None:
        with self._lock:
            if self._jobs.pop(job_id, None) is None:
                raise NotFound(f"no job with id {job_id!r}")

    def release(self, job_id: str, printer_id: str) -> str:
        """Send a pull job to a printer; a second release is accepted (and counted)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job with id {job_id!r}")
            printer = self._printer(printer_id)
            self._releases[job_id] += 1
            spool_id = f"ezprnds-emu:{printer.name}_tpcb_{printer.tp_id}#{len(self._spool) + 1}:1"
            now = self._clock()
            self._spool[spool_id] = _SpoolJob(
                spool_id,
                job_id,
                printer_id,
                job.pages,
                printer_id in self._failing,
                now,
                0.0 if printer.status == "Offline" else None,
            )
            job.spool_ids.append(spool_id)
            return spool_id

    def release_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._releases)

    def spool_status(self, spool_id: str) -> dict[str, Any]:
        with self._lock:
            spool = self._spool.get(spool_id)
            if spool is None:
                code, printed, total = STATUS_BAD_ID, 0, 0
            else:
                code, printed = self._spool_status(spool)
                total = spool.pages
        text = {STATUS_PRINTING: "PRINTING", STATUS_NO_STATUS: "RETAINED"}.get(code, "")
        return {
            "jobstatus": code,
            "jobstatusstring": text,
            "jobpagesprinted": printed,
            "jobpagestotal": total,
            "jobposition": 1 if code in (STATUS_NO_STATUS, STATUS_PRINTING) else 0,
        }

    def _spool_status(self, spool: _SpoolJob) -> tuple[int, int]:
        """(jobstatus, pages printed) of a spooler job right now."""
        elapsed = spool.held_elapsed if spool.held_elapsed is not None else self._clock() - spool.started
        if elapsed >= self._duration:
            return (STATUS_FAILED, 0) if spool.fails else (STATUS_DONE, spool.pages)
        if elapsed < self._duration / 4:
            return STATUS_NO_STATUS, 0
        fraction = (elapsed - self._duration / 4) / (self._duration * 3 / 4)
        return STATUS_PRINTING, 0 if spool.fails else int(spool.pages * fraction)
