"""The directory sources a station can sync its badges from, one module each.

:func:`open_source` builds the one ``[directory] source`` names (``None`` for ``local``),
:func:`start_sync` runs it for a station until its exit stack closes, and
:func:`synced_directory` is the station's directory with its sync (the composition root's). Each
source follows :class:`station.directory_sync.BadgeSource`: it fetches a whole snapshot, says
"unchanged" when it can, and (LDAP) writes a badge back to a person's entry. Sources verify TLS
always, with the system's CAs or the ``ca_file`` given; they read only the attributes named.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from station.audit import AuditLog
from station.config import DirectorySection
from station.directory import Directory, EmailResolver
from station.directory_sync import BadgeSource, DirectorySync, SourceError, SyncLoop

if TYPE_CHECKING:
    import ssl


def tls_context(ca_file: str) -> ssl.SSLContext:
    """A verifying context trusting ``ca_file`` (PEM), or the usual CAs when it is empty."""
    # Here: ssl (OpenSSL) and certifi cost a station without a directory source ~20 ms of its start.
    import ssl

    import certifi

    try:
        return ssl.create_default_context(cafile=ca_file or certifi.where())
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"cannot use the CA file {ca_file}: {exc}") from exc


def read_secret(path: str, what: str) -> str:
    """The secret in ``path`` (a bind password, a client secret), which only its owner may read."""
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
    db: sqlite_utils.Database,
    resolve_email: EmailResolver,
    stack: contextlib.ExitStack,
    *,
    audit: AuditLog | None = None,
) -> DirectorySync | None:
    """The sync of the configured source (closed with ``stack``); ``None`` for ``local``."""
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
    db: sqlite_utils.Database,
    resolve_email: EmailResolver,
    stack: contextlib.ExitStack,
    *,
    audit: AuditLog,
    wake: threading.Event,
) -> SyncLoop | None:
    """Sync the configured source on its own thread until ``stack`` closes; ``None`` for ``local``.

    ``wake`` asks for a sync at once (pass the event the directory sets on an enrolment).
    """
    sync = open_sync(section, directory, db, resolve_email, stack, audit=audit)
    if sync is None:
        return None
    loop = SyncLoop(sync, section.sync_interval_s, wake=wake)
    loop.start()
    stack.callback(loop.stop)
    return loop


def synced_directory(
    section: DirectorySection,
    connection: Callable[[], sqlite_utils.Database],
    resolve_email: EmailResolver,
    stack: contextlib.ExitStack,
) -> Directory:
    """The station's badge directory, synced from the configured source until ``stack`` closes.

    ``connection`` opens a connection of the station database (one each for the directory, the
    sync and its audit log: they are used from different threads). An enrolment wakes the sync,
    so that write-back sends it at once.
    """
    enrolled = threading.Event()
    directory = Directory(connection(), on_enrol=enrolled.set)
    if section.source != "local":
        start_sync(
            section,
            directory,
            connection(),
            resolve_email,
            stack,
            audit=AuditLog(connection()),
            wake=enrolled,
        )
    return directory
