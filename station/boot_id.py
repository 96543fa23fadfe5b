"""This boot's id, as the kernel gives it: what tells one boot of the card from the next.

The token store keeps it with a pair's monotonic time (a later boot cannot trust that time), and
the update check compares it with the boot a slot was installed in. Both read it here, so neither
layer depends on the other for it.
"""

from __future__ import annotations

from pathlib import Path

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def read_boot_id(path: Path = BOOT_ID_PATH) -> str:
    """The boot id in ``path`` (tests point it elsewhere); ``""`` where it cannot be read."""
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""
