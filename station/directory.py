"""The badge directory: which ezeep user a badge belongs to, and bulk import and export.

Badge ids here are the ids after the reader's transform chain (strings); they are checked when
stored: not empty, printable, at most 64 characters, no whitespace. Each entry says how it came
to be (``self``-enrolment on a phone, a ``technician`` at the station, a file ``import``, the
``cli``), when, and when the badge was last seen.

Each entry also says where it lives (``origin``): ``local`` entries were made on this station;
``source`` entries are this station's copy of a directory source (LDAP, Entra ID, a file; see
:mod:`station.directory_sync`). :meth:`Directory.apply_source` replaces the copy with a new
snapshot in one transaction: the source is authoritative for the badges it holds (a local
entry it contradicts gives way, and is reported as a conflict), an entry it no longer holds is
removed, and local entries it does not mention stay. Lookups read SQLite only, never the source.

Imports run in two steps so that a file is judged before anything changes: :func:`read_import`
turns CSV or JSON into rows (with line numbers), :func:`plan_import` checks every row and
resolves e-mail addresses through a callable the caller supplies (the command line wires the
cloud client; nothing is asked of the cloud when no row needs it), and
:meth:`Directory.apply_import` writes the planned changes in one transaction.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TextIO

from station.cloud.models import UserInfo
from station.database import Database, transaction
from station.errors import StationError

EnrolledBy = Literal["self", "technician", "import", "cli"]
Origin = Literal["local", "source"]
ENROLLED_BY: tuple[EnrolledBy, ...] = ("self", "technician", "import", "cli")
MAX_BADGE_ID = 64
COLUMNS = ("badge", "user_id", "email", "name")
MAX_IMPORT_ROWS = 100_000

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class DirectoryError(StationError):
    """Base of the badge directory's errors."""


class InvalidEntryError(DirectoryError, ValueError):
    """A badge id, user id or e-mail address is not acceptable; the message says why."""


class BadgeLimitError(DirectoryError):
    """The user already has as many badges as allowed; nothing was linked."""


class HeldBackError(DirectoryError):
    """A sync would remove more of the directory than allowed; nothing was changed."""


class BadgeConflictError(DirectoryError):
    """The badge already belongs to another user and replacing was not asked for."""

    def __init__(self, message: str, existing: BadgeEntry | None = None) -> None:
        super().__init__(message)
        self.existing = existing  # the entry in the way, None if it was removed meanwhile


def _utc_now() -> datetime:
    return datetime.now(UTC)


def mask_badge(badge_id: str) -> str:
    """What a screen may show of a badge: its last four characters, e.g. ``…C3D4``."""
    return "…" + badge_id[-4:]


def mask_email(email: str) -> str:
    """What a public screen may show of an address: ``k•••@example.com``; ``""`` for none."""
    local, at, domain = email.partition("@")
    if not at:
        return ""
    return f"{local[:1]}•••@{domain}"


def public_name(display_name: str, email: str, fallback: str = "") -> str:
    """A person's name for a public screen: the display name unless it is an address (ezeep's
    often are), else the masked address; ``fallback`` when there is neither.

    >>> public_name("Kim Lee", "kim@example.com"), public_name("kim@example.com", "")
    ('Kim Lee', 'k•••@example.com')
    """
    if display_name and "@" not in display_name:
        return display_name
    return mask_email(display_name) or mask_email(email) or fallback


def check_badge_limit(held: int, limit: int) -> None:
    """Raise :class:`BadgeLimitError` when a user who has ``held`` badges may not get another."""
    if held >= limit:
        raise BadgeLimitError(f"this user already has {held} badges; at most {limit} are allowed")


def _check_token(what: str, value: str, limit: int) -> str:
    if not value:
        raise InvalidEntryError(f"{what} is empty")
    if len(value) > limit:
        raise InvalidEntryError(f"{what} is {len(value)} characters long; at most {limit} are allowed")
    if any(ch.isspace() for ch in value):
        raise InvalidEntryError(f"{what} contains whitespace")
    if not value.isprintable():
        raise InvalidEntryError(f"{what} contains control or other unprintable characters")
    return value


def validate_badge_id(badge_id: str) -> str:
    """Return ``badge_id`` if it may be stored, else raise :class:`InvalidEntryError`."""
    return _check_token("the badge id", badge_id, MAX_BADGE_ID)


def validate_user_id(user_id: str) -> str:
    return _check_token("the user id", user_id, 128)


def validate_email(email: str) -> str:
    if len(email) > 254 or not _EMAIL.fullmatch(email) or not email.isprintable():
        raise InvalidEntryError(f"{email!r} is not an e-mail address")
    return email


@dataclass(frozen=True, slots=True)
class BadgeEntry:
    """One badge → user mapping. The ``repr`` hides the badge id and the e-mail address."""

    badge_id: str = field(repr=False)
    user_id: str
    email: str = field(repr=False)
    display_name: str = field(repr=False)
    enrolled_by: EnrolledBy
    enrolled_at: datetime
    last_seen: datetime | None
    origin: Origin = "local"


def _entry(row: Sequence[Any]) -> BadgeEntry:
    return BadgeEntry(
        badge_id=row[0],
        user_id=row[1],
        email=row[2] or "",
        display_name=row[3] or "",
        enrolled_by=row[4],
        enrolled_at=datetime.fromisoformat(row[5]),
        last_seen=datetime.fromisoformat(row[6]) if row[6] else None,
        origin=row[7],
    )


_SELECT = (
    "SELECT badge_id, user_id, email, display_name, enrolled_by, enrolled_at, last_seen, origin FROM badges"
)


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One badge as a directory source has it, its owner resolved to an ezeep user."""

    badge_id: str = field(repr=False)
    user_id: str
    email: str = field(repr=False)
    display_name: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SourceSync:
    """What applying a snapshot did (or, for a dry run, would do); counts only, plus the
    conflicts as (badge id, the local owner who lost it) for the audit log."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    kept_local: int = 0
    entries: int = 0
    conflicts: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def counts(self) -> str:
        """``added 3, changed 0, removed 1, conflicts 0, local 2, entries 120`` (safe to log)."""
        return (
            f"added {self.added}, changed {self.changed}, removed {self.removed}, "
            f"conflicts {len(self.conflicts)}, local {self.kept_local}, entries {self.entries}"
        )


# -- import values ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineProblem:
    """Why one line (1-based, of the file) cannot be imported."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One row of an import file as written (stripped), with the line it starts on."""

    line: int
    badge: str
    user_id: str = ""
    email: str = ""
    name: str = ""


ChangeAction = Literal["add", "replace", "update", "unchanged"]


@dataclass(frozen=True, slots=True)
class ImportChange:
    """What importing one row does. ``previous_user_id`` is the owner the plan saw ("" if none)."""

    line: int
    action: ChangeAction
    badge_id: str
    user_id: str
    email: str
    display_name: str
    previous_user_id: str = ""


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """The changes an import makes and its bad lines; ``refused`` of those would break the badge limit."""

    changes: tuple[ImportChange, ...]
    problems: tuple[LineProblem, ...]
    refused: int = 0

    def count(self, action: ChangeAction) -> int:
        return sum(1 for change in self.changes if change.action == action)


EmailResolver = Callable[[str], UserInfo | None]
"""Finds the ezeep user with this e-mail address; ``None`` if there is none. May raise
``LookupError`` with a reason (e.g. several users match), which becomes that line's problem."""


class ListsUsers(Protocol):
    """What :func:`email_resolver` asks: the cloud client's list of org members."""

    def users(self) -> list[UserInfo]: ...


def user_with_email(email: str, users: list[UserInfo]) -> UserInfo | None:
    """The one user whose address is ``email`` (ignoring case); ``LookupError`` if several are."""
    matches = {user.id: user for user in users if user.email.lower() == email.lower()}
    if len(matches) > 1:
        raise LookupError(f"{len(matches)} ezeep users have the e-mail address {email}")
    return next(iter(matches.values()), None)


def email_resolver(
    client: ListsUsers, *, fresh_s: float = 300.0, clock: Callable[[], float] = time.monotonic
) -> EmailResolver:
    """An :data:`EmailResolver` that asks ezeep through ``client``.

    ezeep's users list documents no e-mail filter, so any answer costs the whole list: it is
    read once and kept ``fresh_s`` seconds (a badge import or a directory sync resolves every
    address from one read; a later sync reads it again).
    """
    kept: list[tuple[float, list[UserInfo]]] = []

    def resolve(email: str) -> UserInfo | None:
        if not kept or clock() - kept[0][0] > fresh_s:
            kept[:] = [(clock(), client.users())]
        return user_with_email(email, kept[0][1])

    return resolve


# -- the directory ---------------------------------------------------------------------------


class Directory:
    """Badge → user mappings in the ``badges`` table. Thread-safe (one lock).

    :param db: the station database.
    :param now: wall clock (UTC) for enrolment and last-seen times.
    :param on_enrol: called after every enrolment or removal is stored (the directory sync's
        wake-up, so that write-back sends it at once); must not block.
    :param write_back: the source takes this station's changes: a badge the source holds that is
        unlinked here (removed, replaced by another badge, or given to someone else) is
        remembered until the sync deletes it there (:meth:`local_unlinks`).

    Example::

        directory = Directory(db)
        directory.enrol("04A1B2C3", user.id, email=user.email, how="technician")
        directory.lookup("04A1B2C3").user_id
    """

    def __init__(
        self,
        db: Database,
        *,
        now: Callable[[], datetime] = _utc_now,
        on_enrol: Callable[[], None] | None = None,
        write_back: bool = False,
    ) -> None:
        self._db = db
        self._now = now
        self._on_enrol = on_enrol
        self._write_back = write_back
        self._lock = threading.Lock()

    def lookup(self, badge_id: str) -> BadgeEntry | None:
        """The entry for ``badge_id``, or ``None`` (also for ids that could never be stored)."""
        with self._lock, transaction(self._db, "read the badge directory", write=False):
            return self._get(badge_id)

    def entries(self) -> list[BadgeEntry]:
        """Every entry, by e-mail address and then badge id."""
        with self._lock, transaction(self._db, "read the badge directory", write=False):
            rows = self._db.execute(_SELECT + " ORDER BY email, badge_id").fetchall()
        return [_entry(row) for row in rows]

    def count(self) -> int:
        with self._lock, transaction(self._db, "read the badge directory", write=False):
            return int(self._db.execute("SELECT count(*) FROM badges").fetchone()[0])

    def badges_of(self, user_id: str) -> list[BadgeEntry]:
        """The user's badges, oldest enrolment first."""
        with self._lock, transaction(self._db, "read the badge directory", write=False):
            return self._of_user(user_id)

    def enrol(
        self,
        badge_id: str,
        user_id: str,
        *,
        email: str = "",
        display_name: str = "",
        how: EnrolledBy,
        replace: bool = False,
        limit: int | None = None,
        unlink: str = "",
    ) -> BadgeEntry:
        """Map ``badge_id`` to ``user_id`` and return the stored entry.

        Enrolling a badge again for the same user refreshes its e-mail address and name and
        keeps when and how it was first enrolled. A badge of another user raises
        :class:`BadgeConflictError` unless ``replace``. ``unlink`` names another badge of the
        same user that this one replaces (removed in the same transaction); ``limit`` is how
        many badges the user may have, else :class:`BadgeLimitError` and nothing changes. Bad
        values raise :class:`InvalidEntryError`; a full disk :class:`~station.errors.StorageError`.
        """
        validate_badge_id(badge_id)
        validate_user_id(user_id)
        if email:
            validate_email(email)
        if how not in ENROLLED_BY:
            raise InvalidEntryError(f"how: must be one of {', '.join(ENROLLED_BY)}, not {how!r}")
        with self._lock, transaction(self._db, "save the badge"):
            existing = self._get(badge_id)
            if existing is not None and existing.user_id != user_id and not replace:
                owner = existing.email or existing.user_id
                raise BadgeConflictError(f"this badge already belongs to {owner}", existing)
            if unlink and unlink != badge_id:
                gone = self._get(unlink)
                if gone is not None and gone.user_id == user_id:
                    self._delete(gone)
            if existing is not None and existing.user_id != user_id:
                self._remember_unlink(existing)  # the source must take it from the other person
            if limit is not None:
                check_badge_limit(sum(entry.badge_id != badge_id for entry in self._of_user(user_id)), limit)
            stored = self._put(
                BadgeEntry(badge_id, user_id, email, display_name, how, self._now_s(), None), existing
            )
        if self._on_enrol is not None:
            self._on_enrol()
        return stored

    def remove(self, badge_id: str) -> bool:
        """Forget ``badge_id``; True if it was enrolled."""
        with self._lock, transaction(self._db, "remove the badge"):
            existing = self._get(badge_id)
            if existing is not None:
                self._delete(existing)
        if existing is not None and self._on_enrol is not None:
            self._on_enrol()
        return existing is not None

    def touch(self, badge_id: str) -> None:
        """Record that ``badge_id`` was just used (no-op for an unknown badge)."""
        with self._lock, transaction(self._db, "save when the badge was seen"):
            self._db.execute("UPDATE badges SET last_seen = ? WHERE badge_id = ?", [self._stamp(), badge_id])

    def apply_source(
        self,
        wanted: Sequence[SourceEntry],
        *,
        max_removed_share: float,
        force: bool = False,
        dry_run: bool = False,
        strangers: Sequence[tuple[str, str]] = (),
    ) -> SourceSync:
        """Make the copy of the source equal ``wanted`` in one transaction (see the module text).

        ``wanted`` must hold each badge once, checked (the caller validated it). A snapshot
        that would remove more than ``max_removed_share`` of the copy, and more than one entry,
        raises :class:`HeldBackError` and changes nothing, unless ``force``. ``dry_run`` works
        it out and changes nothing. ``strangers``: (badge id, e-mail address) the source gives to
        people ezeep does not know (:meth:`not_ezeep_user`), replacing the last snapshot's.
        """
        with self._lock, transaction(self._db, "apply the directory source", write=not dry_run):
            current = {row[0]: _entry(row) for row in self._db.execute(_SELECT).fetchall()}
            by_badge = {entry.badge_id: entry for entry in wanted}
            copied = [entry for entry in current.values() if entry.origin == "source"]
            gone = [entry.badge_id for entry in copied if entry.badge_id not in by_badge]
            if not force and len(gone) > 1 and len(gone) > max_removed_share * len(copied):
                raise HeldBackError(
                    f"the source would remove {len(gone)} of {len(copied)} badges, more than "
                    f"{max_removed_share:.0%}; nothing was changed (check the source, or force the sync)"
                )
            added = changed = 0
            conflicts: list[tuple[str, str]] = []
            writes: list[tuple[BadgeEntry, BadgeEntry | None]] = []
            for item in wanted:
                existing = current.get(item.badge_id)
                entry = BadgeEntry(
                    item.badge_id, item.user_id, item.email, item.display_name, "import", self._now_s(), None
                )
                if existing is None:
                    added += 1
                elif existing.user_id != item.user_id:
                    changed += 1
                    if existing.origin == "local":
                        conflicts.append((item.badge_id, existing.user_id))
                elif existing.origin == "source" and (existing.email, existing.display_name) == (
                    item.email,
                    item.display_name,
                ):
                    continue
                elif (existing.email, existing.display_name) != (item.email, item.display_name):
                    changed += 1
                writes.append((entry, existing))
            kept = sum(1 for e in current.values() if e.origin == "local" and e.badge_id not in by_badge)
            result = SourceSync(added, changed, len(gone), kept, len(wanted), tuple(conflicts))
            if dry_run:
                return result
            for entry, existing in writes:
                self._put(entry, existing)
                self._db.execute("UPDATE badges SET origin = 'source' WHERE badge_id = ?", [entry.badge_id])
            self._db.conn.executemany("DELETE FROM badges WHERE badge_id = ?", [[badge] for badge in gone])
            self._db.execute("DELETE FROM directory_strangers")
            self._db.conn.executemany(
                "INSERT OR IGNORE INTO directory_strangers (badge_id, email) VALUES (?, ?)", strangers
            )
            return result

    def not_ezeep_user(self, badge_id: str) -> bool:
        """Whether the source gives ``badge_id`` to a person ezeep does not know (at its last sync)."""
        with self._lock, transaction(self._db, "read the badge directory", write=False):
            sql = "SELECT 1 FROM directory_strangers WHERE badge_id = ?"
            return self._db.execute(sql, [badge_id]).fetchone() is not None

    def local_enrolments(self) -> list[BadgeEntry]:
        """Entries enrolled at this station (self-service or technician) that the source does not
        hold yet: what write-back sends."""
        sql = _SELECT + " WHERE origin = 'local' AND enrolled_by IN ('self', 'technician') ORDER BY badge_id"
        with self._lock, transaction(self._db, "read the badge directory", write=False):
            return [_entry(row) for row in self._db.execute(sql).fetchall()]

    def local_unlinks(self) -> list[tuple[str, str]]:
        """(badge id, e-mail address) of each badge unlinked here that the source may still hold:
        what write-back deletes there. Empty without ``write_back``."""
        with self._lock, transaction(self._db, "read the badge directory", write=False):
            rows = self._db.execute("SELECT badge_id, email FROM directory_unlinks ORDER BY badge_id")
            return [(row[0], row[1]) for row in rows.fetchall()]

    def unlink_sent(self, badge_id: str) -> None:
        """The source no longer holds ``badge_id`` for the person it was unlinked from."""
        with self._lock, transaction(self._db, "save the badge directory"):
            self._db.execute("DELETE FROM directory_unlinks WHERE badge_id = ?", [badge_id])

    def apply_import(self, changes: Iterable[ImportChange]) -> int:
        """Write planned changes in one transaction; returns how many entries changed.

        If a badge's owner changed since the plan was made, raises :class:`BadgeConflictError`
        and writes nothing.
        """
        written = 0
        with self._lock, transaction(self._db, "import the badges"):
            for change in changes:
                if change.action == "unchanged":
                    continue
                existing = self._get(change.badge_id)
                if (existing.user_id if existing else "") != change.previous_user_id:
                    raise BadgeConflictError(
                        f"line {change.line}: the badge changed while importing; nothing was imported",
                        existing,
                    )
                wanted = BadgeEntry(
                    change.badge_id,
                    change.user_id,
                    change.email,
                    change.display_name,
                    "import",
                    self._now_s(),
                    None,
                )
                self._put(wanted, existing)
                written += 1
        return written

    def _delete(self, entry: BadgeEntry) -> None:
        self._db.execute("DELETE FROM badges WHERE badge_id = ?", [entry.badge_id])
        self._remember_unlink(entry)

    def _remember_unlink(self, entry: BadgeEntry) -> None:
        if self._write_back and entry.origin == "source" and entry.email:
            self._db.execute(
                "INSERT OR REPLACE INTO directory_unlinks (badge_id, email) VALUES (?, ?)",
                [entry.badge_id, entry.email],
            )

    def _of_user(self, user_id: str) -> list[BadgeEntry]:
        rows = self._db.execute(_SELECT + " WHERE user_id = ? ORDER BY enrolled_at, badge_id", [user_id])
        return [_entry(row) for row in rows.fetchall()]

    def _get(self, badge_id: str) -> BadgeEntry | None:
        row = self._db.execute(_SELECT + " WHERE badge_id = ?", [badge_id]).fetchone()
        return None if row is None else _entry(row)

    def _put(self, wanted: BadgeEntry, existing: BadgeEntry | None) -> BadgeEntry:
        entry = wanted
        if existing is not None and existing.user_id == wanted.user_id:
            # The same person again: keep the history, refresh what we know about them.
            entry = dataclasses.replace(
                existing,
                email=wanted.email or existing.email,
                display_name=wanted.display_name or existing.display_name,
            )
        # A badge that changes hands loses its release PIN; the same person keeps theirs.
        self._db.execute(
            "INSERT INTO badges "
            "(badge_id, user_id, email, display_name, enrolled_by, enrolled_at, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (badge_id) DO UPDATE SET "
            "pin_hash = CASE WHEN user_id = excluded.user_id THEN pin_hash END, "
            "pin_lockout = CASE WHEN user_id = excluded.user_id THEN pin_lockout END, "
            "user_id = excluded.user_id, email = excluded.email, display_name = excluded.display_name, "
            "origin = CASE WHEN user_id = excluded.user_id THEN origin ELSE 'local' END, "
            "enrolled_by = excluded.enrolled_by, enrolled_at = excluded.enrolled_at, "
            "last_seen = excluded.last_seen",
            [
                entry.badge_id,
                entry.user_id,
                entry.email,
                entry.display_name,
                entry.enrolled_by,
                entry.enrolled_at.isoformat(timespec="seconds"),
                entry.last_seen.isoformat(timespec="seconds") if entry.last_seen else None,
            ],
        )
        return entry

    def _now_s(self) -> datetime:
        return self._now().replace(microsecond=0)  # what the table keeps

    def _stamp(self) -> str:
        return self._now_s().isoformat(timespec="seconds")


# -- release PINs (kept with the badge; :mod:`station.pin` owns what they mean) ----------------


def read_badge_pin(db: Database, badge_id: str) -> tuple[str | None, str | None]:
    """The badge's PIN hash text and lockout JSON (``None`` each when absent or not enrolled)."""
    row = db.execute("SELECT pin_hash, pin_lockout FROM badges WHERE badge_id = ?", [badge_id]).fetchone()
    return (None, None) if row is None else (row[0], row[1])


def write_badge_pin(db: Database, badge_id: str, pin_hash: str) -> bool:
    """Store the badge's PIN hash and lift its lockout; False if the badge is not enrolled."""
    sql = "UPDATE badges SET pin_hash = ?, pin_lockout = NULL WHERE badge_id = ?"
    return db.execute(sql, [pin_hash, badge_id]).rowcount > 0


def write_badge_lockout(db: Database, badge_id: str, lockout: str | None) -> None:
    db.execute("UPDATE badges SET pin_lockout = ? WHERE badge_id = ?", [lockout, badge_id])


def locked_badges(db: Database) -> list[str]:
    """Badges whose timed lockout is running (counted down while the station runs)."""
    sql = (
        "SELECT badge_id FROM badges WHERE pin_lockout IS NOT NULL"
        " AND json_valid(pin_lockout) AND json_extract(pin_lockout, '$.remaining_s') > 0"
    )
    return [row[0] for row in db.execute(sql)]


def reset_user_pins(db: Database, user_id: str) -> int:
    """Forget the PINs and lockouts of every badge of ``user_id``; how many badges it has."""
    sql = "UPDATE badges SET pin_hash = NULL, pin_lockout = NULL WHERE user_id = ?"
    return db.execute(sql, [user_id]).rowcount


# -- reading import files --------------------------------------------------------------------


def read_import(text: str) -> tuple[list[ImportRow], list[LineProblem]]:
    """Parse an import file: a JSON list of objects, or CSV with a header line.

    Columns (CSV header names or JSON keys): ``badge`` and ``email`` or ``user_id`` (or both),
    optionally ``name``. Returns the rows and every problem found on the way.
    """
    if text.lstrip().startswith("["):
        return _read_json(text)
    return _read_csv(text)


def _row(line: int, values: dict[str, Any]) -> ImportRow | LineProblem:
    unknown = sorted(set(values) - set(COLUMNS))
    if unknown:
        return LineProblem(line, f"unknown column {', '.join(unknown)}; allowed: {', '.join(COLUMNS)}")
    for name, value in values.items():
        if not isinstance(value, str):
            return LineProblem(line, f"{name} must be a string (quote it: leading zeros matter)")
    clean = {name: value.strip() for name, value in values.items()}
    if not clean.get("badge"):
        return LineProblem(line, "missing badge")
    if not clean.get("email") and not clean.get("user_id"):
        return LineProblem(line, "missing email or user_id")
    return ImportRow(line=line, **clean)


def _read_csv(text: str) -> tuple[list[ImportRow], list[LineProblem]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[ImportRow] = []
    problems: list[LineProblem] = []
    try:
        header = next(reader, None)
        if header is None:
            return [], [LineProblem(1, "the file is empty")]
        names = [name.strip().lower() for name in header]
        if "badge" not in names or not {"email", "user_id"} & set(names):
            return [], [LineProblem(1, "the header must name the columns badge and email or user_id")]
        start = reader.line_num + 1
        for values in reader:
            if len(rows) + len(problems) >= MAX_IMPORT_ROWS:
                problems.append(LineProblem(start, f"too many rows; at most {MAX_IMPORT_ROWS} per file"))
                break
            if any(v.strip() for v in values):
                if len(values) > len(names):
                    reason = f"{len(values)} values but the header names {len(names)} columns"
                    _collect(LineProblem(start, reason), rows, problems)
                else:
                    cells = [*values, *[""] * (len(names) - len(values))]  # short row: empty cells
                    _collect(_row(start, dict(zip(names, cells, strict=True))), rows, problems)
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.append(LineProblem(reader.line_num, f"not valid CSV: {exc}"))
    return rows, problems


def _read_json(text: str) -> tuple[list[ImportRow], list[LineProblem]]:
    # Walk the list item by item so that every problem names the line its object starts on.
    decoder = json.JSONDecoder()
    rows: list[ImportRow] = []
    problems: list[LineProblem] = []
    pos = _skip_space(text, text.index("[") + 1)
    if text.startswith("]", pos):
        return rows, _trailing(text, pos + 1)
    for _ in range(MAX_IMPORT_ROWS):
        line = _line_of(text, pos)
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(exc.lineno, f"not valid JSON: {exc.msg}"))
            return rows, problems
        if isinstance(item, dict):
            _collect(_row(line, {str(key): value for key, value in item.items()}), rows, problems)
        else:
            problems.append(LineProblem(line, 'each item must be an object like {"badge": …, "email": …}'))
        pos = _skip_space(text, pos)
        if text.startswith("]", pos):
            return rows, problems + _trailing(text, pos + 1)
        if not text.startswith(",", pos):
            problems.append(LineProblem(_line_of(text, pos), "expected , or ] after the item"))
            return rows, problems
        pos = _skip_space(text, pos + 1)
    problems.append(LineProblem(_line_of(text, pos), f"too many rows; at most {MAX_IMPORT_ROWS} per file"))
    return rows, problems


def _collect(result: ImportRow | LineProblem, rows: list[ImportRow], problems: list[LineProblem]) -> None:
    if isinstance(result, ImportRow):
        rows.append(result)
    else:
        problems.append(result)


def _trailing(text: str, pos: int) -> list[LineProblem]:
    pos = _skip_space(text, pos)
    return [LineProblem(_line_of(text, pos), "text after the end of the list")] if pos < len(text) else []


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# -- planning an import ----------------------------------------------------------------------


def plan_import(
    rows: Iterable[ImportRow],
    directory: Directory,
    resolve_email: EmailResolver,
    *,
    replace: bool = False,
    limit: int | None = None,
) -> ImportPlan:
    """Check every row against the rules and the directory; nothing is written.

    A badge already mapped to another user is a problem unless ``replace``. ``resolve_email``
    is called once per distinct address, and only for rows without a ``user_id``. ``limit``:
    how many badges one user may have; a row that would give a user more is a problem.
    """
    changes: list[ImportChange] = []
    problems: list[LineProblem] = []
    first_line: dict[str, int] = {}
    resolved: dict[str, UserInfo | LookupError | None] = {}
    gained: Counter[str] = Counter()  # badges this plan gives each user so far
    refused = 0
    for row in rows:
        try:
            change = _plan_row(row, directory, resolve_email, resolved, replace=replace)
        except (InvalidEntryError, LookupError) as exc:
            problems.append(LineProblem(row.line, str(exc)))
            continue
        if row.badge in first_line:
            problems.append(
                LineProblem(row.line, f"badge {row.badge} is already on line {first_line[row.badge]}")
            )
            continue
        first_line[row.badge] = row.line
        if limit is not None and change.action in ("add", "replace"):
            try:
                check_badge_limit(len(directory.badges_of(change.user_id)) + gained[change.user_id], limit)
            except BadgeLimitError as exc:
                problems.append(LineProblem(row.line, str(exc)))
                refused += 1
                continue
            gained[change.user_id] += 1
        changes.append(change)
    return ImportPlan(tuple(changes), tuple(sorted(problems, key=lambda p: p.line)), refused)


def _plan_row(
    row: ImportRow,
    directory: Directory,
    resolve_email: EmailResolver,
    resolved: dict[str, UserInfo | LookupError | None],
    *,
    replace: bool,
) -> ImportChange:
    validate_badge_id(row.badge)
    user_id, email, name = row.user_id, row.email, row.name
    if email:
        validate_email(email)
    if user_id:
        validate_user_id(user_id)
    else:
        key = email.lower()
        if key not in resolved:
            try:
                resolved[key] = resolve_email(email)
            except LookupError as exc:
                resolved[key] = exc
        user = resolved[key]
        if isinstance(user, LookupError):
            raise user
        if user is None:
            raise LookupError(f"no ezeep user has the e-mail address {email}")
        user_id, email, name = user.id, user.email or email, name or user.display_name
    existing = directory.lookup(row.badge)
    action: ChangeAction = "add"
    if existing is not None:
        if existing.user_id != user_id:
            if not replace:
                owner = existing.email or existing.user_id
                raise LookupError(
                    f"badge {row.badge} already belongs to {owner} (use --replace to overwrite)"
                )
            action = "replace"
        elif (email and email != existing.email) or (name and name != existing.display_name):
            action = "update"
        else:
            action = "unchanged"
    return ImportChange(
        line=row.line,
        action=action,
        badge_id=row.badge,
        user_id=user_id,
        email=email,
        display_name=name,
        previous_user_id=existing.user_id if existing else "",
    )


# -- export ----------------------------------------------------------------------------------


def _export_row(entry: BadgeEntry) -> dict[str, str]:
    return {
        "badge": entry.badge_id,
        "user_id": entry.user_id,
        "email": entry.email,
        "name": entry.display_name,
    }


def export_csv(entries: Iterable[BadgeEntry], out: TextIO) -> None:
    """Write ``entries`` as CSV that :func:`read_import` reads back."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS)  # RFC 4180 CRLF: a lone CR in a name gets quoted
    writer.writeheader()
    writer.writerows(_export_row(entry) for entry in entries)


def export_json(entries: Iterable[BadgeEntry], out: TextIO) -> None:
    """Write ``entries`` as a JSON list, one object a line, that :func:`read_import` reads back."""
    lines = [json.dumps(_export_row(entry), ensure_ascii=False) for entry in entries]
    out.write("[\n" + ",\n".join(lines) + ("\n]\n" if lines else "]\n"))
