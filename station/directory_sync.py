"""Keeping the badge directory in step with a directory source (LDAP, Entra ID, a file at a URL).

One sync (:meth:`DirectorySync.run`) does, in this order:

1. with ``write_back``, send this station's own enrolments to the source (each becomes the
   badge attribute of the person with that e-mail address);
2. fetch a snapshot (:class:`BadgeSource.fetch`; a source may answer "unchanged");
3. judge it as a whole: a bad line, an invalid badge value or a badge held by two people
   refuses the snapshot and keeps the last good copy (:class:`SnapshotError`);
4. resolve e-mail addresses to ezeep users (cached in ``directory_people``: an address is
   asked once, one without an ezeep user again after a day) — people the source knows but
   ezeep does not are left out, counted, and their badges kept aside, so that a tap says "not
   an ezeep user" rather than "unknown";
5. apply it in one transaction (:meth:`station.directory.Directory.apply_source`), which holds
   back a snapshot that would remove too much;
6. record the outcome in ``directory_sync`` (last attempt, last success, last error, failures
   in a row, the counts) for ``directory status``, doctor, the technician menu and the metrics file.

:class:`SyncLoop` runs syncs on its own thread every ``sync_interval_s``, sooner after a
failure (backoff from 30 s up to the interval, never sooner than a throttling source asked),
and stops at once. Taps never wait for it: lookups read SQLite only. Only counts are logged,
never badge values, names or addresses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from station.audit import AuditLog
from station.cloud.errors import UsersRefusedError
from station.database import Database, transaction
from station.directory import (
    Directory,
    DirectoryError,
    EmailResolver,
    HeldBackError,
    InvalidEntryError,
    SourceEntry,
    SourceSync,
    validate_badge_id,
    validate_email,
    validate_user_id,
)
from station.errors import StationError
from station.metrics import Metrics

log = logging.getLogger(__name__)

NEGATIVE_TTL = timedelta(days=1)  # ask ezeep again about an address it did not know
FIRST_RETRY_S = 30.0


class SourceError(DirectoryError):
    """The source could not be read or written (unreachable, refused, a broken answer).

    ``retry_after_s``: how long the source asked us to wait before the next try (throttling).
    """

    def __init__(self, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SnapshotError(DirectoryError):
    """The source's snapshot is obviously broken; the last good copy is kept."""


class NotInSourceError(DirectoryError, LookupError):
    """Write-back found nobody with that e-mail address in the source."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One person's badge as the source has it; ``where`` names it in messages ("line 4")."""

    where: str
    badge_id: str = field(repr=False)
    email: str = field(default="", repr=False)
    display_name: str = field(default="", repr=False)
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the source holds now; ``version`` (an ETag…) lets the next fetch say "unchanged";
    ``read`` says how much was read to build it (``full read``, ``incremental: 2 entries read``)."""

    records: tuple[SourceRecord, ...]
    version: str = ""
    problems: tuple[str, ...] = ()
    read: str = ""


class BadgeSource(Protocol):
    """A directory source (:mod:`station.directory_sources`)."""

    def describe(self) -> str:
        """What to call it in messages, e.g. ``ldap ldaps://dc1.example.com`` (no secrets)."""
        ...

    def fetch(self, version: str) -> Snapshot | None:
        """The whole snapshot, or ``None`` if it has not changed since ``version``.

        Raises :class:`SourceError` when the source cannot be read.
        """
        ...

    def write_badge(self, email: str, badge_id: str) -> None:
        """Give the person with ``email`` this badge in the source (write-back), besides the
        badges they have there if the source holds several per person.

        Raises :class:`NotInSourceError`, or :class:`SourceError`.
        """
        ...

    def remove_badge(self, email: str, badge_id: str) -> None:
        """Take this badge from the person with ``email`` in the source, if they still have it
        (write-back of an unlink). Raises :class:`NotInSourceError`, or :class:`SourceError`."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """What one sync did; ``unchanged`` when the source said nothing changed."""

    applied: SourceSync = field(default_factory=SourceSync)
    unchanged: bool = False
    unresolved: int = 0
    published: int = 0
    dry_run: bool = False
    read: str = ""

    def summary(self) -> str:
        """Counts only (safe to log and to show)."""
        if self.unchanged:
            return "unchanged"
        text = f"{self.applied.counts()}, not ezeep users {self.unresolved}"
        text += f", written back {self.published}" if self.published else ""
        return text + (f" ({self.read})" if self.read else "")


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """The last sync as recorded (``None``: never).

    ``failures``: failed attempts in a row; ``held_back``: the last attempt was a mass removal
    held back (until a sync succeeds). ``entries`` (the source's badges the station holds),
    ``conflicts`` (local entries that gave way) and ``unresolved`` (people ezeep does not know)
    are the counts of the last sync that applied a snapshot.
    """

    source: str
    last_attempt: datetime | None
    last_success: datetime | None
    last_error: str
    failures: int
    summary: str
    entries: int = 0
    conflicts: int = 0
    unresolved: int = 0
    held_back: bool = False


def read_status(db: Database) -> SyncStatus | None:
    """What the last sync recorded, ``None`` if there was none."""
    with transaction(db, "read the directory sync status", write=False):
        row = db.execute(
            "SELECT source, last_attempt, last_success, last_error, failures, summary, "
            "entries, conflicts, unresolved, held_back FROM directory_sync WHERE id = 1"
        ).fetchone()
    if row is None:
        return None
    return SyncStatus(
        source=row[0] or "",
        last_attempt=datetime.fromisoformat(row[1]) if row[1] else None,
        last_success=datetime.fromisoformat(row[2]) if row[2] else None,
        last_error=row[3] or "",
        failures=int(row[4] or 0),
        summary=row[5] or "",
        entries=int(row[6] or 0),
        conflicts=int(row[7] or 0),
        unresolved=int(row[8] or 0),
        held_back=bool(row[9]),
    )


def publish_status(metrics: Metrics, status: SyncStatus) -> None:
    """Put ``status`` in the metrics file (the ``release_station_directory_*`` gauges)."""
    success = status.last_success.timestamp() if status.last_success else 0.0
    metrics.set("release_station_directory_last_success_timestamp_seconds", success)
    metrics.set("release_station_directory_entries", status.entries)
    metrics.set("release_station_directory_failures", status.failures)
    metrics.set("release_station_directory_held_back", int(status.held_back))
    metrics.set("release_station_directory_conflicts", status.conflicts)
    metrics.set("release_station_directory_not_ezeep_users", status.unresolved)


def check_snapshot(snapshot: Snapshot) -> list[SourceRecord]:
    """The snapshot's records if it may be applied, else :class:`SnapshotError` saying why.

    Messages name lines or entries, never badge values or people.
    """
    reasons = list(snapshot.problems)
    for record in snapshot.records:
        try:
            validate_badge_id(record.badge_id)
            if record.user_id:
                validate_user_id(record.user_id)
            elif record.email:
                validate_email(record.email)
            else:
                raise InvalidEntryError("neither an e-mail address nor a user id")
        except InvalidEntryError as exc:
            reason = (
                "an invalid e-mail address" if "e-mail address" in str(exc) and record.email else str(exc)
            )
            reasons.append(f"{record.where}: {reason}")
    seen = Counter(record.badge_id for record in snapshot.records)
    twice = [record.where for record in snapshot.records if seen[record.badge_id] > 1]
    if twice:
        reasons.append(f"one badge is given to several people ({', '.join(twice[:5])})")
    if reasons:
        more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
        raise SnapshotError(
            f"the source's snapshot was refused, the last good copy is kept: {'; '.join(reasons[:3])}{more}"
        )
    return list(snapshot.records)


class DirectorySync:
    """Runs one sync at a time between ``source`` and ``directory`` (see the module text).

    :param db: a connection of its own (status and e-mail cache).
    :param resolve_email: finds the ezeep user of an address (see ``station.directory``).
    :param audit: conflicts (a local entry the source contradicts) are recorded here.
    """

    def __init__(
        self,
        db: Database,
        directory: Directory,
        source: BadgeSource,
        resolve_email: EmailResolver,
        *,
        max_removed_share: float,
        write_back: bool = False,
        audit: AuditLog | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._directory = directory
        self._source = source
        self._resolve = resolve_email
        self._share = max_removed_share
        self._write_back = write_back
        self._audit = audit
        self._now = now
        self._running = threading.Lock()

    def run(self, *, force: bool = False, dry_run: bool = False) -> SyncOutcome:
        """One sync; raises :class:`~station.errors.StationError` (recorded) when it fails."""
        with self._running:
            attempt = self._now()
            try:
                outcome = self._sync(force=force, dry_run=dry_run)
            except StationError as exc:
                if not dry_run:
                    self._record(attempt, error=str(exc), held_back=isinstance(exc, HeldBackError))
                raise
            if not dry_run:
                self._record(attempt, outcome=outcome)
            return outcome

    def _sync(self, *, force: bool, dry_run: bool) -> SyncOutcome:
        published = 0 if dry_run or not self._write_back else self._publish()
        # The version of the copy last applied: "unchanged" from the same source means nothing to do.
        status = read_status(self._db)
        same = status is not None and status.source == self._source.describe() and not force
        # A stranger ezeep was last asked about a day ago: read the whole snapshot, so that a
        # person invited to ezeep since is found even while the source has not changed.
        snapshot = self._source.fetch(self._version() if same and not self._strangers_due() else "")
        if snapshot is None:
            return SyncOutcome(unchanged=True, published=published, dry_run=dry_run)
        records = check_snapshot(snapshot)
        wanted, strangers = self._resolve_all(records)
        applied = self._directory.apply_source(
            wanted, max_removed_share=self._share, force=force, dry_run=dry_run, strangers=strangers
        )
        if not dry_run:
            self._save_version(snapshot.version)
            if self._audit is not None:
                for badge_id, user_id in applied.conflicts:
                    self._audit.record(
                        "directory_conflict", badge_id=badge_id, user_id=user_id, outcome="source"
                    )
        return SyncOutcome(
            applied, unresolved=len(strangers), published=published, dry_run=dry_run, read=snapshot.read
        )

    def _publish(self) -> int:
        sent = 0
        # Unlinks first: a badge that moved to another person leaves the first one before it
        # joins the second, or the source would give it to two people.
        for badge_id, email in self._directory.local_unlinks():
            with suppress(NotInSourceError):  # the person left the source: nothing to delete
                self._source.remove_badge(email, badge_id)
            self._directory.unlink_sent(badge_id)
            sent += 1
        for entry in self._directory.local_enrolments():
            if not entry.email:
                continue
            try:
                self._source.write_badge(entry.email, entry.badge_id)
            except NotInSourceError:
                continue  # stays a local enrolment; said in the summary as "local"
            sent += 1
        return sent

    def _resolve_all(
        self, records: Sequence[SourceRecord]
    ) -> tuple[list[SourceEntry], list[tuple[str, str]]]:
        """The records with ezeep users, and (badge, address) of people ezeep does not know."""
        wanted: list[SourceEntry] = []
        strangers: list[tuple[str, str]] = []
        cache = self._cached()
        fresh: dict[str, tuple[str, str]] = {}
        for record in records:
            if record.user_id:
                wanted.append(SourceEntry(record.badge_id, record.user_id, record.email, record.display_name))
                continue
            key = record.email.lower()
            if key not in cache and key not in fresh:
                try:
                    user = self._resolve(record.email)
                except LookupError:
                    user = None
                except UsersRefusedError as exc:  # nothing is applied: no one would be found
                    raise SourceError(
                        "ezeep does not let the station's device token read its users list, so the"
                        " source's e-mail addresses cannot be matched to ezeep users unattended: give"
                        " the source's people their ezeep user ids, or ask ezeep to let the device"
                        " token read the list (`release-station directory sync` on the station signs"
                        " a technician in once)"
                    ) from exc
                fresh[key] = (user.id, user.display_name) if user is not None else ("", "")
            user_id, ezeep_name = cache.get(key) or fresh[key]
            if not user_id:
                strangers.append((record.badge_id, key))
                continue
            name = record.display_name or ezeep_name
            wanted.append(SourceEntry(record.badge_id, user_id, record.email, name))
        self._remember(fresh)
        return wanted, strangers

    def _strangers_due(self) -> bool:
        """Whether ezeep should be asked again about someone it did not know (see NEGATIVE_TTL)."""
        return bool(
            self._read_cache(
                "SELECT 1 FROM directory_strangers s LEFT JOIN directory_people p ON p.email = s.email "
                "WHERE p.resolved_at IS NULL OR p.resolved_at <= ? LIMIT 1"
            )
        )

    def _cached(self) -> dict[str, tuple[str, str]]:
        rows = self._read_cache(
            "SELECT email, user_id, display_name FROM directory_people WHERE user_id != '' OR resolved_at > ?"
        )
        return {row[0]: (row[1], row[2] or "") for row in rows}

    def _read_cache(self, sql: str) -> list[Any]:
        """The rows of ``sql``, whose one parameter is when an address ezeep did not know goes stale."""
        stale = (self._now() - NEGATIVE_TTL).isoformat(timespec="seconds")
        with transaction(self._db, "read the e-mail cache", write=False):
            return list(self._db.execute(sql, [stale]).fetchall())

    def _remember(self, fresh: dict[str, tuple[str, str]]) -> None:
        stamp = self._now().isoformat(timespec="seconds")
        with transaction(self._db, "save the e-mail cache"):
            self._db.conn.executemany(
                "INSERT OR REPLACE INTO directory_people (email, user_id, display_name, resolved_at) "
                "VALUES (?, ?, ?, ?)",
                [[email, user_id, name, stamp] for email, (user_id, name) in fresh.items()],
            )

    def _version(self) -> str:
        with transaction(self._db, "read the directory sync status", write=False):
            row = self._db.execute("SELECT version FROM directory_sync WHERE id = 1").fetchone()
        return (row[0] or "") if row else ""

    def _save_version(self, version: str) -> None:
        with transaction(self._db, "save the directory sync status"):
            self._ensure_row()
            self._db.execute("UPDATE directory_sync SET version = ? WHERE id = 1", [version])

    def _ensure_row(self) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO directory_sync (id, source, failures) VALUES (1, ?, 0)",
            [self._source.describe()],
        )

    def status(self) -> SyncStatus | None:
        """What the last sync recorded (:func:`read_status`)."""
        return read_status(self._db)

    def _record(
        self,
        attempt: datetime,
        *,
        outcome: SyncOutcome | None = None,
        error: str = "",
        held_back: bool = False,
    ) -> None:
        stamp = attempt.isoformat(timespec="seconds")
        with transaction(self._db, "save the directory sync status"):
            self._ensure_row()
            if outcome is None:
                self._db.execute(
                    "UPDATE directory_sync SET source = ?, last_attempt = ?, last_error = ?, "
                    "failures = failures + 1, held_back = ? WHERE id = 1",
                    [self._source.describe(), stamp, error, int(held_back)],
                )
                return
            self._db.execute(
                "UPDATE directory_sync SET source = ?, last_attempt = ?, last_success = ?, "
                "last_error = '', failures = 0, held_back = 0 WHERE id = 1",
                [self._source.describe(), stamp, stamp],
            )
            if not outcome.unchanged:
                applied = outcome.applied
                self._db.execute(
                    "UPDATE directory_sync SET summary = ?, entries = ?, conflicts = ?, unresolved = ? "
                    "WHERE id = 1",
                    [outcome.summary(), applied.entries, len(applied.conflicts), outcome.unresolved],
                )


def _wait(event: threading.Event, timeout_s: float) -> object:
    return event.wait(timeout_s)


class SyncLoop:
    """Runs ``sync`` now and then every ``interval_s`` on its own thread, until :meth:`stop`.

    After a failure the next try comes sooner: 30 s, then twice as long each time, at most
    ``interval_s``. Setting ``wake`` (or calling :meth:`wake`) asks for a sync now: the
    directory sets it after an enrolment, so that write-back sends it at once. A throttling
    source's ``Retry-After`` is a floor that a wake does not cut short: the loop waits out the
    rest first. ``clock`` (monotonic seconds) and ``wait`` (``Event.wait``) are seams for tests.
    ``on_synced`` is called after every attempt with the status as recorded (the metrics file).
    """

    def __init__(
        self,
        sync: DirectorySync,
        interval_s: float,
        *,
        first_retry_s: float = FIRST_RETRY_S,
        wake: threading.Event | None = None,
        on_synced: Callable[[SyncStatus], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[threading.Event, float], object] = _wait,
    ) -> None:
        self._sync = sync
        self._interval = interval_s
        self._first_retry = min(first_retry_s, interval_s)
        self._stop = threading.Event()
        self._wake = wake or threading.Event()
        self._on_synced = on_synced
        self._clock = clock
        self._wait = wait
        self._thread = threading.Thread(target=self._run, name="directory-sync", daemon=True)
        self.synced = threading.Event()  # set after every attempt (tests and the technician wait on it)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        wait = 0.0
        failures = 0
        not_before = self._clock()
        while not self._stop.is_set():
            self._wait(self._wake, wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            wait = not_before - self._clock()
            if wait > 0:  # woken while the source asked us to hold off: wait out the rest
                continue
            try:
                outcome = self._sync.run()
            except StationError as exc:
                failures += 1
                wait = min(self._interval, self._first_retry * 2 ** (failures - 1))
                if isinstance(exc, SourceError):  # throttled: never sooner than asked
                    wait = max(wait, exc.retry_after_s)
                    not_before = self._clock() + exc.retry_after_s
                log.warning(
                    "directory sync failed (%d in a row, next try in %.0f s): %s", failures, wait, exc
                )
            else:
                failures = 0
                wait = self._interval
                log.info("directory sync: %s", outcome.summary())
            self._tell()
            self.synced.set()

    def _tell(self) -> None:
        """Hand the status to ``on_synced``; a database that cannot be read stops only this."""
        if self._on_synced is None:
            return
        try:
            status = self._sync.status()
        except StationError as exc:
            log.warning("cannot read the directory sync status for the metrics: %s", exc)
            return
        if status is not None:
            self._on_synced(status)
