"""Whether a root slot this card installed still waits for the reboot that starts it.

The run's reboot waits for the end of a session (:mod:`.busy`). If that wait is killed (the
service's ``TimeoutStartSec``), the run's record says ``installed`` with the bundle's sha256 and
later runs find the bundle "installed here before" (``no_update``), while RAUC's boot order
already names the new slot: the card would start it at the next power cut, unplanned. The image's
``release-station-slot`` records each install (``/data/slot/last-install``: ``slot=``,
``boot=``, the boot it was installed in, and ``trial=``). A slot still on trial (``pending``),
not the booted one (the kernel's ``rauc.slot=``), installed during this very boot was never
rebooted into. Installed in an earlier boot, it was tried and left (U-Boot fell back): no reboot
brings it back, so that case is not pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from station.boot_id import BOOT_ID_PATH, read_boot_id
from station.host_facts import KERNEL_CMDLINES, SLOT_RECORD, read_booted_slot, slot_record_fields


@dataclass(frozen=True)
class SlotFiles:
    """Where the card says what it installed and what it booted (tests point them elsewhere)."""

    record: Path = SLOT_RECORD
    cmdlines: tuple[Path, ...] = KERNEL_CMDLINES
    boot_id: Path = BOOT_ID_PATH


def slot_awaiting_reboot(files: SlotFiles) -> str:
    """The slot installed in this boot that still waits for its reboot, or ``""``."""
    fields = slot_record_fields(files.record) or {}
    slot = fields.get("slot", "")
    if not slot or fields.get("trial") != "pending":
        return ""
    if slot == read_booted_slot(files.cmdlines):
        return ""
    this_boot = read_boot_id(files.boot_id)
    return slot if this_boot and fields.get("boot") == this_boot else ""
