"""The directory sources a station can sync its badges from, one module each.

:func:`open_source` builds the one ``[directory] source`` names (``None`` for ``local``),
:func:`start_sync` runs it for a station until its exit stack closes, and
:func:`synced_directory` is the station's directory with its sync (the composition root's) and
:func:`facts_reader` what the technician page shows of it. Each
source follows :class:`station.directory_sync.BadgeSource`: it fetches a whole snapshot, says
"unchanged" when it can, and (LDAP) writes a badge back to a person's entry. Sources verify TLS
always, with the system's CAs or the ``ca_file`` given; they read only the attributes named.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from station.audit import AuditLog
from station.config import DirectorySection
from station.core.view import DirectoryFacts
from station.database import Database, transaction
from station.directory import Directory, EmailResolver

if TYPE_CHECKING:
    import ssl

    from station.directory_sync import BadgeSource, DirectorySync, SyncLoop, SyncStatus
    from station.metrics import Metrics

# The sync (station.directory_sync) is loaded where a source is used: a station that keeps its
# badges itself (``local``, the default) does not load it to start.


def tls_context(ca_file: str) -> ssl.SSLContext:
    """A verifying context trusting ``ca_file`` (PEM), or the usual CAs when it is empty."""
    # Here: ssl (OpenSSL) and certifi cost a station without a directory source ~20 ms of its start.
    import ssl

    import certifi

    from station.directory_sync import SourceError

    try:
        return ssl.create_default_context(cafile=ca_file or certifi.where())
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"cannot use the CA file {ca_file}: {exc}") from exc


def read_secret(path: str, what: str) -> str:
    """The secret in ``path`` (a bind password, a client secret), which only its owner may read."""
    from station.directory_sync import SourceError

    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise SourceError(
                f"{path} is mode {mode:04o}: the {what} file must be readable by its owner only "
                f"(chmod 600 {path})"
            )
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read the {what} file {path}: {exc}") from exc


def open_source(section: DirectorySection) -> BadgeSource | None:
    """The configured source, or ``None`` when badges are kept on the station only."""
    if section.source == "url":
        from station.directory_sources.url import UrlSource

        return UrlSource(section.url)
    if section.source == "ldap":
        from station.directory_sources.ldap import LdapSource

        return LdapSource(section.ldap)
    if section.source == "graph":
        from station.directory_sources.graph import GraphSource

        return GraphSource(section.graph)
    return None


def open_sync(
    section: DirectorySection,
    directory: Directory,
    db: Database,
    resolve_email: EmailResolver,
    stack: contextlib.ExitStack,
    *,
    audit: AuditLog | None = None,
) -> DirectorySync | None:
    """The sync of the configured source (closed with ``stack``); ``None`` for ``local``."""
    from station.directory_sync import DirectorySync

    source = open_source(section)
    if source is None:
        return None
    stack.callback(source.close)
    return DirectorySync(
        db,
        directory,
        source,
        resolve_email,
        max_removed_share=section.max_removed_share,
        write_back=section.write_back,
        audit=audit,
    )


def start_sync(
    section: DirectorySection,
    directory: Directory,
    db: Database,
    resolve_email: EmailResolver,
    stack: contextlib.ExitStack,
    *,
    audit: AuditLog,
    wake: threading.Event,
    on_synced: Callable[[SyncStatus], None] | None = None,
) -> SyncLoop | None:
    """Sync the configured source on its own thread until ``stack`` closes; ``None`` for ``local``.

    ``wake`` asks for a sync at once (pass the event the directory sets on an enrolment);
    ``on_synced`` gets the status after every attempt.
    """
    from station.directory_sync import SyncLoop

    sync = open_sync(section, directory, db, resolve_email, stack, audit=audit)
    if sync is None:
        return None
    loop = SyncLoop(sync, section.sync_interval_s, wake=wake, on_synced=on_synced)
    loop.start()
    stack.callback(loop.stop)
    return loop


def synced_directory(
    section: DirectorySection,
    connection: Callable[[], Database],
    resolve_email: EmailResolver,
    stack: contextlib.ExitStack,
    *,
    metrics: Metrics | None = None,
) -> Directory:
    """The station's badge directory, synced from the configured source until ``stack`` closes.

    ``connection`` opens a connection of the station database (one each for the directory, the
    sync and its audit log: they are used from different threads). An enrolment or a removal
    wakes the sync, so that write-back sends it at once. With ``metrics``, the sync's status
    goes to the metrics file after every attempt.
    """
    enrolled = threading.Event()
    directory = Directory(connection(), on_enrol=enrolled.set, write_back=section.writes_back)
    if section.source != "local":
        from station.directory_sync import publish_status

        start_sync(
            section,
            directory,
            connection(),
            resolve_email,
            stack,
            audit=AuditLog(connection()),
            wake=enrolled,
            on_synced=None if metrics is None else partial(publish_status, metrics),
        )
    return directory


def facts_reader(
    section: DirectorySection,
    db: Database,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[], DirectoryFacts]:
    """What the technician page shows of the directory source: its last sync, read from ``db``."""

    def read() -> DirectoryFacts:
        from station.directory_sync import read_status

        status = read_status(db)
        with transaction(db, "count the badges", write=False):
            held = dict(db.execute("SELECT origin, count(*) FROM badges GROUP BY origin").fetchall())
        facts = DirectoryFacts(section.source, section.write_back, local=int(held.get("local", 0)))
        if status is None:
            return facts
        last = status.last_success
        return dataclasses.replace(
            facts,
            last_success_age_s=None if last is None else max(0.0, (now() - last).total_seconds()),
            entries=int(held.get("source", 0)),
            failures=status.failures,
            held_back=status.held_back,
            conflicts=status.conflicts,
            not_ezeep_users=status.unresolved,
            error=status.last_error,
        )

    return read
