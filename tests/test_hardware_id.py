"""The hardware id: stable, GUID-shaped, from the Pi's serial, else machine-id, else the config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypedDict

import pytest

from drivers.hardware_id import HardwareIdError, hardware_id, pi_serial

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CPUINFO = (
    "processor\t: 0\nHardware\t: BCM2835\nRevision\t: c03111\nSerial\t\t: 10000000ABCDEF01\nModel\t: Pi 4\n"
)


class Paths(TypedDict):
    device_tree: Path
    cpuinfo: Path
    machine_id: Path


def files(tmp_path: Path, *, tree: bytes | None = None, cpu: str = "", machine: str = "") -> Paths:
    paths: Paths = {
        "device_tree": tmp_path / "serial-number",
        "cpuinfo": tmp_path / "cpuinfo",
        "machine_id": tmp_path / "mid",
    }
    if tree is not None:
        paths["device_tree"].write_bytes(tree)
    paths["cpuinfo"].write_text(cpu)
    paths["machine_id"].write_text(machine)
    return paths


def test_device_tree_serial_wins_and_matches_cpuinfo(tmp_path: Path) -> None:
    from_tree = hardware_id(**files(tmp_path, tree=b"10000000abcdef01\x00", cpu=CPUINFO, machine="a" * 32))
    assert GUID.fullmatch(from_tree)
    # The same board read through /proc/cpuinfo gives the same id (case and NUL do not matter).
    (tmp_path / "proc").mkdir()
    assert hardware_id(**files(tmp_path / "proc", cpu=CPUINFO)) == from_tree


def test_stable_across_calls(tmp_path: Path) -> None:
    paths = files(tmp_path, cpu=CPUINFO)
    assert len({hardware_id(**paths) for _ in range(5)}) == 1
    assert pi_serial(device_tree=paths["device_tree"], cpuinfo=paths["cpuinfo"]) == "10000000abcdef01"


def test_machine_id_when_no_serial(tmp_path: Path) -> None:
    zero_serial = CPUINFO.replace("10000000ABCDEF01", "0000000000000000")
    value = hardware_id(
        **files(tmp_path, tree=b"\x00", cpu=zero_serial, machine="0123456789abcdef0123456789abcdef\n")
    )
    assert GUID.fullmatch(value)
    assert value != hardware_id(**files(tmp_path, cpu=CPUINFO))


def test_override_and_errors(tmp_path: Path) -> None:
    paths = files(tmp_path, cpu=CPUINFO)
    assert (
        hardware_id(override=" 1B4E28BA-2FA1-11D2-883F-0016D3CCA427 ", **paths)
        == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    )
    with pytest.raises(HardwareIdError, match="GUID"):
        hardware_id(override="not-a-guid", **paths)
    with pytest.raises(HardwareIdError, match=r"station\.hardware_id"):
        hardware_id(**files(tmp_path, cpu="", machine=""))


def test_a_remembered_id_survives_a_changed_source(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    keep = tmp_path / "state" / "hardware-id"
    first = hardware_id(remember=keep, **files(tmp_path, cpu=CPUINFO, machine="a" * 32))
    assert keep.read_text().strip() == first
    # The kernel stops showing the serial: the machine-id would give another id, the kept one wins.
    assert hardware_id(remember=keep, **files(tmp_path, cpu="", machine="a" * 32)) == first
    assert "keeping the hardware id" in caplog.text
    # Nothing to derive from at all: still the kept id.
    assert hardware_id(remember=keep, **files(tmp_path, cpu="", machine="")) == first
    # The configured override always wins, and is not kept.
    override = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert hardware_id(override=override, remember=keep, **files(tmp_path)) == override
    assert keep.read_text().strip() == first


def test_a_damaged_or_unwritable_keep_file_falls_back_to_deriving(tmp_path: Path) -> None:
    paths = files(tmp_path, cpu=CPUINFO)
    derived = hardware_id(**paths)
    keep = tmp_path / "hardware-id"
    keep.write_text("half-writ")
    assert hardware_id(remember=keep, **paths) == derived
    assert keep.read_text().strip() == derived  # repaired
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert hardware_id(remember=blocked / "hardware-id", **paths) == derived
