"""The A/B boot script (image-build/boot/boot.cmd) under Debian's U-Boot on QEMU ``virt``.

A small card made here has the image's layout (MBR: FAT boot with ``boot.scr``,
``cmdline.txt`` and the factory ``boot-state.env``; root A; root B; data), but its slots hold
no kernel: U-Boot chooses a slot, counts the attempt, fails to load ``/vmlinuz`` and resets,
which ends QEMU (``-no-reboot``). That is all the script's logic; starting a real kernel is the
image boot test's part. The state is read and written between boots on the host with
``fw_printenv``/``fw_setenv`` through the image's own ``/etc/fw_env.config`` (path changed), as
RAUC does on the station.

The card's U-Boot environment (``boot/locked-env.py``: the built-in one with ``bootdelay=-2``)
is checked the same way with the ``qemu_arm64`` build, whose saved environment lives in flash
where the Pi's lives in ``uboot.env`` on the FAT partition.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOT = ROOT / "image-build" / "boot"
FW_ENV_CONFIG = ROOT / "image-build" / "overlay" / "etc" / "fw_env.config"
UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
VIRT_ENV_SIZE = "0x40000"  # CONFIG_ENV_SIZE of qemu_arm64 (the Pi's is 0x4000)
TOOLS = ("qemu-system-aarch64", "mkimage", "mkenvimage", "fw_printenv", "mkfs.vfat", "mcopy", "sfdisk")
MIB = 1 << 20
DISK_ID = "5eedab15"
# Partitions in MiB: (start, size); FAT, slot A, slot B, data.
LAYOUT = ((1, 40), (41, 16), (57, 16), (73, 8))

pytestmark = pytest.mark.skipif(
    not UBOOT.exists() or not all(shutil.which(tool) for tool in TOOLS),
    reason="needs u-boot-qemu, u-boot-tools, libubootenv-tool, qemu-system-arm, dosfstools, mtools, fdisk",
)


def _run(*command: str, stdin: str | None = None) -> str:
    return subprocess.run(command, input=stdin, capture_output=True, text=True, check=True).stdout


@dataclass(frozen=True)
class Card:
    disk: Path
    scratch: Path

    @property
    def fat(self) -> str:
        return f"{self.disk}@@{LAYOUT[0][0] * MIB}"

    def console(self, *, typed: bytes = b"", flash: Path | None = None) -> str:
        """One power-on with ``typed`` waiting on the serial console and U-Boot's saved
        environment in ``flash`` (virt keeps it at the start of the second flash bank)."""
        saved = ["-drive", f"if=pflash,unit=1,format=raw,file={flash}"] if flash else []
        return subprocess.run(
            [
                "qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-m", "512",
                "-nographic", "-no-reboot", "-bios", str(UBOOT), "-nic", "none",
                "-drive", f"if=none,id=card,format=raw,file={self.disk}",
                "-device", "virtio-blk-pci,drive=card", *saved,
            ],
            input=typed, capture_output=True, timeout=120, check=False,
        ).stdout.decode(errors="replace")  # fmt: skip

    def boot(self) -> list[str]:
        """One power-on: U-Boot runs boot.scr; its ``AB:`` lines."""
        console = self.console()
        lines = [line.strip() for line in console.splitlines() if line.startswith("AB: ")]
        assert lines, console[-2000:]
        return lines

    def _fw_config(self) -> Path:
        """The image's fw_env.config, pointing at a copy of the card's boot-state.env."""
        config = self.scratch / "fw_env.config"
        config.write_text(
            FW_ENV_CONFIG.read_text().replace(
                "/boot/firmware/boot-state.env", str(self.scratch / "state.env")
            )
        )
        return config

    def state(self) -> dict[str, str]:
        _run("mcopy", "-o", "-i", self.fat, "::/boot-state.env", str(self.scratch / "state.env"))
        text = _run("fw_printenv", "-c", str(self._fw_config()))
        return dict(line.split("=", 1) for line in text.splitlines())

    def set_state(self, **values: str) -> None:
        """What RAUC does through fw_setenv (rauc install, mark-good)."""
        self.state()  # fetch the card's copy
        for name, value in values.items():
            _run("fw_setenv", "-c", str(self._fw_config()), name, value)
        _run("mcopy", "-o", "-i", self.fat, str(self.scratch / "state.env"), "::/boot-state.env")


@pytest.fixture
def card(tmp_path: Path) -> Card:
    """A new card: boot.scr, cmdline.txt and boot-state.env as build.sh makes them."""
    boot = tmp_path / "boot"
    boot.mkdir()
    _run("mkimage", "-A", "arm64", "-T", "script", "-C", "none", "-n", "test", "-d", str(BOOT / "boot.cmd"),
         str(boot / "boot.scr"))  # fmt: skip
    _run("mkenvimage", "-s", "0x4000", "-o", str(boot / "boot-state.env"), str(BOOT / "boot-state.txt"))
    (boot / "cmdline.txt").write_text("console=ttyAMA0 ro quiet\n")
    fat = tmp_path / "boot.vfat"
    _run("mkfs.vfat", "-n", "BOOTFS", "-F", "32", "-C", str(fat), str(LAYOUT[0][1] * 1024))
    _run(
        "mcopy",
        "-i",
        str(fat),
        *(str(boot / name) for name in ("boot.scr", "boot-state.env", "cmdline.txt")),
        "::/",
    )
    disk = tmp_path / "card.img"
    table = "".join(
        f"{start}MiB,{size}MiB,{kind}\n"
        for (start, size), kind in zip(LAYOUT, ("c,*", "83", "83", "83"), strict=True)
    )
    with disk.open("wb") as file:
        file.truncate((LAYOUT[-1][0] + LAYOUT[-1][1]) * MIB)
        file.seek(LAYOUT[0][0] * MIB)
        file.write(fat.read_bytes())
    _run("sfdisk", "--quiet", str(disk), stdin=f"label: dos\nlabel-id: 0x{DISK_ID}\n{table}")
    return Card(disk, tmp_path)


def test_a_new_card_boots_slot_a_with_its_root_by_this_disks_partuuid(card: Card) -> None:
    lines = card.boot()
    assert "AB: state BOOT_ORDER=A B BOOT_A_LEFT=3 BOOT_B_LEFT=3" in lines
    assert "AB: booting slot A (partition 2), attempts left A=2 B=3" in lines
    assert f"AB: bootargs console=ttyAMA0 ro quiet root=PARTUUID={DISK_ID}-02 rauc.slot=A" in lines
    # The attempt was written before the kernel was loaded.
    assert card.state() == {"BOOT_ORDER": "A B", "BOOT_A_LEFT": "2", "BOOT_B_LEFT": "3"}


def test_a_new_slot_that_never_reaches_good_falls_back_to_the_old_one_after_three_attempts(
    card: Card,
) -> None:
    card.set_state(BOOT_ORDER="B A", BOOT_B_LEFT="3")  # what rauc install leaves
    for left in ("2", "1", "0"):
        lines = card.boot()
        assert f"AB: booting slot B (partition 3), attempts left A=3 B={left}" in lines
        assert f"AB: bootargs console=ttyAMA0 ro quiet root=PARTUUID={DISK_ID}-03 rauc.slot=B" in lines
    assert "AB: booting slot A (partition 2), attempts left A=2 B=0" in card.boot()
    assert card.state() == {"BOOT_ORDER": "B A", "BOOT_A_LEFT": "2", "BOOT_B_LEFT": "0"}


def test_a_slot_marked_good_keeps_its_attempts(card: Card) -> None:
    card.set_state(BOOT_ORDER="B A", BOOT_B_LEFT="3")
    assert "AB: booting slot B (partition 3), attempts left A=3 B=2" in card.boot()
    card.set_state(BOOT_B_LEFT="3")  # rauc status mark-good
    assert "AB: booting slot B (partition 3), attempts left A=3 B=2" in card.boot()


def test_a_damaged_state_file_starts_over_from_slot_a(card: Card) -> None:
    card.set_state(BOOT_ORDER="B A")
    state = card.scratch / "state.env"
    data = bytearray(state.read_bytes())
    data[10] ^= 0xFF
    state.write_bytes(bytes(data))
    _run("mcopy", "-o", "-i", card.fat, str(state), "::/boot-state.env")
    lines = card.boot()
    assert "AB: boot-state.env damaged" in lines
    assert "AB: booting slot A (partition 2), attempts left A=2 B=3" in lines


def test_when_no_slot_has_attempts_left_both_get_them_back(card: Card) -> None:
    card.set_state(BOOT_A_LEFT="0", BOOT_B_LEFT="0")
    assert "AB: no slot has attempts left: both get 3 again" in card.boot()
    assert card.state() == {"BOOT_ORDER": "A B", "BOOT_A_LEFT": "3", "BOOT_B_LEFT": "3"}
    assert "AB: booting slot A (partition 2), attempts left A=2 B=3" in card.boot()


def test_autoboot_cannot_be_stopped_from_the_serial_console(card: Card) -> None:
    # A key on the console, then "reset" for a U-Boot prompt (which ends QEMU: -no-reboot).
    typed = b"x\nreset\n"
    stopped = card.console(typed=typed)
    assert "Hit any key to stop autoboot" in stopped and "AB: " not in stopped  # Debian's default
    env = card.scratch / "env.txt"
    env.write_text(_run(sys.executable, str(BOOT / "locked-env.py"), str(UBOOT)))
    assert "bootdelay=-2\n" in env.read_text() and "bootcmd=" in env.read_text()
    flash = card.scratch / "flash1.img"
    _run("mkenvimage", "-s", VIRT_ENV_SIZE, "-o", str(flash), str(env))
    os.truncate(flash, 64 * MIB)  # one flash bank
    locked = card.console(typed=typed, flash=flash)
    assert "Loading Environment from Flash... OK" in locked
    assert "Hit any key" not in locked
    assert "AB: booting slot A (partition 2), attempts left A=2 B=3" in locked


def test_a_slot_given_up_is_not_tried_again_when_both_run_out_of_attempts(card: Card) -> None:
    # rauc status mark-bad (release-station-slot): no attempts left, and out of BOOT_ORDER.
    card.set_state(BOOT_ORDER="A", BOOT_A_LEFT="0", BOOT_B_LEFT="0")
    assert "AB: no slot has attempts left: both get 3 again" in card.boot()
    assert "AB: booting slot A (partition 2), attempts left A=2 B=3" in card.boot()
