"""The ``ldap`` directory source: LDAP or Active Directory through ``ldap3``.

A sync binds as ``bind_dn`` (the password read from ``password_file``, which must be mode 0600:
anything the group or others could read is refused), runs one paged subtree search below
``base_dn`` for ``filter`` asking only for the three attributes named, and unbinds. Every value
of the badge attribute is one badge of that person; entries without a badge or without an
e-mail address carry no badge for the station and are left out. Connections are LDAPS, or
LDAP upgraded with StartTLS, the certificate verified against ``ca_file`` (plain LDAP only on
loopback, for tests). Write-back replaces the badge attribute of the one entry whose e-mail
attribute is the enrolled person's address.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

import certifi
import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from station.config import DirectoryLdapSection
from station.directory_sources import read_secret
from station.directory_sync import NotInSourceError, Snapshot, SourceError, SourceRecord


def _values(attributes: dict[str, Any], name: str) -> list[str]:
    for key, value in attributes.items():
        if key.lower() == name.lower():  # attribute names are case-insensitive
            items = value if isinstance(value, list) else [value]
            return [
                item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in items
            ]
    return []


class LdapSource:
    """Reads (and with write-back, writes) badges in an LDAP directory."""

    def __init__(self, section: DirectoryLdapSection) -> None:
        self._section = section
        self._url = urlsplit(section.url)
        self._tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=section.ca_file or certifi.where(),
            version=ssl.PROTOCOL_TLS_CLIENT,
        )

    def _server(self) -> ldap3.Server:
        # A new one each time: ldap3's Server remembers an address that failed as unusable.
        ldaps = self._url.scheme == "ldaps"
        return ldap3.Server(
            self._url.hostname or "",
            port=self._url.port or (636 if ldaps else 389),
            use_ssl=ldaps,
            tls=self._tls,
            get_info=ldap3.NONE,
            connect_timeout=math.ceil(self._section.timeout_s),
        )

    def describe(self) -> str:
        return f"ldap {self._section.url}"

    @contextmanager
    def _connection(self, what: str) -> Iterator[ldap3.Connection]:
        section = self._section
        password = read_secret(section.password_file, "bind password") if section.bind_dn else None
        conn = ldap3.Connection(
            self._server(),
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
            yield conn
        except LDAPException as exc:
            raise SourceError(f"{what} {section.url} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            with suppress(LDAPException, OSError):  # a failed connection may be half-closed
                conn.unbind()

    def fetch(self, version: str) -> Snapshot | None:
        section = self._section
        wanted = [section.badge_attribute, section.email_attribute, section.name_attribute]
        records: list[SourceRecord] = []
        with self._connection("reading") as conn:
            found = conn.extend.standard.paged_search(
                section.base_dn,
                section.filter,
                search_scope=ldap3.SUBTREE,
                attributes=wanted,
                paged_size=section.page_size,
                generator=True,
            )
            for number, item in enumerate(found, start=1):
                if item.get("type") != "searchResEntry":
                    continue
                attributes = item.get("attributes") or {}
                emails = _values(attributes, section.email_attribute)
                if not emails:
                    continue
                names = _values(attributes, section.name_attribute)
                for badge in _values(attributes, section.badge_attribute):
                    records.append(
                        SourceRecord(f"entry {number}", badge.strip(), emails[0].strip(), (names or [""])[0])
                    )
            # ldap3 does not raise on a size limit: a cut-off answer would look like a smaller tree.
            code = (conn.result or {}).get("result", 0)
            if code != 0:
                description = (conn.result or {}).get("description", "")
                raise SourceError(
                    f"the search below base_dn ended early ({description}, code {code}); nothing was "
                    "changed (a size limit? allow the bind account paged searches of the whole tree)"
                )
        return Snapshot(tuple(records))

    def write_badge(self, email: str, badge_id: str) -> None:
        section = self._section
        query = f"(&{section.filter}({section.email_attribute}={escape_filter_chars(email)}))"
        with self._connection("writing a badge to") as conn:
            conn.search(section.base_dn, query, search_scope=ldap3.SUBTREE, attributes=[], size_limit=2)
            dns = [entry["dn"] for entry in conn.response or [] if entry.get("type") == "searchResEntry"]
            if not dns:
                raise NotInSourceError("nobody in the directory has this e-mail address")
            if len(dns) > 1:
                raise SourceError("several entries in the directory have this e-mail address")
            conn.modify(dns[0], {section.badge_attribute: [(ldap3.MODIFY_REPLACE, [badge_id])]})

    def close(self) -> None:
        """Nothing stays open between syncs."""
