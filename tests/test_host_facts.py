"""What the metrics say about the card: the booted root slot, the root slot installed last and
the last update run.

The update record is written here by station.update.record, as the update timer's runs write it
(their own tests, against an update server, are in tests/test_update.py).
"""

from __future__ import annotations

import doctest
from pathlib import Path

from station import host_facts
from station.cli.metrics_feed import record_host
from station.host_facts import LastUpdate, last_slot_install, last_update, read_booted_slot
from station.metrics import Metrics
from station.update import record

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


def test_no_record_a_run_and_a_broken_record(tmp_path: Path) -> None:
    path = tmp_path / "update" / "last-run.json"
    no_slot = tmp_path / "no-slot-record"
    assert last_update(path, no_slot) == LastUpdate("none")
    record.write(path, record.Record("installed", "2.0.0", T0 + 1, "in 40 s", "ab" * 32))
    assert last_update(path, no_slot) == LastUpdate("installed", "2.0.0", T0 + 1)
    record.write(path, record.Record("not_in_share", "2.1.0", T0 + 2))
    assert last_update(path, no_slot) == LastUpdate("not_in_share", "2.1.0", T0 + 2)
    for broken in (
        b"{",
        b'{"result": "exploded", "at": 1}',
        b'{"result": "failed", "at": "noon"}',
        b"x" * 20000,
    ):
        path.write_bytes(broken)
        assert last_update(path, no_slot) == LastUpdate("none")


def test_the_host_facts_in_the_metrics(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("root=PARTUUID=9528807c-03 rauc.slot=B\n")
    path = tmp_path / "last-run.json"
    record.write(path, record.Record("failed", "2.0.0", T0 + 50, "not enough room"))
    metrics = Metrics()
    record_host(metrics, cmdlines=(cmdline,), update_record=path, slot_record=tmp_path / "no-slot-record")
    samples = {(s.name, s.labels): s.value for s in metrics.samples()}
    results = {dict(labels)["result"]: v for (name, labels), v in samples.items() if name.endswith("_result")}
    assert results == {r: int(r == "failed") for r in host_facts.UPDATE_RESULTS}
    assert samples[("release_station_slot_info", (("booted", "B"), ("installed", "none")))] == 1
    assert samples[("release_station_update_timestamp_seconds", ())] == T0 + 50


def _slot_record(path: Path, slot: str, trial: str, *, installed_at: str = str(T0)) -> Path:
    """The record as release-station-slot writes it (image-build/overlay/usr/local/sbin)."""
    path.write_text(f"slot={slot}\nversion=0.2.0\ninstalled_at={installed_at}\nboot=b00d\ntrial={trial}\n")
    return path


def test_the_slot_installed_last_and_its_trial(tmp_path: Path) -> None:
    slot_record = tmp_path / "last-install"
    assert last_slot_install(slot_record) is None  # no slot installed since the card was flashed
    _slot_record(slot_record, "B", "pending")
    assert last_slot_install(slot_record) == LastUpdate("installed", "0.2.0", T0, "B")  # on trial
    _slot_record(slot_record, "B", "good")
    assert last_slot_install(slot_record) == LastUpdate("installed", "0.2.0", T0, "B")
    # Given up: by its own fallback, or by U-Boot's counters (recorded by the old slot).
    _slot_record(slot_record, "B", "rolled_back")
    assert last_slot_install(slot_record) == LastUpdate("rolled_back", "0.2.0", T0, "B")
    _slot_record(slot_record, "B", "good", installed_at="soon")
    assert last_slot_install(slot_record) == LastUpdate("installed", "0.2.0", 0.0, "B")


def test_the_slot_install_gives_the_time_and_a_rollback_outweighs_the_timers_later_runs(
    tmp_path: Path,
) -> None:
    run, slot_record = tmp_path / "last-run.json", tmp_path / "last-install"
    # Installed by hand (rauc install): no timer run, the install is the last update.
    _slot_record(slot_record, "B", "pending")
    assert last_update(run, slot_record) == LastUpdate("installed", "0.2.0", T0, "B")
    # The timer installed it: its record is a moment newer than RAUC's handler's.
    record.write(run, record.Record("installed", "0.2.0", T0 + 5))
    assert last_update(run, slot_record) == LastUpdate("installed", "0.2.0", T0, "B")
    # Its later runs say what they found, at the install's time (the boot-time alert needs it).
    record.write(run, record.Record("no_update", "0.2.0", T0 + 9000))
    assert last_update(run, slot_record) == LastUpdate("no_update", "0.2.0", T0, "B")
    # A timer run older than an install by hand does not hide that install.
    _slot_record(slot_record, "A", "pending", installed_at=str(T0 + 20000))
    assert last_update(run, slot_record) == LastUpdate("installed", "0.2.0", T0 + 20000, "A")
    _slot_record(slot_record, "B", "rolled_back")
    assert last_update(run, slot_record) == LastUpdate("rolled_back", "0.2.0", T0, "B")


def test_a_rolled_back_slot_in_the_metrics(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("root=PARTUUID=9528807c-02 rauc.slot=A\n")
    metrics = Metrics()
    slot_record = _slot_record(tmp_path / "r", "B", "rolled_back")
    record_host(metrics, cmdlines=(cmdline,), update_record=tmp_path / "no-run", slot_record=slot_record)
    samples = {(s.name, s.labels): s.value for s in metrics.samples()}
    results = {dict(labels)["result"]: v for (name, labels), v in samples.items() if name.endswith("_result")}
    assert results == {r: int(r == "rolled_back") for r in host_facts.UPDATE_RESULTS}
    assert samples[("release_station_slot_info", (("booted", "A"), ("installed", "B")))] == 1
    assert samples[("release_station_update_timestamp_seconds", ())] == T0
