"""The station's hardware id: a stable GUID sent as ``hardware_id`` when pairing with ezeep.

ezeep binds a device-mode pairing to this id, so pairing again after a reset or a lost refresh
token lands on the same printer (``tp_id``) with the same settings. The same machine must
therefore always give the same value. Where it comes from, first found wins:

1. ``station.hardware_id`` in the configuration (to move a pairing to new hardware);
2. the Raspberry Pi's serial number: the device tree's ``serial-number``, else the ``Serial``
   line of ``/proc/cpuinfo`` (all-zero serials, as some boards and containers show, are ignored);
3. ``/etc/machine-id`` (systemd's per-installation id).

The source value is turned into a name-based UUID (version 5) under a fixed namespace, so the
raw serial never leaves the device and the result has the GUID shape the pairing request takes.

Example::

    >>> hardware_id(override="1B4E28BA-2FA1-11D2-883F-0016D3CCA427")
    '1b4e28ba-2fa1-11d2-883f-0016d3cca427'
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from station.errors import StationError

# Fixed forever: changing it would give every station a new id and a new printer binding.
NAMESPACE = uuid.UUID("6f1c1d52-64c0-4c8e-9a0e-5b1f3c2a9d47")

DEVICE_TREE_SERIAL = Path("/sys/firmware/devicetree/base/serial-number")
CPUINFO = Path("/proc/cpuinfo")
MACHINE_ID = Path("/etc/machine-id")

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SERIAL_LINE = re.compile(r"^Serial\s*:\s*([0-9A-Za-z]+)\s*$", re.MULTILINE)


class HardwareIdError(StationError):
    """No hardware id could be found; set ``station.hardware_id`` in the configuration."""


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("ascii", "replace")
    except OSError:
        return ""


def _usable_serial(text: str) -> str:
    serial = text.strip().strip("\x00").strip().lower()
    if not serial or not re.fullmatch(r"[0-9a-z]+", serial) or set(serial) == {"0"}:
        return ""
    return serial


def pi_serial(*, device_tree: Path = DEVICE_TREE_SERIAL, cpuinfo: Path = CPUINFO) -> str:
    """The board's serial number in lower case, or "" when there is none."""
    serial = _usable_serial(_read(device_tree))
    if serial:
        return serial
    match = _SERIAL_LINE.search(_read(cpuinfo))
    return _usable_serial(match.group(1)) if match else ""


def hardware_id(
    *,
    override: str = "",
    device_tree: Path = DEVICE_TREE_SERIAL,
    cpuinfo: Path = CPUINFO,
    machine_id: Path = MACHINE_ID,
) -> str:
    """This machine's hardware id as a lower-case GUID.

    Args:
        override: ``station.hardware_id`` from the configuration; "" to derive it.
        device_tree, cpuinfo, machine_id: where to look (tests point these at files).

    Raises:
        HardwareIdError: the override is not a GUID, or the machine has no usable id.
    """
    if override:
        if not _GUID.fullmatch(override.strip()):
            raise HardwareIdError(f"station.hardware_id: must be a GUID, not {override!r}")
        return override.strip().lower()
    serial = pi_serial(device_tree=device_tree, cpuinfo=cpuinfo)
    if serial:
        return str(uuid.uuid5(NAMESPACE, f"pi-serial:{serial}"))
    machine = _read(machine_id).strip().lower()
    if re.fullmatch(r"[0-9a-f]{32}", machine) and set(machine) != {"0"}:
        return str(uuid.uuid5(NAMESPACE, f"machine-id:{machine}"))
    raise HardwareIdError(
        "no hardware id: no Raspberry Pi serial number and no /etc/machine-id; "
        "set station.hardware_id in the configuration"
    )
