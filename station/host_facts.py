"""What the station reads about the card it runs from, for the metrics file: the root slot it
booted, the root slot installed last and the last software update.

- **The booted slot** is the kernel command line's ``rauc.slot=`` (the boot script of the A/B
  layout sets it, and RAUC reads it the same way); ``"none"`` on a card without A/B slots. The
  station's unit hides ``/proc/cmdline`` (``ProcSubset=pid``); the device tree's
  ``/chosen/bootargs`` holds the same line, as the bootloader (U-Boot, or the Pi's firmware)
  passed it.
- **The last update** is the record the update timer's last run left on the data partition
  (:mod:`station.update.record`, ``/data/update/last-run.json``): ``no_update``,
  ``not_in_share``, ``downloaded``, ``installed`` or ``failed``, with the version and the time.
  No record means no run since the card was flashed (``none``).
- **The root slot installed last** is the record ``release-station-slot`` keeps on the data
  partition (``/data/slot/last-install``: ``slot=``, ``version=``, ``installed_at=`` and
  ``trial=`` lines; RAUC's own status under ``/data/rauc`` is root's alone). RAUC's post-install
  handler writes it (``trial=pending``); the slot's first ready station makes it ``good``, a
  slot given up makes it ``rolled_back`` (also one that U-Boot's counters gave up before its
  user space could say so: recorded before the old slot's station starts). A rollback is the
  last update's result until the next install replaces the record, whatever the timer's later
  runs found: the alert that it raised stays until a new version is installed. The update's
  time is the slot's install time whenever a slot was installed.

All are read once when the station starts: an installed update takes effect with a reboot, and
the slot only changes with one. A file that cannot be read counts as missing.

Example::

    >>> booted_slot("console=ttyAMA0 root=PARTUUID=9528807c-03 rauc.slot=B rootwait")
    'B'
    >>> booted_slot("console=tty1 root=PARTUUID=9528807c-02 rootwait")
    'none'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from station.update.record import read

NO_SLOT = "none"
# Where the card says which root slot it booted: the kernel command line, and the device tree's
# copy of it for a unit that hides /proc/cmdline (the station's).
KERNEL_CMDLINES = (Path("/proc/cmdline"), Path("/sys/firmware/devicetree/base/chosen/bootargs"))
# release-station-slot's record of the root slot installed last and its trial (the image).
SLOT_RECORD = Path("/data/slot/last-install")
# The update timer's results (station.update.record.RESULTS), "none" before its first run, and a
# rollback by the boot side.
UpdateResult = Literal[
    "none", "no_update", "not_in_share", "downloaded", "installed", "failed", "rolled_back"
]
UPDATE_RESULTS: tuple[UpdateResult, ...] = get_args(UpdateResult)


@dataclass(frozen=True)
class LastUpdate:
    """The last update run: its ``result``, the ``version`` it concerned (``""``: none), when
    (Unix time; 0 when there was none) and the root ``slot`` it was installed to (``"none"``
    when not known)."""

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


def last_update(record: Path, slot_record: Path) -> LastUpdate:
    """The last update: what the update timer's last run did, from its ``record``
    (``/data/update/last-run.json``), and the root slot installed last, from ``slot_record``
    (``/data/slot/last-install``). The time is the slot's install (the timer's run only when no
    slot was installed yet: the alert on a booted slot that is not the installed one compares it
    with the boot); a rollback outweighs the timer's later runs, and an install by hand
    (``rauc install``) newer than the timer's last run is the result."""
    slot = last_slot_install(slot_record)
    last = read(record)
    run = LastUpdate("none") if last is None else LastUpdate(last.result, last.version, last.at)
    if slot is None:
        return run
    if slot.result == "rolled_back" or run.at < slot.at:
        return slot
    return dataclasses.replace(slot, result=run.result, version=run.version)


def slot_record_fields(record: Path) -> dict[str, str] | None:
    """The ``key=value`` lines of ``release-station-slot``'s ``record`` (the first of a key
    counts); ``None`` when it cannot be read."""
    try:
        lines = record.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition("=")
        fields.setdefault(key, value)
    return fields


def last_slot_install(record: Path) -> LastUpdate | None:
    """The root slot installed last, from ``release-station-slot``'s ``record``
    (``/data/slot/last-install``); ``None`` without a readable record."""
    fields = slot_record_fields(record)
    if fields is None:
        return None
    slot = fields.get("slot") or NO_SLOT
    try:
        at = float(fields.get("installed_at", ""))
    except ValueError:
        at = 0.0
    result: UpdateResult = "rolled_back" if fields.get("trial") == "rolled_back" else "installed"
    return LastUpdate(result, fields.get("version", ""), at, slot)
