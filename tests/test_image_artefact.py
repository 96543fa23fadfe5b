"""The built SD image, read without mounting: partition table (sfdisk), boot files (mtools),
root and data file systems (debugfs), the package manifest.

Needs an image from ``image-build/build.sh`` (``$RELEASE_STATION_IMAGE``, default: the debian
profile's work directory); without one every test here is skipped, and ``image-build/ci.sh``
reports that as a skip, never as a pass.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.image_scripts import load_image_script

ROOT = Path(__file__).resolve().parent.parent
IMAGE_BUILD = ROOT / "image-build"
IMAGE = Path(
    os.environ.get(
        "RELEASE_STATION_IMAGE", IMAGE_BUILD / "work" / "debian-bookworm-arm64" / "release-station.img"
    )
)
TOOLS = ("sfdisk", "mdir", "mtype", "mcopy", "debugfs", "zstd")

pytestmark = [
    pytest.mark.image,
    pytest.mark.skipif(not IMAGE.exists(), reason=f"no built image at {IMAGE} (run image-build/build.sh)"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in TOOLS), reason=f"needs {', '.join(TOOLS)} (image-build/ci.sh)"
    ),
]


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@dataclass(frozen=True)
class Partition:
    start: int
    size: int
    kind: str
    bootable: bool


@pytest.fixture(scope="module")
def table() -> dict[str, object]:
    result: dict[str, object] = json.loads(_run("sfdisk", "--json", str(IMAGE)))["partitiontable"]
    return result


@pytest.fixture(scope="module")
def parts(table: dict[str, object]) -> list[Partition]:
    entries = table["partitions"]
    assert isinstance(entries, list)
    return [Partition(p["start"] * 512, p["size"] * 512, p["type"], bool(p.get("bootable"))) for p in entries]


class Fat:
    def __init__(self, part: Partition) -> None:
        self.spec = f"{IMAGE}@@{part.start}"

    def names(self) -> set[str]:
        return {Path(line).name for line in _run("mdir", "-b", "-i", self.spec, "::/").split()}

    def text(self, name: str) -> str:
        return _run("mtype", "-i", self.spec, f"::/{name}")

    def copy(self, name: str, target: Path) -> Path:
        _run("mcopy", "-n", "-i", self.spec, f"::/{name}", str(target))
        return target


@dataclass(frozen=True)
class Entry:
    mode: int
    uid: int
    gid: int
    name: str


class Ext4:
    def __init__(self, part: Partition) -> None:
        self.spec = f"{IMAGE}?offset={part.start}"

    def _debugfs(self, request: str) -> str:
        result = subprocess.run(["debugfs", "-R", request, self.spec], capture_output=True, text=True)
        return result.stdout

    def cat(self, path: str) -> str:
        return self._debugfs(f"cat {path}")

    def ls(self, path: str) -> dict[str, Entry]:
        entries = {}
        for line in self._debugfs(f"ls -p {path}").splitlines():
            fields = line.strip("/").split("/")
            if len(fields) >= 5 and fields[4] not in (".", ".."):
                entries[fields[4]] = Entry(int(fields[1], 8), int(fields[2]), int(fields[3]), fields[4])
        return entries

    def stat(self, path: str) -> Entry | None:
        parent, _, name = path.rstrip("/").rpartition("/")
        return self.ls(parent or "/").get(name)

    def link(self, path: str) -> str:
        match = re.search(r'Fast link dest: "(.*)"', self._debugfs(f"stat {path}"))
        return match.group(1) if match else ""


@pytest.fixture(scope="module")
def boot(parts: list[Partition]) -> Fat:
    return Fat(parts[0])


@pytest.fixture(scope="module")
def rootfs(parts: list[Partition]) -> Ext4:
    return Ext4(parts[1])


@pytest.fixture(scope="module")
def data(parts: list[Partition]) -> Ext4:
    return Ext4(parts[3])


@pytest.fixture(scope="module")
def manifest() -> dict[str, set[str]]:
    """Names by kind: ``deb`` and ``pip`` packages, ``archive`` suites."""
    packages: dict[str, set[str]] = {"deb": set(), "pip": set(), "archive": set()}
    for line in (IMAGE.parent / "manifest.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            kind, name, *_ = line.split()
            packages[kind].add(name)
    return packages


def test_partition_table_is_mbr_with_boot_two_root_slots_and_data(
    table: dict[str, object], parts: list[Partition]
) -> None:
    assert table["label"] == "dos"
    assert [p.kind for p in parts] == ["c", "83", "83", "83"]
    assert parts[0].bootable and parts[0].start == 8 * 1024 * 1024
    assert parts[1].size == parts[2].size  # A and B: an update's root fits either
    cmdline_root = f"root=PARTUUID={str(table['id']).removeprefix('0x')}-02"
    assert cmdline_root in Fat(parts[0]).text("cmdline.txt").split()


def test_boot_partition_has_firmware_kernel_and_settings(boot: Fat) -> None:
    names = boot.names()
    assert {"bootcode.bin", "start.elf", "start4.elf", "fixup.dat", "fixup4.dat"} <= names
    assert {"bcm2837-rpi-3-b.dtb", "bcm2711-rpi-4-b.dtb"} <= names
    assert {"release-station.toml.example", "system.toml.example"} <= names
    assert not {"release-station.toml", "system.toml"} & names  # those are the person's to add
    config = boot.text("config.txt")
    # The firmware starts U-Boot, which runs boot.scr (the A/B choice) with the card's state.
    assert re.search(r"(?m)^kernel=u-boot.bin$", config) and not re.search(r"(?m)^initramfs ", config)
    assert {"u-boot.bin", "boot.scr", "boot-state.env", "uboot.env"} <= names
    assert re.search(r"(?m)^dtoverlay=vc4-kms-v3d", config) and re.search(r"(?m)^arm_64bit=1", config)
    cmdline = boot.text("cmdline.txt").split()
    assert {"ro", "rootwait", "consoleblank=0"} <= set(cmdline)
    assert not any("@" in word for word in cmdline)  # every placeholder filled in


def _cpio_names(archive: bytes) -> list[str]:
    """File names in a "newc" cpio archive (what an initramfs is)."""
    names, offset = [], 0
    while offset + 110 <= len(archive) and archive[offset : offset + 6] in (b"070701", b"070702"):
        filesize = int(archive[offset + 54 : offset + 62], 16)
        namesize = int(archive[offset + 94 : offset + 102], 16)
        name = archive[offset + 110 : offset + 110 + namesize - 1].decode()
        if name == "TRAILER!!!":
            break
        names.append(name)
        offset = (offset + 110 + namesize + 3) & ~3
        offset = (offset + filesize + 3) & ~3
    return names


def _module_names(paths: list[str]) -> set[str]:
    return {Path(p).name.split(".ko")[0].replace("-", "_") for p in paths if ".ko" in p}


def test_initramfs_is_short_and_finds_the_root_on_every_machine(
    boot: Fat, rootfs: Ext4, tmp_path: Path
) -> None:
    initrd = next(n for n in boot.names() if n.startswith("initrd.img-"))
    packed = boot.copy(initrd, tmp_path / initrd).read_bytes()
    assert len(packed) < 20 * 1024 * 1024  # MODULES=list, not most
    archive = subprocess.run(["zstd", "-dc"], input=packed, capture_output=True, check=True).stdout
    version = initrd.removeprefix("initrd.img-")
    builtin = _module_names(rootfs.cat(f"/usr/lib/modules/{version}/modules.builtin").split())
    available = _module_names(_cpio_names(archive)) | builtin
    assert {"mmc_block", "sdhci_iproc", "bcm2835", "virtio_blk", "ext4", "overlay"} <= available
    assert any(n.endswith("scripts/init-bottom/overlayroot") for n in _cpio_names(archive))
    # No USB storage in the initramfs either: a stick is never read, not even to find the root.
    assert not {"usb_storage", "uas"} & _module_names(_cpio_names(archive))


def test_the_root_slot_carries_its_kernel_and_rauc_with_the_keyring(
    rootfs: Ext4, manifest: dict[str, set[str]]
) -> None:
    """boot.scr loads /vmlinuz and /initrd.img from the slot; RAUC trusts the build's CA."""
    assert rootfs.link("/vmlinuz").startswith("boot/vmlinuz-")
    assert rootfs.link("/initrd.img").startswith("boot/initrd.img-")
    assert {"rauc", "rauc-service", "libubootenv-tool", "u-boot-rpi"} <= manifest["deb"]
    assert "BEGIN CERTIFICATE" in rootfs.cat("/etc/rauc/keyring.pem")
    assert "bootloader=uboot" in rootfs.cat("/etc/rauc/system.conf")
    assert "/boot/firmware/boot-state.env" in rootfs.cat("/etc/fw_env.config")
    assert rootfs.link(
        "/etc/systemd/system/release-station.service.wants/release-station-mark-good.service"
    ).endswith("/release-station-mark-good.service")
    assert rootfs.link(
        "/etc/systemd/system/release-station.service.wants/release-station-slot-check.service"
    ).endswith("/release-station-slot-check.service")
    assert "60-release-station-card.rules" in rootfs.ls("/etc/udev/rules.d")
    # A new slot's trial: RAUC records each install, a slot whose station does not come up falls back.
    assert "post-install=/usr/local/sbin/release-station-slot" in rootfs.cat("/etc/rauc/system.conf")
    assert rootfs.link("/etc/systemd/system/timers.target.wants/release-station-trial.timer").endswith(
        "/release-station-trial.timer"
    )


def test_u_boot_on_the_pi_boots_without_a_prompt_on_the_serial_console(boot: Fat, tmp_path: Path) -> None:
    """uboot.env is rpi_arm64's own built-in environment, with only bootdelay=-2."""
    env = boot.copy("uboot.env", tmp_path / "uboot.env")
    config = tmp_path / "fw_env.config"
    config.write_text(f"{env} 0x0000 0x4000\n")
    saved = dict(line.split("=", 1) for line in _run("fw_printenv", "-c", str(config)).splitlines())
    assert saved["bootdelay"] == "-2" and saved["bootcmd"] and saved["board"] == "rpi"


@pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="needs qemu-system-arm")
def test_a_key_on_the_serial_console_does_not_stop_the_pis_u_boot(boot: Fat, tmp_path: Path) -> None:
    """The card's own u-boot.bin on QEMU's raspi3b reads uboot.env from the FAT partition and
    boots on while a key waits on its console (the mini UART, QEMU's second serial port)."""
    fat = tmp_path / "fat.img"
    _run("mkfs.vfat", "-C", str(fat), "40000")
    _run("mcopy", "-i", str(fat), str(boot.copy("uboot.env", tmp_path / "uboot.env")), "::/")
    card = tmp_path / "sd.img"
    with card.open("wb") as disk:
        disk.truncate(64 << 20)  # QEMU's SD card: a power of two
        disk.seek(1 << 20)
        disk.write(fat.read_bytes())
    subprocess.run(["sfdisk", "-q", str(card)], input="label: dos\n1MiB,,c,*\n", text=True, check=True)
    command = [
        "qemu-system-aarch64", "-M", "raspi3b", "-m", "1024", "-display", "none", "-monitor", "none",
        "-no-reboot", "-kernel", str(boot.copy("u-boot.bin", tmp_path / "u-boot.bin")),
        "-dtb", str(boot.copy("bcm2837-rpi-3-b.dtb", tmp_path / "pi3.dtb")),
        "-drive", f"if=sd,format=raw,file={card}", "-serial", "null", "-serial", "stdio",
    ]  # fmt: skip
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as qemu:
        assert qemu.stdin is not None and qemu.stdout is not None
        # A stopped boot waits at a prompt forever: end QEMU after 3 minutes (a busy host).
        stopper = threading.Timer(180, qemu.kill)
        stopper.start()
        qemu.stdin.write(b"x\n")
        qemu.stdin.flush()
        console = b""
        while b"Scanning mmc 0:1" not in console:  # distro boot runs: nothing stopped it
            line = qemu.stdout.readline()
            assert line, console.decode(errors="replace")[-2000:]
            console += line
        stopper.cancel()
        qemu.kill()
    assert b"Loading Environment from FAT... OK" in console
    assert b"Hit any key" not in console


def test_units_and_their_enable_links_are_present(rootfs: Ext4) -> None:
    units = rootfs.ls("/usr/lib/systemd/system")
    for unit in (
        "release-station.service",
        "release-station-firstboot.service",
        "release-station-time-sync.service",
    ):
        assert unit in units
    system = "/etc/systemd/system"
    assert rootfs.link(f"{system}/multi-user.target.wants/release-station.service").endswith(
        "/release-station.service"
    )
    assert rootfs.link(f"{system}/sysinit.target.wants/release-station-firstboot.service").endswith(
        "/release-station-firstboot.service"
    )
    assert rootfs.link(f"{system}/getty@tty1.service") == "/dev/null"  # tty1 is the kiosk screen
    # The update timer, enabled; the venv-only updater and its rollback unit are gone.
    assert rootfs.link(f"{system}/timers.target.wants/release-station-update.timer").endswith(
        "/release-station-update.timer"
    )
    assert "release-station-update.service" in rootfs.ls(system)
    assert "release-station-rollback.service" not in rootfs.ls(system)
    assert "release-station-update" not in rootfs.ls("/usr/local/sbin")
    assert "image.conf" in rootfs.ls(f"{system}/release-station.service.d")
    assert "release-station-nfc.conf" in rootfs.ls("/usr/lib/modprobe.d")
    assert "release-station.conf" in rootfs.ls("/usr/lib/systemd/journald.conf.d")
    assert "release-station-watchdog.conf" in rootfs.ls("/usr/lib/systemd/system.conf.d")
    assert "60-release-station-readers.rules" in rootfs.ls("/usr/lib/udev/rules.d")
    assert rootfs.link("/etc/release-station/station.toml") == "/data/config/station.toml"


def test_a_passer_by_gets_nothing_from_the_built_root(rootfs: Ext4, boot: Fat) -> None:
    system = "/etc/systemd/system"
    for unit in ("ctrl-alt-del.target", "getty@.service", "autovt@.service", "usbguard-dbus.service"):
        assert rootfs.link(f"{system}/{unit}") == "/dev/null", unit
    for unit in ("nftables.service", "usbguard.service"):
        assert unit in rootfs.ls(f"{system}/sysinit.target.wants") | rootfs.ls(
            f"{system}/basic.target.wants"
        ) | rootfs.ls(f"{system}/multi-user.target.wants"), unit
    rules = rootfs.stat("/etc/usbguard/rules.conf")
    assert rules is not None and rules.mode & 0o777 == 0o600 and rules.uid == 0
    assert "allow with-interface match-all { 09:*:* }" in rootfs.cat("/etc/usbguard/rules.conf")
    nftables = rootfs.cat("/etc/nftables.conf")
    assert "policy drop;" in nftables and "tcp dport" not in nftables
    assert "kernel.sysrq = 0" in rootfs.cat("/usr/lib/sysctl.d/99-release-station.conf")
    assert "release-station-usb-storage.conf" in rootfs.ls("/usr/lib/modprobe.d")
    generator = rootfs.stat("/usr/lib/systemd/system-generators/release-station-mounts")
    assert generator is not None and generator.mode & 0o111
    fstab = rootfs.cat("/etc/fstab")
    disk = re.search(r"root=PARTUUID=([0-9a-f]{8})-02", boot.text("cmdline.txt"))
    assert disk and re.search(rf"(?m)^PARTUUID={disk.group(1)}-02\s+/\s", fstab)
    assert "LABEL=" not in fstab and "@DISK_ID@" not in fstab


def test_no_test_only_pieces(rootfs: Ext4, manifest: dict[str, set[str]]) -> None:
    assert not any("vpcd" in name for name in manifest["deb"])
    assert "libifdvpcd.so" not in rootfs.ls("/usr/lib/pcsc/drivers/serial")
    assert not {"starlette", "uvicorn", "pytest", "playwright"} & {n.lower() for n in manifest["pip"]}
    wants = rootfs.ls("/etc/systemd/system/multi-user.target.wants")
    assert not [name for name in wants if "emulator" in name or "smoke" in name]


def test_no_passwords_no_host_keys_no_machine_id(rootfs: Ext4) -> None:
    for line in rootfs.cat("/etc/shadow").splitlines():
        user, password = line.split(":")[:2]
        assert password.startswith(("!", "*")), f"{user} has a password"
    assert not [name for name in rootfs.ls("/etc/ssh") if name.startswith("ssh_host_")]
    machine_id = rootfs.stat("/etc/machine-id")
    assert machine_id is not None and rootfs.cat("/etc/machine-id") == ""
    assert rootfs.stat("/var/lib/dbus/machine-id") is None


def test_station_user_and_venv(rootfs: Ext4) -> None:
    passwd = {line.split(":")[0]: line.split(":") for line in rootfs.cat("/etc/passwd").splitlines()}
    user = passwd["release-station"]
    assert user[6] == "/usr/sbin/nologin" and int(user[2]) < 1000
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",") for line in rootfs.cat("/etc/group").splitlines()
    }
    for group in ("video", "render", "input", "gpio"):
        assert "release-station" in groups[group], group
    assert "release-station" in rootfs.ls("/opt/release-station/bin")
    site = rootfs.ls("/opt/release-station/lib/python3.11/site-packages")
    for package in ("station", "ui", "drivers", "pygame", "smartcard", "evdev", "nfc", "httpx"):
        assert package in site, package


def test_data_partition_is_ready_for_the_station(data: Ext4, rootfs: Ext4) -> None:
    uid = int(
        next(
            line for line in rootfs.cat("/etc/passwd").splitlines() if line.startswith("release-station:")
        ).split(":")[2]
    )
    state = data.stat("/state")
    assert state is not None and state.uid == uid and state.mode & 0o777 == 0o700
    assert data.stat("/config") is not None and data.stat("/system") is not None


def test_manifest_is_within_the_allow_list(manifest: dict[str, set[str]]) -> None:
    allowlist = load_image_script("allowlist")
    extra = allowlist.not_allowed(manifest["deb"], allowlist.read_allowlist())
    assert extra == set(), "new Debian packages: review and add to manifest-allowlist.txt"
    # The build says which state of the archive it used, by code name (the suite name moves: bookworm
    # is "oldstable" since Debian 13 came out); the packages' versions are on record.
    assert {"bookworm", "bookworm-updates", "bookworm-security"} <= manifest["archive"]
    required = {"pcscd", "python3", "libgles2", "linux-image-arm64", "raspi-firmware", "overlayroot"}
    assert required <= manifest["deb"]
    assert {"release-station", "pygame-ce", "pyscard", "httpx"} <= {n.lower() for n in manifest["pip"]}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_units_verify_against_the_built_root() -> None:
    root = IMAGE.parent / "rootfs"
    if not root.is_dir():
        pytest.skip(f"no unpacked root file system at {root}")
    units = [
        "release-station.service",
        "release-station-firstboot.service",
        "release-station-time-sync.service",
        "ssh.service",
        "prometheus-node-exporter.service",
        "wpa_supplicant@wlan0.service",
    ]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", *units], capture_output=True, text=True
    )
    assert (result.stdout + result.stderr).strip() == ""
