"""What the metrics say about the card: the booted root slot, the root slot installed last and
the last software update.

The update directory is laid out here as ``release-station-update`` leaves it (its own runs, with
real installs, are in tests/test_image_update.py, which reads the result the same way).
"""

from __future__ import annotations

import doctest
import os
from pathlib import Path

from station import host_facts
from station.cli.metrics_feed import record_host
from station.host_facts import LastUpdate, last_slot_install, last_update, read_booted_slot
from station.metrics import Metrics

T0 = 1765094400  # 2025-12-07 08:00 UTC


def test_the_examples_run() -> None:
    assert doctest.testmod(host_facts).failed == 0


def test_the_booted_slot_comes_from_the_kernel_command_line(tmp_path: Path) -> None:
    cmdline, bootargs = tmp_path / "cmdline", tmp_path / "bootargs"
    cmdline.write_text("console=tty1 root=PARTUUID=9528807c-02 rauc.slot=A rootwait\n")
    assert read_booted_slot([cmdline, bootargs]) == "A"
    cmdline.write_text("console=tty1 rauc.slot= root=/dev/mmcblk0p2\n")
    assert read_booted_slot([cmdline]) == "none"
    # Under the station's unit /proc/cmdline is hidden: the device tree's copy, NUL-terminated.
    bootargs.write_bytes(b"console=ttyAMA0 root=PARTUUID=9528807c-03 rauc.slot=B rootwait\0")
    assert read_booted_slot([tmp_path / "hidden", bootargs]) == "B"
    assert read_booted_slot([tmp_path / "hidden", tmp_path / "no-device-tree"]) == "none"


def _version(apps: Path, name: str, installed_at: int) -> None:
    mark = apps / name / ".installed"
    mark.parent.mkdir(parents=True)
    mark.touch()
    os.utime(mark, (installed_at, installed_at))


def _switch(apps: Path, current: str, previous: str, at: int) -> None:
    for link, target in (("current", current), ("previous", previous)):
        path = apps / link
        path.unlink(missing_ok=True)
        if target:
            path.symlink_to(target)
            os.utime(path, (at, at), follow_symlinks=False)


def test_no_update_an_install_and_a_rollback(tmp_path: Path) -> None:
    apps = tmp_path / "app"
    assert last_update(apps) == LastUpdate("none")
    apps.mkdir()
    assert last_update(apps) == LastUpdate("none")

    _version(apps, "1.0", T0)
    _switch(apps, "1.0", "", T0 + 1)
    assert last_update(apps) == LastUpdate("installed", "1.0", T0 + 1)

    _version(apps, "2.0", T0 + 100)
    _switch(apps, "2.0", "1.0", T0 + 101)
    assert last_update(apps) == LastUpdate("installed", "2.0", T0 + 101)

    _switch(apps, "1.0", "2.0", T0 + 200)  # --rollback: back to the version installed before
    assert last_update(apps) == LastUpdate("rolled_back", "1.0", T0 + 200)


def test_rolling_back_to_the_image_version_is_a_rollback(tmp_path: Path) -> None:
    apps = tmp_path / "app"
    _version(apps, "1.0", T0)
    _switch(apps, "", "1.0", T0 + 50)  # no current link: the launcher runs /opt/release-station
    assert last_update(apps) == LastUpdate("rolled_back", "", T0 + 50)


def test_a_previous_version_that_is_gone_does_not_make_a_rollback(tmp_path: Path) -> None:
    apps = tmp_path / "app"
    _version(apps, "2.0", T0)
    _switch(apps, "2.0", "1.0", T0 + 1)
    assert last_update(apps).result == "installed"


def test_the_host_facts_in_the_metrics(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("root=PARTUUID=9528807c-03 rauc.slot=B\n")
    apps = tmp_path / "app"
    _version(apps, "1.0", T0)
    _switch(apps, "", "1.0", T0 + 50)
    metrics = Metrics()
    record_host(metrics, cmdlines=(cmdline,), apps=apps, slot_record=tmp_path / "no-slot-record")
    assert {(s.name, s.labels): s.value for s in metrics.samples()} == {
        ("release_station_slot_info", (("booted", "B"), ("installed", "none"))): 1,
        ("release_station_update_result", (("result", "none"),)): 0,
        ("release_station_update_result", (("result", "installed"),)): 0,
        ("release_station_update_result", (("result", "rolled_back"),)): 1,
        ("release_station_update_timestamp_seconds", ()): T0 + 50,
    }


def _slot_record(path: Path, slot: str, trial: str, *, installed_at: str = str(T0)) -> Path:
    """The record as release-station-slot writes it (image-build/overlay/usr/local/sbin)."""
    path.write_text(f"slot={slot}\nversion=0.2.0\ninstalled_at={installed_at}\nboot=b00d\ntrial={trial}\n")
    return path


def test_the_slot_installed_last_and_its_trial(tmp_path: Path) -> None:
    record = tmp_path / "last-install"
    assert last_slot_install(record) is None  # no slot installed since the card was flashed
    _slot_record(record, "B", "pending")
    assert last_slot_install(record) == LastUpdate("installed", "0.2.0", T0, "B")  # on trial
    _slot_record(record, "B", "good")
    assert last_slot_install(record) == LastUpdate("installed", "0.2.0", T0, "B")
    # Given up: by its own fallback, or by U-Boot's counters (recorded by the old slot).
    _slot_record(record, "B", "rolled_back")
    assert last_slot_install(record) == LastUpdate("rolled_back", "0.2.0", T0, "B")
    _slot_record(record, "B", "good", installed_at="soon")
    assert last_slot_install(record) == LastUpdate("installed", "0.2.0", 0.0, "B")


def test_a_rolled_back_slot_in_the_metrics(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("root=PARTUUID=9528807c-02 rauc.slot=A\n")
    metrics = Metrics()
    # Also with an older software update in /data/app: the slot install is the last update.
    apps = tmp_path / "app"
    _version(apps, "1.0", T0 - 100)
    _switch(apps, "", "1.0", T0 - 50)
    record_host(
        metrics, cmdlines=(cmdline,), apps=apps, slot_record=_slot_record(tmp_path / "r", "B", "rolled_back")
    )
    assert {(s.name, s.labels): s.value for s in metrics.samples()} == {
        ("release_station_slot_info", (("booted", "A"), ("installed", "B"))): 1,
        ("release_station_update_result", (("result", "none"),)): 0,
        ("release_station_update_result", (("result", "installed"),)): 0,
        ("release_station_update_result", (("result", "rolled_back"),)): 1,
        ("release_station_update_timestamp_seconds", ()): T0,
    }
