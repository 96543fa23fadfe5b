"""The directory sources a station can sync its badges from, one module each.

:func:`open_source` builds the one ``[directory] source`` names (``None`` for ``local``). Each
source follows :class:`station.directory_sync.BadgeSource`: it fetches a whole snapshot, says
"unchanged" when it can, and (LDAP) writes a badge back to a person's entry. Sources verify TLS
always, with the system's CAs or the ``ca_file`` given; they read only the attributes named.
"""

from __future__ import annotations

import ssl

import certifi

from station.config import DirectorySection
from station.directory_sync import BadgeSource, SourceError


def tls_context(ca_file: str) -> ssl.SSLContext:
    """A verifying context trusting ``ca_file`` (PEM), or the usual CAs when it is empty."""
    try:
        return ssl.create_default_context(cafile=ca_file or certifi.where())
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"cannot use the CA file {ca_file}: {exc}") from exc


def open_source(section: DirectorySection) -> BadgeSource | None:
    """The configured source, or ``None`` when badges are kept on the station only."""
    if section.source == "url":
        from station.directory_sources.url import UrlSource

        return UrlSource(section.url)
    if section.source == "ldap":
        from station.directory_sources.ldap import LdapSource

        return LdapSource(section.ldap)
    return None
