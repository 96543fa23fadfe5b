"""The trial of a newly installed root slot: release-station-slot's record, as the station reads it.

The script (image-build/overlay/usr/local/sbin/release-station-slot) runs here as RAUC's
post-install handler runs it (RAUC's environment variables, no arguments) and as the mark-good
and fallback units run it, with its record in a temporary directory (``RS_SLOT_DIR``) and the
kernel command line from a file (``RS_CMDLINE``). Only the paths that need neither RAUC nor
systemd run here; marking a slot bad and rebooting are proven under QEMU by run_ab.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from station.host_facts import LastUpdate, last_slot_install
from tests.support.rauc_bundles import rauc_command, signed_bundle

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "image-build" / "overlay" / "usr" / "local" / "sbin" / "release-station-slot"


def _run(tmp_path: Path, booted: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text(f"console=ttyAMA0 root=PARTUUID=5eedab15-03 rauc.slot={booted} rootwait\n")
    environment = {
        "PATH": os.environ["PATH"],
        "RS_SLOT_DIR": str(tmp_path / "slot"),
        "RS_CMDLINE": str(cmdline),
    }
    return subprocess.run(
        [str(SCRIPT), *args], env={**environment, **env}, capture_output=True, text=True, check=False
    )


def _installed_b(tmp_path: Path, bundle: Path | None = None) -> subprocess.CompletedProcess[str]:
    """What RAUC 1.8 passes its post-install handler after writing slot B (rootfs.1) from the
    bundle mounted at ``bundle`` (by default one whose manifest says version 0.2.0). Not the
    manifest's fields: RAUC_MF_VERSION is only for a bundle's own hooks."""
    if bundle is None:
        bundle = tmp_path / "bundle"
        bundle.mkdir(exist_ok=True)
        (bundle / "manifest.raucm").write_text(
            "[update]\ncompatible=release-station-arm64\nversion=0.2.0\n\n"
            "[image.rootfs]\nfilename=rootfs.ext4\n"
        )
    rauc = {
        "RAUC_BUNDLE_MOUNT_POINT": str(bundle),
        "RAUC_UPDATE_SOURCE": str(bundle),
        "RAUC_MOUNT_PREFIX": "/run/rauc",
        "RAUC_CURRENT_BOOTNAME": "A",
        "RAUC_SLOTS": "1 2",
        "RAUC_TARGET_SLOTS": "2",
        "RAUC_SLOT_NAME_2": "rootfs.1",
        "RAUC_SLOT_BOOTNAME_2": "B",
        "RAUC_SLOT_NAME_1": "rootfs.0",
        "RAUC_SLOT_BOOTNAME_1": "A",
    }
    return _run(tmp_path, "A", **rauc)


def test_an_install_puts_the_new_slot_on_trial_in_a_record_everyone_can_read(tmp_path: Path) -> None:
    assert _installed_b(tmp_path).returncode == 0
    record = tmp_path / "slot" / "last-install"
    fields = dict(line.split("=", 1) for line in record.read_text().splitlines())
    assert fields.keys() == {"slot", "version", "installed_at", "boot", "trial"}
    assert fields["boot"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert (fields["slot"], fields["version"], fields["trial"]) == ("B", "0.2.0", "pending")
    assert stat.S_IMODE(record.stat().st_mode) == 0o644  # the station's user reads it
    assert stat.S_IMODE(record.parent.stat().st_mode) == 0o755
    assert not (tmp_path / "slot" / "last-install.new").exists()
    assert last_slot_install(record) == LastUpdate("installed", "0.2.0", float(fields["installed_at"]), "B")


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("rauc", "mksquashfs", "mkfs.ext4", "openssl")),
    reason="needs rauc, squashfs-tools, e2fsprogs and openssl (image-build/ci.sh installs them)",
)
def test_the_version_is_read_from_a_real_bundles_manifest(tmp_path: Path) -> None:
    # A bundle as rauc/bundle.sh makes it, its content as RAUC mounts it (rauc extract: the same tree).
    bundle = signed_bundle(tmp_path, "1.4.2-rc1")
    content = tmp_path / "mounted"
    subprocess.run(
        [*rauc_command(tmp_path, tmp_path), "extract", str(bundle), str(content)],
        check=True,
        capture_output=True,
    )
    installed = _installed_b(tmp_path, content)
    assert installed.returncode == 0 and "(version 1.4.2-rc1)" in installed.stdout
    update = last_slot_install(tmp_path / "slot" / "last-install")
    assert update is not None and (update.slot, update.version) == ("B", "1.4.2-rc1")


@pytest.mark.parametrize(
    "manifest",
    [
        None,  # no manifest at the mount point
        "[update]\ncompatible=release-station-arm64\n",  # no version
        "[bundle]\nversion=0.2.0\n[update]\ncompatible=release-station-arm64\n",  # not [update]'s
        "\x00\xff garbage",
    ],
    ids=["no-manifest", "no-version", "other-group", "garbage"],
)
def test_a_bundle_without_a_readable_version_is_installed_as_unknown(
    tmp_path: Path, manifest: str | None
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    if manifest is not None:
        (bundle / "manifest.raucm").write_text(manifest)
    installed = _installed_b(tmp_path, bundle)
    assert installed.returncode == 0 and installed.stderr == ""
    update = last_slot_install(tmp_path / "slot" / "last-install")
    assert update is not None and (update.slot, update.version) == ("B", "unknown")


def test_the_version_may_have_blanks_around_it_as_in_any_key_file(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.raucm").write_text("# made by hand\n  [update]\n compatible=x\n  version = 0.3.0 \n")
    assert _installed_b(tmp_path, bundle).returncode == 0
    update = last_slot_install(tmp_path / "slot" / "last-install")
    assert update is not None and update.version == "0.3.0"


def test_without_a_mount_point_the_version_is_unknown(tmp_path: Path) -> None:
    rauc = {"RAUC_TARGET_SLOTS": "2", "RAUC_SLOT_BOOTNAME_2": "B"}
    installed = _run(tmp_path, "A", **rauc)
    assert installed.returncode == 0 and "(version unknown)" in installed.stdout
    assert "version=unknown\n" in (tmp_path / "slot" / "last-install").read_text()


def test_a_restart_of_the_old_slots_station_before_the_reboot_leaves_the_trial_alone(tmp_path: Path) -> None:
    # The station restarts in slot A (mark-good runs again) while B waits for the reboot: B was
    # installed in this very boot, so it has not failed anything yet.
    _installed_b(tmp_path)
    record = tmp_path / "slot" / "last-install"
    before = record.read_text()
    assert _run(tmp_path, "A", "good").returncode == 0
    assert record.read_text() == before


def test_the_new_slots_ready_station_passes_its_trial(tmp_path: Path) -> None:
    _installed_b(tmp_path)
    passed = _run(tmp_path, "B", "good")
    assert passed.returncode == 0 and "slot B passed its trial" in passed.stdout
    record = tmp_path / "slot" / "last-install"
    assert "trial=good\n" in record.read_text()
    update = last_slot_install(record)
    assert update is not None and (update.result, update.slot) == ("installed", "B")
    # A slot that passed is never given up by the fallback: its failing station is for the alerts.
    kept = _run(tmp_path, "B", "fallback")
    assert kept.returncode == 0 and "not on trial" in kept.stdout
    assert "trial=good\n" in record.read_text()


def test_without_an_install_nothing_is_on_trial(tmp_path: Path) -> None:
    assert _run(tmp_path, "A", "good").returncode == 0
    assert "not on trial" in _run(tmp_path, "A", "fallback").stdout
    assert not (tmp_path / "slot").exists()


def test_rauc_naming_no_root_slot_fails_the_install_with_a_reason(tmp_path: Path) -> None:
    failed = _run(tmp_path, "A", RAUC_TARGET_SLOTS="")
    assert failed.returncode == 1 and "RAUC named no root slot" in failed.stderr
    assert not (tmp_path / "slot" / "last-install").exists()


def test_a_new_slot_u_boot_gave_up_is_recorded_before_the_station_starts(tmp_path: Path) -> None:
    # B was installed in an earlier boot and never came up: U-Boot's counters brought the card
    # back to A. The boot check (before the station) records the rollback and marks B bad.
    _installed_b(tmp_path)
    record = tmp_path / "slot" / "last-install"
    record.write_text(record.read_text().replace("boot=", "boot=earlier-"))
    rauc = tmp_path / "bin" / "rauc"
    rauc.parent.mkdir()
    rauc.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "rauc-args"}\n')
    rauc.chmod(0o755)
    path = f"{rauc.parent}:{os.environ['PATH']}"
    given_up = _run(tmp_path, "A", "boot", PATH=path)
    assert given_up.returncode == 0 and "slot B did not come up" in given_up.stdout
    assert (tmp_path / "rauc-args").read_text() == "status mark-bad other\n"
    update = last_slot_install(record)
    assert update is not None and (update.result, update.slot) == ("rolled_back", "B")
    # In B itself, or in the boot of the install, the check leaves the trial alone.
    (tmp_path / "rauc-args").unlink()
    _installed_b(tmp_path)
    before = record.read_text()
    assert _run(tmp_path, "A", "boot", PATH=path).returncode == 0  # the install's own boot
    assert _run(tmp_path, "B", "boot", PATH=path).returncode == 0
    assert record.read_text() == before and not (tmp_path / "rauc-args").exists()
