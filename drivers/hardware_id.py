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

Given a ``remember`` file (the station keeps it in its state directory), the first derived id is
written there and returned from then on, even if the source later reads differently (a kernel
that stops showing the serial, a regenerated machine-id, the SD card moved to another board):
the stored token pair and ezeep's printer binding belong to that id. Only the configured
override takes precedence over it.

Example::

    >>> hardware_id(override="1B4E28BA-2FA1-11D2-883F-0016D3CCA427")
    '1b4e28ba-2fa1-11d2-883f-0016d3cca427'
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path

from station.errors import StationError

# Fixed forever: changing it would give every station a new id and a new printer binding.
NAMESPACE = uuid.UUID("6f1c1d52-64c0-4c8e-9a0e-5b1f3c2a9d47")

DEVICE_TREE_SERIAL = Path("/sys/firmware/devicetree/base/serial-number")
CPUINFO = Path("/proc/cpuinfo")
MACHINE_ID = Path("/etc/machine-id")
KEEP_FILE = "hardware-id"  # the ``remember`` file's name in the station's state directory

log = logging.getLogger(__name__)

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
    remember: Path | None = None,
    device_tree: Path = DEVICE_TREE_SERIAL,
    cpuinfo: Path = CPUINFO,
    machine_id: Path = MACHINE_ID,
) -> str:
    """This machine's hardware id as a lower-case GUID.

    Args:
        override: ``station.hardware_id`` from the configuration; "" to derive it.
        remember: a file that keeps the first derived id for good (see the module docstring);
            None derives it on every call.
        device_tree, cpuinfo, machine_id: where to look (tests point these at files).

    Raises:
        HardwareIdError: the override is not a GUID, or the machine has no usable id (and none
            is remembered).
    """
    if override:
        if not _GUID.fullmatch(override.strip()):
            raise HardwareIdError(f"station.hardware_id: must be a GUID, not {override!r}")
        return override.strip().lower()
    kept = _remembered(remember)
    try:
        derived = _derive(device_tree, cpuinfo, machine_id)
    except HardwareIdError:
        if kept:
            return kept
        raise
    if kept:
        if kept != derived:
            log.warning("keeping the hardware id %s; the machine now reads as %s", kept, derived)
        return kept
    if remember is not None:
        _remember(remember, derived)
    return derived


def _derive(device_tree: Path, cpuinfo: Path, machine_id: Path) -> str:
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


def _remembered(path: Path | None) -> str:
    text = _read(path).strip().lower() if path is not None else ""
    return text if _GUID.fullmatch(text) else ""


def _remember(path: Path, value: str) -> None:
    """Write the id atomically; a failure only means it is derived again next time."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with temporary.open("w", encoding="ascii") as file:
            file.write(value + "\n")
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except OSError as exc:
        log.warning("cannot keep the hardware id in %s: %s", path, exc)
