"""What the station reads about the card it runs from, for the metrics file: the root slot it
booted, the root slot installed last and the last software update.

- **The booted slot** is the kernel command line's ``rauc.slot=`` (the boot script of the A/B
  layout sets it, and RAUC reads it the same way); ``"none"`` on a card without A/B slots. The
  station's unit hides ``/proc/cmdline`` (``ProcSubset=pid``); the device tree's
  ``/chosen/bootargs`` holds the same line, as the bootloader (U-Boot, or the Pi's firmware)
  passed it.
- **The last update** is read from the state ``release-station-update`` leaves on the data
  partition (``/data/app``): the ``current`` and ``previous`` links, written at every switch, and
  the ``.installed`` mark in each version's venv, written when that version's install finished.
  The last switch is the newer of the two links. It was a **rollback** when it left a version
  installed later than the one it went to (``--rollback``, by hand or by
  ``release-station-rollback.service``); the version the image came with counts as installed
  before every other. Nothing there (no link) means no update since the card was flashed.
- **The root slot installed last** is the record ``release-station-slot`` keeps on the data
  partition (``/data/slot/last-install``: ``slot=``, ``version=``, ``installed_at=`` and
  ``trial=`` lines; RAUC's own status under ``/data/rauc`` is root's alone). RAUC writes it when
  it installed a slot (``trial=pending``); the slot's first ready station makes it ``good``, a
  slot given up makes it ``rolled_back`` (also one that U-Boot's counters gave up before its
  user space could say so: the old slot's first ready station records it). A slot install, when
  there is one, is the last update.

All are read once when the station starts: an update or a rollback restarts the station, and
the slot only changes with a reboot. A file that cannot be read counts as missing.

Example::

    >>> booted_slot("console=ttyAMA0 root=PARTUUID=9528807c-03 rauc.slot=B rootwait")
    'B'
    >>> booted_slot("console=tty1 root=PARTUUID=9528807c-02 rootwait")
    'none'
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

NO_SLOT = "none"
UpdateResult = Literal["none", "installed", "rolled_back"]
UPDATE_RESULTS: tuple[UpdateResult, ...] = ("none", "installed", "rolled_back")


@dataclass(frozen=True)
class LastUpdate:
    """The last switch of the station software: its ``result``, the ``version`` it left running
    (``""``: the version the image came with), when (Unix time; 0 when there was none) and the
    root ``slot`` it was installed to (``release-station-update`` installs into the data
    partition, not a slot: ``"none"``)."""

    result: UpdateResult
    version: str = ""
    at: float = 0.0
    slot: str = NO_SLOT


def booted_slot(cmdline: str) -> str:
    """The ``rauc.slot=`` value of a kernel command line, or ``"none"``."""
    for word in cmdline.split():
        key, _, value = word.partition("=")
        if key == "rauc.slot" and value:
            return value
    return NO_SLOT


def read_booted_slot(cmdlines: Iterable[Path]) -> str:
    """:func:`booted_slot` of the first of ``cmdlines`` that can be read (``/proc/cmdline``, the
    device tree's ``bootargs``: a NUL-terminated string)."""
    for path in cmdlines:
        try:
            return booted_slot(path.read_text(encoding="utf-8", errors="replace").replace("\0", " "))
        except OSError:
            continue
    return NO_SLOT


def last_update(apps: Path) -> LastUpdate:
    """What ``release-station-update`` did last, from its directory ``apps`` (``/data/app``)."""
    links = {name: _link(apps / name) for name in ("current", "previous")}
    switched = [stamp for _, stamp in links.values() if stamp is not None]
    if not switched:
        return LastUpdate("none")
    current, _ = links["current"]
    previous, _ = links["previous"]
    back = bool(previous) and _installed_at(apps, previous) > _installed_at(apps, current)
    return LastUpdate("rolled_back" if back else "installed", current, max(switched))


def last_slot_install(record: Path) -> LastUpdate | None:
    """The root slot installed last, from ``release-station-slot``'s ``record``
    (``/data/slot/last-install``); ``None`` without a readable record."""
    try:
        lines = record.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition("=")
        fields.setdefault(key, value)
    slot = fields.get("slot") or NO_SLOT
    try:
        at = float(fields.get("installed_at", ""))
    except ValueError:
        at = 0.0
    result: UpdateResult = "rolled_back" if fields.get("trial") == "rolled_back" else "installed"
    return LastUpdate(result, fields.get("version", ""), at, slot)


def _link(path: Path) -> tuple[str, float | None]:
    """Where the link ``path`` points and when it was written; ``("", None)`` without one."""
    try:
        return os.readlink(path), path.lstat().st_mtime
    except OSError:
        return "", None


def _installed_at(apps: Path, version: str) -> int:
    """When ``version``'s install finished (ns); the image's own version (``""``) is the oldest."""
    if not version:
        return -1
    try:
        return (apps / version / ".installed").stat().st_mtime_ns
    except OSError:
        return -1
