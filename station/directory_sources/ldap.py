"""The ``ldap`` directory source: LDAP or Active Directory through ``ldap3``.

A sync binds as ``bind_dn`` (the password read from ``password_file``, which must be mode 0600:
anything the group or others could read is refused), runs one paged subtree search below
``base_dn`` for ``filter`` asking only for the three attributes named, and unbinds. Every value
of the badge attribute is one badge of that person; entries without a badge or without an
e-mail address carry no badge for the station and are left out. Connections are LDAPS, or
LDAP upgraded with StartTLS, the certificate verified against ``ca_file`` (plain LDAP only on
loopback, for tests).

Incremental reads: the source keeps the last snapshot in memory, entry by entry (by DN), and
the newest ``modifyTimestamp`` it has seen (the high-water mark, in the server's own clock, so
the station's clock does not matter). A later sync asks only for ``(modifyTimestamp>=mark)``
within the filter (``>=``: the timestamp has whole seconds, and an entry changed in the same
second as the last read must not be missed; reading it twice is harmless), and finds removed
entries, renamed ones and ones that no longer match the filter by listing the DNs alone (no
attributes, ``1.1``): LDAP has no portable way to report deletions. RFC 4533 syncrepl would,
but ldap3 does not implement its controls and Active Directory does not offer it (its DirSync
control needs replication rights). With nothing changed the sync is "unchanged". A full read
comes after a restart, on ``--force``, and once every :data:`FULL_READ_S` (Active Directory
keeps ``modifyTimestamp`` per domain controller, so a DC behind a load balancer could hide a
change from the mark until then).

Write-back: an enrolment adds the badge as one more value of the badge attribute of the one
entry whose e-mail attribute is the person's address (a person's second badge joins the first);
if the schema says the attribute is single-valued it replaces the value instead (the newest
enrolment wins, and the older badge leaves every station at its next sync). Unlinking a badge
deletes that one value (nothing else) if the entry still holds it.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
import ldap3
from ldap3.core.exceptions import LDAPAttributeOrValueExistsResult, LDAPException, LDAPNoSuchAttributeResult
from ldap3.utils.conv import escape_filter_chars

from station.config import DirectoryLdapSection
from station.directory_sources import read_secret
from station.directory_sync import NotInSourceError, Snapshot, SourceError, SourceRecord

FULL_READ_S = 24 * 3600.0  # a full read at least this often, even when the mark says nothing changed
MODIFIED = "modifyTimestamp"


@dataclass(frozen=True, slots=True)
class _Entry:
    """What one entry gave (no badges without an address) and when it was last modified."""

    badges: tuple[str, ...]
    email: str
    name: str
    modified: str


def _values(attributes: dict[str, Any], name: str) -> list[str]:
    for key, value in attributes.items():
        if key.lower() == name.lower():  # attribute names are case-insensitive
            items = value if isinstance(value, list) else [value]
            return [
                item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in items
            ]
    return []


class LdapSource:
    """Reads (and with write-back, writes) badges in an LDAP directory; ``monotonic`` times full reads."""

    def __init__(
        self, section: DirectoryLdapSection, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._section = section
        self._url = urlsplit(section.url)
        self._tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=section.ca_file or certifi.where(),
            version=ssl.PROTOCOL_TLS_CLIENT,
        )
        self._monotonic = monotonic
        self._entries: dict[str, _Entry] = {}  # by DN: the last snapshot, for incremental reads
        self._mark = ""  # the newest modifyTimestamp seen (GeneralizedTime), "" before a full read
        self._full_at = 0.0

    def _server(self, *, schema: bool = False) -> ldap3.Server:
        # A new one each time: ldap3's Server remembers an address that failed as unusable.
        ldaps = self._url.scheme == "ldaps"
        return ldap3.Server(
            self._url.hostname or "",
            port=self._url.port or (636 if ldaps else 389),
            use_ssl=ldaps,
            tls=self._tls,
            get_info=ldap3.SCHEMA if schema else ldap3.NONE,
            connect_timeout=math.ceil(self._section.timeout_s),
        )

    def describe(self) -> str:
        return f"ldap {self._section.url}"

    @contextmanager
    def _connection(self, what: str, *, schema: bool = False) -> Iterator[ldap3.Connection]:
        section = self._section
        password = read_secret(section.password_file, "bind password") if section.bind_dn else None
        conn = ldap3.Connection(
            self._server(schema=schema),
            user=section.bind_dn or None,
            password=password,
            receive_timeout=math.ceil(section.timeout_s),  # ldap3 packs it as an integer
            raise_exceptions=True,
            auto_bind=ldap3.AUTO_BIND_NONE,
        )
        try:
            conn.open()
            if self._url.scheme == "ldap" and section.start_tls:
                conn.start_tls()
            conn.bind()
            if schema:
                conn.refresh_server_info()  # read after the bind: the schema may need it
            yield conn
        except LDAPException as exc:
            raise SourceError(f"{what} {section.url} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            with suppress(LDAPException, OSError):  # a failed connection may be half-closed
                conn.unbind()

    def fetch(self, version: str) -> Snapshot | None:
        full = not version or version != self._mark or self._monotonic() - self._full_at >= FULL_READ_S
        with self._connection("reading") as conn:
            if full:
                entries = self._read(conn, self._section.filter)
                self._full_at = self._monotonic()
                read = "full read"
            else:
                changed = self._read(conn, f"(&{self._section.filter}({MODIFIED}>={self._mark}))")
                present = {dn for dn, _ in self._search(conn, self._section.filter, [ldap3.NO_ATTRIBUTES])}
                kept = {dn: entry for dn, entry in self._entries.items() if dn in present}
                if len(kept) == len(self._entries) and all(
                    self._entries.get(dn) == entry for dn, entry in changed.items()
                ):
                    return None  # nothing added, changed or removed
                entries = kept | changed
                read = f"incremental: {len(changed)} entries read"
        self._entries = entries
        self._mark = max((entry.modified for entry in entries.values()), default=self._mark)
        records = tuple(
            SourceRecord(f"entry {number}", badge, entry.email, entry.name)
            for number, entry in enumerate((entries[dn] for dn in sorted(entries)), start=1)
            for badge in entry.badges
        )
        return Snapshot(records, self._mark, read=read)

    def _read(self, conn: ldap3.Connection, query: str) -> dict[str, _Entry]:
        """The entries ``query`` finds, by DN."""
        section = self._section
        wanted = [section.badge_attribute, section.email_attribute, section.name_attribute, MODIFIED]
        entries: dict[str, _Entry] = {}
        for dn, attributes in self._search(conn, query, wanted):
            emails = _values(attributes, section.email_attribute) or [""]
            badges = _values(attributes, section.badge_attribute) if emails[0] else []
            entries[dn] = _Entry(
                tuple(badge.strip() for badge in badges),
                emails[0].strip(),
                (_values(attributes, section.name_attribute) or [""])[0],
                (_values(attributes, MODIFIED) or [""])[0],
            )
        return entries

    def _search(
        self, conn: ldap3.Connection, query: str, attributes: list[str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(DN, attributes) of each entry below ``base_dn``, through paged searches."""
        section = self._section
        found = conn.extend.standard.paged_search(
            section.base_dn,
            query,
            search_scope=ldap3.SUBTREE,
            attributes=attributes,
            paged_size=section.page_size,
            generator=True,
        )
        for item in found:
            if item.get("type") == "searchResEntry":
                yield str(item.get("dn") or ""), item.get("raw_attributes") or {}
        # ldap3 does not raise on a size limit: a cut-off answer would look like a smaller tree.
        code = (conn.result or {}).get("result", 0)
        if code != 0:
            description = (conn.result or {}).get("description", "")
            raise SourceError(
                f"the search below base_dn ended early ({description}, code {code}); nothing was "
                "changed (a size limit? allow the bind account paged searches of the whole tree)"
            )

    def write_badge(self, email: str, badge_id: str) -> None:
        with self._connection("writing a badge to", schema=True) as conn:
            dn = self._entry_of(conn, email)
            attribute = self._section.badge_attribute
            kind = conn.server.schema.attribute_types.get(attribute) if conn.server.schema else None
            how = ldap3.MODIFY_REPLACE if kind is not None and kind.single_value else ldap3.MODIFY_ADD
            with suppress(LDAPAttributeOrValueExistsResult):  # the entry has it already
                conn.modify(dn, {attribute: [(how, [badge_id])]})

    def remove_badge(self, email: str, badge_id: str) -> None:
        with self._connection("removing a badge from") as conn:
            dn = self._entry_of(conn, email)
            with suppress(LDAPNoSuchAttributeResult):  # the entry does not have it (any more)
                conn.modify(dn, {self._section.badge_attribute: [(ldap3.MODIFY_DELETE, [badge_id])]})

    def _entry_of(self, conn: ldap3.Connection, email: str) -> str:
        """The DN of the one entry whose e-mail attribute is ``email``."""
        section = self._section
        query = f"(&{section.filter}({section.email_attribute}={escape_filter_chars(email)}))"
        conn.search(section.base_dn, query, search_scope=ldap3.SUBTREE, attributes=[], size_limit=2)
        dns = [entry["dn"] for entry in conn.response or [] if entry.get("type") == "searchResEntry"]
        if not dns:
            raise NotInSourceError("nobody in the directory has this e-mail address")
        if len(dns) > 1:
            raise SourceError("several entries in the directory have this e-mail address")
        return str(dns[0])

    def close(self) -> None:
        """Nothing stays open between syncs."""
