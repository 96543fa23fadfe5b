#!/usr/bin/env python3
"""The Debian package allow-list of the SD image (``manifest-allowlist.txt``) and its check.

A package name in the list is matched exactly, except where it holds ``{version}``: names that
carry an upstream version or ABI (``linux-image-6.1.0-57-arm64``, ``libllvm15``) change when
Debian publishes a new kernel or toolchain in the same release, and an input that moves with
the calendar must not fail the build. ``{version}`` stands for digits separated by dots or
dashes (``6.1.0-57``, ``15``, ``5.36``), never for letters, so ``linux-image-{version}-arm64``
admits a new kernel ABI but not ``linux-image-rt-arm64``. The manifest keeps exact versions.

Run as a script, it lists the manifest's Debian packages the list does not admit:

    python3 image-build/allowlist.py image-build/work/debian-bookworm-arm64/manifest.txt
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

ALLOWLIST = Path(__file__).with_name("manifest-allowlist.txt")
VERSION = "{version}"
_VERSION_PATTERN = r"[0-9]+(?:[.-][0-9]+)*"


def read_allowlist(path: Path = ALLOWLIST) -> list[str]:
    """The entries of an allow-list file: one a line, ``#`` starts a comment."""
    return re.sub(r"#.*", "", path.read_text()).split()


def entry_pattern(entry: str) -> re.Pattern[str]:
    """The whole-name pattern of one allow-list entry."""
    parts = [re.escape(part) for part in entry.split(VERSION)]
    return re.compile(_VERSION_PATTERN.join(parts))


def not_allowed(packages: Iterable[str], entries: Iterable[str]) -> set[str]:
    """The package names that no entry admits."""
    patterns = [entry_pattern(entry) for entry in entries]
    return {name for name in packages if not any(p.fullmatch(name) for p in patterns)}


def manifest_debs(path: Path) -> set[str]:
    """The Debian package names of a build's manifest (lines ``deb NAME VERSION ARCH``)."""
    return {line.split()[1] for line in path.read_text().splitlines() if line.startswith("deb ")}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: {Path(__file__).name} MANIFEST", file=sys.stderr)
        return 2
    extra = sorted(not_allowed(manifest_debs(Path(argv[0])), read_allowlist()))
    for name in extra:
        print(f"not in {ALLOWLIST.name}: {name}")
    return 1 if extra else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
