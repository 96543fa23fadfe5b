"""Fetch a bundle to the data partition: capped, checked for room, resumable, sha256-checked.

The bundle goes to ``FOLDER/<sha256>.raucb.part`` and is renamed to ``<sha256>.raucb`` once its
sha256 matches the manifest's. After a power cut (or a dropped connection) the next run asks the
server for the rest (``Range``) and hashes what it has first; a server that answers with the
whole file instead starts it over, and a finished file whose hash is wrong is deleted. Other
bundles in the folder (an offer that changed) are deleted before a new one is fetched.

Before a byte is written the data partition must have room for the rest of the bundle plus
``reserve_bytes`` for the station's own data; without it the run fails with a message that says
how much is missing, and nothing the station keeps is touched.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
from pathlib import Path
from typing import BinaryIO

import httpx

from station.atomicfile import sync_directory
from station.update.manifest import Offer, UpdateError, shown

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
MB = 1024 * 1024


def bundle_path(folder: Path, offer: Offer) -> Path:
    """Where the finished bundle of ``offer`` is kept."""
    return folder / f"{offer.sha256}.raucb"


def fetch(client: httpx.Client, offer: Offer, folder: Path, *, reserve_bytes: int) -> Path:
    """The bundle of ``offer`` in ``folder``, downloaded (or resumed) and its sha256 checked."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o755)
    final = bundle_path(folder, offer)
    part = final.with_name(final.name + ".part")
    _forget_others(folder, keep=(final.name, part.name))
    if final.exists():
        if _sha256(final) == offer.sha256:
            return final
        final.unlink()
    have = part.stat().st_size if part.exists() else 0
    if have > offer.size:
        have = 0
    _check_room(folder, offer.size - have, reserve_bytes)
    try:
        with client.stream("GET", offer.bundle_url, headers=_range(have)) as response:
            status = response.status_code
            if status not in (200, 206) or (status == 206 and not _resumes(response, have)):
                raise UpdateError(f"the bundle's server answered {status} for {shown(offer.bundle_url)}")
            start = have if status == 206 else 0
            with part.open("r+b" if part.exists() else "wb") as file:
                digest = _hash_prefix(file, start)
                file.truncate(start)
                _copy(response, file, digest, offer.size - start)
                file.flush()
                os.fsync(file.fileno())
    except httpx.HTTPError as exc:
        raise UpdateError(
            f"the bundle could not be fetched from {shown(offer.bundle_url)}: {_why(exc)}"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise UpdateError(
                f"the data partition ({folder}) filled up while the bundle was fetched"
            ) from None
        raise UpdateError(f"the bundle could not be written to {folder}: {exc.strerror}") from None
    size = part.stat().st_size
    if size != offer.size:
        raise UpdateError(
            f"the bundle ended after {size} of {offer.size} bytes; the next run goes on from there"
        )
    if digest.hexdigest() != offer.sha256:
        part.unlink()
        raise UpdateError("the bundle's sha256 is not the manifest's: it was deleted")
    os.replace(part, final)
    sync_directory(folder)
    return final


def _range(have: int) -> dict[str, str]:
    return {"Range": f"bytes={have}-"} if have else {}


def _resumes(response: httpx.Response, have: int) -> bool:
    """A 206 whose Content-Range starts where the partial file ends."""
    content_range: str = response.headers.get("Content-Range", "")
    return content_range.startswith(f"bytes {have}-")


def _hash_prefix(file: BinaryIO, length: int) -> hashlib._Hash:
    """The sha256 of the first ``length`` bytes already on disk, the file positioned after them."""
    digest = hashlib.sha256()
    left = length
    while left:
        chunk = file.read(min(CHUNK, left))
        if not chunk:
            break
        digest.update(chunk)
        left -= len(chunk)
    return digest


def _copy(response: httpx.Response, file: BinaryIO, digest: hashlib._Hash, limit: int) -> None:
    """The answer's body into ``file``, refusing more than ``limit`` bytes (the manifest's size)."""
    written = 0
    for chunk in response.iter_bytes():  # as it comes: a cut link keeps what arrived
        written += len(chunk)
        if written > limit:
            raise UpdateError("the server sent more than the manifest's size: the bundle was refused")
        file.write(chunk)
        digest.update(chunk)


def _check_room(folder: Path, needed: int, reserve_bytes: int) -> None:
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    if free < needed + reserve_bytes:
        raise UpdateError(
            f"not enough room on the data partition ({folder}): the bundle needs {_mb(needed)} MB more "
            f"and {_mb(reserve_bytes)} MB stay free for the station, but only {_mb(free)} MB are free; "
            "nothing was deleted"
        )


def _mb(count: int) -> str:
    return f"{count / MB:.1f}"


def _forget_others(folder: Path, keep: tuple[str, ...]) -> None:
    for path in folder.glob("*.raucb*"):
        if path.name not in keep:
            log.info("deleting %s: the manifest offers another bundle now", path.name)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return _hash_prefix(file, path.stat().st_size).hexdigest()


def _why(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__
