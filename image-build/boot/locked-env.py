#!/usr/bin/env python3
"""Print U-Boot's built-in default environment with autoboot that cannot be interrupted.

    locked-env.py U-BOOT.BIN > env.txt     (then: mkenvimage -s SIZE -o uboot.env env.txt)

Debian's ``u-boot-rpi`` waits ``bootdelay=2`` seconds for a key on the serial console (the GPIO
UART, which the card enables for service access): one byte there stops the boot at a U-Boot
prompt, from which anyone at the header could boot anything. ``bootdelay=-2`` boots at once and
never looks for a key. U-Boot reads a saved environment (on the Pi: ``uboot.env`` on the FAT
partition) *instead of* its built-in one, so the saved one must be the built-in one, taken from
this very binary, with only that value changed. Fails when the binary holds no default
environment with a ``bootdelay`` and a ``bootcmd``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ENTRY = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]*=[\x09\x0a\x20-\x7e]*")
LOCKED = b"bootdelay=-2"


def default_environment(binary: bytes) -> list[bytes]:
    """The ``name=value`` entries of the built-in environment: the NUL-separated run of entries
    around ``bootdelay=``, up to the empty entry that ends it."""
    at = binary.find(b"\0bootdelay=")
    if at < 0:
        raise ValueError("no built-in environment with bootdelay= in this binary")
    start = at + 1
    while True:  # back to the first entry
        before = binary.rfind(b"\0", 0, start - 1) + 1
        if start == 0 or not ENTRY.fullmatch(binary[before : start - 1]):
            break
        start = before
    end = binary.index(b"\0\0", at + 1)
    entries = binary[start:end].split(b"\0")
    if not all(ENTRY.fullmatch(e) for e in entries) or not any(e.startswith(b"bootcmd=") for e in entries):
        raise ValueError("the built-in environment around bootdelay= is not a list of name=value")
    return entries


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    entries = [
        LOCKED if e.startswith(b"bootdelay=") else e
        for e in default_environment(Path(sys.argv[1]).read_bytes())
    ]
    if any(b"\n" in e for e in entries):
        raise ValueError("a value spans lines: mkenvimage reads one entry a line")
    sys.stdout.buffer.write(b"".join(e + b"\n" for e in entries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
