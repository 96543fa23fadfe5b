"""Replacing a file so that a reader, or a power cut, sees the old content or the new, never half.

The new content goes to a temporary file in the same directory, is flushed to the disk, gets its
mode (and group), and is renamed over the old name; then the directory itself is flushed so the
rename survives a power cut. :func:`create_atomic` does the same for a file that must be made
once (a secret): it links the finished file into place and never replaces one that is there.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, gid: int | None = None) -> None:
    """Replace ``path`` with ``data``; ``gid`` also sets the file's group."""
    _place(path, data, mode, gid, os.replace)


def create_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Create ``path`` with ``data`` unless it exists; False (nothing changed) if it did.

    Two processes racing to create it end up with the same file: one wins, the other reads it.
    """
    try:
        _place(path, data, mode, None, os.link)
    except FileExistsError:
        return False
    return True


def _place(path: Path, data: bytes, mode: int, gid: int | None, put: Callable[[str, Path], None]) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
            os.fchmod(file.fileno(), mode)
            if gid is not None:
                os.fchown(file.fileno(), -1, gid)
        put(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)  # after a replace it is gone; after a link the name stays behind
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Flush a directory's entries (a rename or an unlink in it) to the disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
