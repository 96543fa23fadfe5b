"""What ``release-station doctor`` says about the ``[directory]`` source: its files, its last sync.

No network here: the last sync's outcome (recorded by :mod:`station.directory_sync`) says
whether the source was reachable, and when.
"""

from __future__ import annotations

import time
from datetime import datetime

from station.config import DirectorySection
from station.directory_sources import read_secret, tls_context
from station.directory_sources.graph import client_assertion
from station.directory_sync import SourceError, SyncStatus
from station.findings import Finding

STALE_AFTER = 3  # sync intervals without a success before the copy counts as stale


def directory_findings(section: DirectorySection, status: SyncStatus | None, now: datetime) -> list[Finding]:
    """The source's files (bind password, CA) and the last sync; nothing for ``local``."""
    if section.source == "local":
        return []
    topic = f"directory ({section.source})"
    findings: list[Finding] = []
    ca_file = getattr(section, section.source).ca_file
    try:
        if ca_file:
            tls_context(ca_file)
        if section.source == "ldap" and section.ldap.bind_dn:
            read_secret(section.ldap.password_file, "bind password")
        if section.source == "graph" and section.graph.certificate_file:
            client_assertion(section.graph, "doctor", time.time())  # the key and certificate load
        elif section.source == "graph":
            read_secret(section.graph.secret_file, "client secret")
    except SourceError as exc:
        findings.append(Finding("fail", topic, str(exc), "fix the file named; the next sync uses it"))
    findings.append(_last_sync(topic, section, status, now))
    return findings


def _last_sync(topic: str, section: DirectorySection, status: SyncStatus | None, now: datetime) -> Finding:
    run = "run `release-station directory sync` to see the source's answer"
    if status is None or status.last_attempt is None:
        return Finding("warn", topic, "never synced: the station knows only its own enrolments", run)
    if status.last_success is None:
        return Finding("fail", topic, f"no sync has succeeded yet: {status.last_error}", run)
    age = now - status.last_success
    ago = f"last success {int(age.total_seconds() // 60)} min ago ({status.summary})"
    if status.last_error:
        stale = age.total_seconds() > STALE_AFTER * section.sync_interval_s
        detail = f"{ago}; failing {status.failures} times in a row: {status.last_error}"
        return Finding("fail" if stale else "warn", topic, detail, run)
    return Finding("ok", topic, ago)
