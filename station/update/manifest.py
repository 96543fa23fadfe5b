"""The update manifest, and whether this station takes the version it offers.

The ``[update] url`` serves one JSON document (``image-build/README.md`` shows one)::

    {"format": 1,
     "channels": {"stable": {"version": "1.4.0", "bundle": "release-station-1.4.0.raucb",
                             "sha256": "9f86d0…", "size": 412876800, "share": 10}}}

``bundle`` is an ``https://`` URL, or a path relative to the manifest's own URL. ``share`` is the
percentage of the fleet (0..100) that takes this version now: a station is in it when a stable
hash of its hardware id and the version falls below the share, so raising the share from 10 to
50 keeps the first tenth in and adds stations, and each new version picks another first tenth.
``allow_older: true`` lets stations install a version that is not newer than theirs: the
operator's way back from a bad release is to publish the last good bundle with it.

A manifest that is not what this describes is refused with a message naming what is wrong; so
is a bundle bigger than ``[update] max_bundle_bytes``.

Example::

    >>> in_share("1b4e28ba-2fa1-11d2-883f-0016d3cca427", "1.4.0", 100)
    True
    >>> in_share("1b4e28ba-2fa1-11d2-883f-0016d3cca427", "1.4.0", 0)
    False
    >>> newer("1.10.0", "1.9.3"), newer("1.4", "1.4.0")
    (True, False)
    >>> shown("https://cdn.example/b.raucb?X-Amz-Signature=abc")
    'https://cdn.example/b.raucb'
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard
from urllib.parse import urljoin, urlsplit

from station.errors import StationError

FORMAT = 1
MAX_MANIFEST_BYTES = 64 * 1024
_VERSION = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6}){0,3}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class UpdateError(StationError):
    """An update run cannot go on; the message says why for a technician (never a secret)."""


@dataclass(frozen=True)
class Offer:
    """What a channel offers: the version, the bundle's absolute URL, its sha256 and size in
    bytes, the share of the fleet in percent, and whether it may be older than the running one."""

    version: str
    bundle_url: str
    sha256: str
    size: int
    share: int
    allow_older: bool = False


Verdict = Literal["take", "no_update", "not_in_share"]


@dataclass(frozen=True)
class Decision:
    """What this station does with an offer, and why, in words for the record."""

    verdict: Verdict
    offer: Offer
    reason: str


def version_key(version: str) -> tuple[int, ...]:
    """``"1.4"`` → ``(1, 4, 0, 0)``: dotted numbers compare as numbers, missing ones as 0."""
    if not _VERSION.fullmatch(version):
        raise UpdateError(f"version {version!r} is not dotted numbers like 1.4.0")
    numbers = tuple(int(part) for part in version.split("."))
    return numbers + (0,) * (4 - len(numbers))


def newer(offered: str, running: str) -> bool:
    """``offered`` is a later version than ``running``."""
    return version_key(offered) > version_key(running)


def in_share(hardware_id: str, version: str, share: int) -> bool:
    """This station is in the first ``share`` percent of the fleet for ``version``."""
    digest = hashlib.sha256(f"{hardware_id.lower()}/{version}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < share


def parse(body: bytes, manifest_url: str, channel: str, *, max_bundle_bytes: int) -> Offer:
    """The offer of ``channel`` in the manifest ``body`` fetched from ``manifest_url``."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise UpdateError(f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes: not a manifest")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise UpdateError("the manifest is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UpdateError(f'the manifest is not an object with "format": {FORMAT}')
    channels = data.get("channels")
    if not isinstance(channels, dict):
        raise UpdateError('the manifest has no "channels" object')
    entry = channels.get(channel)
    if not isinstance(entry, dict):
        listed = ", ".join(sorted(str(name) for name in channels)) or "none"
        raise UpdateError(f"the manifest has no channel {channel!r} (it has: {listed})")
    return _offer(entry, manifest_url, channel, max_bundle_bytes)


def _offer(entry: dict[str, Any], manifest_url: str, channel: str, max_bundle_bytes: int) -> Offer:
    where = f"channel {channel!r}"
    version, bundle, sha256 = (entry.get(k) for k in ("version", "bundle", "sha256"))
    size, share, allow_older = entry.get("size"), entry.get("share"), entry.get("allow_older", False)
    if not isinstance(version, str):
        raise UpdateError(f'{where}: "version" must be a string like "1.4.0"')
    version_key(version)
    if not isinstance(bundle, str) or not bundle:
        raise UpdateError(f'{where}: "bundle" must be the bundle\'s URL')
    url = urljoin(manifest_url, bundle)
    if urlsplit(url).scheme != urlsplit(manifest_url).scheme or not urlsplit(url).hostname:
        raise UpdateError(f'{where}: "bundle" must be on {urlsplit(manifest_url).scheme}://, not {bundle!r}')
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise UpdateError(f'{where}: "sha256" must be 64 lower-case hex digits')
    if not _integer(size) or size < 1:
        raise UpdateError(f'{where}: "size" must be the bundle\'s size in bytes')
    if size > max_bundle_bytes:
        raise UpdateError(
            f"{where}: the bundle is {size} bytes, more than [update] max_bundle_bytes ({max_bundle_bytes})"
        )
    if not _integer(share) or not 0 <= share <= 100:
        raise UpdateError(f'{where}: "share" must be a whole percentage of the fleet, 0 to 100')
    if not isinstance(allow_older, bool):
        raise UpdateError(f'{where}: "allow_older" must be true or false')
    return Offer(version, url, sha256, size, share, allow_older)


def shown(url: str) -> str:
    """``url`` for a message or the log: without a query or user info, where a signed URL (a
    CDN's, a bucket's) carries its token."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def decide(offer: Offer, *, running: str, hardware_id: str, installed_sha256: str = "") -> Decision:
    """Whether this station (``hardware_id``, running ``running``) takes ``offer`` now.

    A bundle this station installed before (``installed_sha256``) is never taken again: after
    it rolled back, or once it runs, only a new bundle moves the station.
    """
    if offer.sha256 == installed_sha256:
        return Decision(
            "no_update", offer, f"{offer.version} ({offer.sha256[:12]}) was installed here before"
        )
    if not newer(offer.version, running):
        if not offer.allow_older:
            return Decision("no_update", offer, f"{offer.version} is not newer than the running {running}")
        reason = f"{offer.version} replaces the running {running} (allow_older)"
    else:
        reason = f"{offer.version} is newer than the running {running}"
    if not in_share(hardware_id, offer.version, offer.share):
        return Decision(
            "not_in_share", offer, f"this station is not in the first {offer.share}% for {offer.version}"
        )
    return Decision("take", offer, reason)
