"""Settings from the SD card's boot partition become the station's (run at every boot of the image).

Whoever flashes the card may put two files on its FAT boot partition, which any computer can
open:

``release-station.toml``
    the station's configuration (``config/station.toml`` documents every key), checked with
    :func:`station.config.parse_config`, the same rules the station applies.
``system.toml``
    Wi-Fi, host name, time servers, SSH keys, node_exporter, the management networks, USB network
    adapters and the serial console (``image-build/boot/system.toml.example`` documents it).

``release-station-firstboot.service`` runs :func:`run` early at every boot. A file found there
is checked; a good one is kept on the data partition (written atomically) and removed from the
FAT partition, overwritten first because ``system.toml`` holds the Wi-Fi key (kept on the data
partition only as the derived WPA key). Then the kept system settings are applied to this
boot: the root file system is a tmpfs overlay, so ``/etc`` forgets at every reboot.

Each file is judged on its own, and a hostile one cannot stop the boot: larger than
:data:`MAX_FILE_BYTES`, nested too deeply, not UTF-8, not a file: it is rejected and wiped like
any wrong file, and the other file is still taken.

Applied at every boot besides the kept settings: the firewall (:func:`station.lockdown.nftables_ruleset`,
made when ``system.toml`` is taken), USBGuard's allow-list (with the wedge reader of the kept
``release-station.toml``), USB network adapters and NTP servers from DHCP only when asked, and
the screen's console keyboard switched off (the station reads its input devices itself).

At its first boot the card gets a disk id of its own (:func:`own_disk_id`): the image's random
one would be the same on every card flashed from it, and a USB stick copied from one could
then pass for a card's partition. The mounts follow the kernel's ``root=PARTUUID=`` (the
generator ``release-station-mounts``), so the new id is used from the next boot on.

A wrong file changes nothing that was kept. Its error goes to the screen (tty1), to
``release-station-error.txt`` on the boot partition and to the journal, and the flag
``rejected`` keeps the station off for this boot so the message stays on the screen.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import grp
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from station.atomicfile import sync_directory, write_atomic
from station.config import build_table, parse_config
from station.errors import ConfigError
from station.lockdown import nftables_ruleset, node_exporter_web_config, usbguard_rules
from station.pin import parse_pin_hash
from station.pin_handoff import HANDOFF_FILE, Handoff
from station.reader_kinds import WedgeSettings

log = logging.getLogger(__name__)

STATION_FILE = "release-station.toml"
SYSTEM_FILE = "system.toml"
ERROR_FILE = "release-station-error.txt"
# Far more than any real settings file (a system.toml with a certificate is a few KiB); a file
# beyond this is not read at all.
MAX_FILE_BYTES = 64 * 1024
# What a wrong file's scrubbing overwrites at most before deleting it: a file of gigabytes would
# keep the station from booting for minutes, and it was never a settings file.
MAX_SCRUB_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Paths:
    """Where things are; tests point these into a temporary directory."""

    boot: Path = Path("/boot/firmware")
    data: Path = Path("/data")
    etc: Path = Path("/etc")
    run: Path = Path("/run/release-station-firstboot")
    console: Path = Path("/dev/tty1")
    group: str = "release-station"
    cmdline: Path = Path("/proc/cmdline")  # what the kernel booted with
    partuuids: Path = Path("/dev/disk/by-partuuid")
    sys_block: Path = Path("/sys/class/block")

    @property
    def station_config(self) -> Path:
        return self.data / "config" / "station.toml"

    @property
    def system(self) -> Path:
        return self.data / "system"


# --- system.toml ---------------------------------------------------------------------------------

_HOSTNAME = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_NTP_SERVER = re.compile(r"[a-zA-Z0-9.:-]{1,253}")
_SSH_KEY = re.compile(
    r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?"
)


@dataclass(frozen=True)
class WifiSection:
    """One WPA2 (or open) network."""

    ssid: str = ""
    psk: str = field(default="", repr=False)
    country: str = ""
    hidden: bool = False

    def __post_init__(self) -> None:
        if not self.ssid:
            if self.psk or self.hidden:
                raise ValueError("ssid: is missing (psk and hidden need the network's name)")
            return
        if len(self.ssid.encode()) > 32:
            raise ValueError("ssid: must be at most 32 bytes long")
        raw_key = len(self.psk) == 64 and all(c in "0123456789abcdefABCDEF" for c in self.psk)
        if self.psk and not raw_key and not (8 <= len(self.psk) <= 63 and self.psk.isprintable()):
            raise ValueError("psk: must be 8 to 63 printable characters, or 64 hex digits (not shown here)")
        if not re.fullmatch(r"[A-Z]{2}", self.country):
            raise ValueError(
                'country: must be a two-letter country code like "DE" (it sets the radio channels)'
            )


@dataclass(frozen=True)
class TimeSection:
    """NTP servers instead of the public pool; a DHCP server's only when asked."""

    ntp: tuple[str, ...] = ()
    dhcp_ntp: bool = False

    def __post_init__(self) -> None:
        for server in self.ntp:
            if not _NTP_SERVER.fullmatch(server):
                raise ValueError(f"ntp: {server!r} is not a host name or address")


@dataclass(frozen=True)
class SshSection:
    """Public keys for root; without any, SSH stays off."""

    authorized_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for number, key in enumerate(self.authorized_keys, 1):
            if not _SSH_KEY.fullmatch(key.strip()):
                raise ValueError(f"authorized_keys: entry {number} is not one OpenSSH public key line")


_BCRYPT = re.compile(r"\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}")
_PEM = "-----BEGIN {0}-----"


@dataclass(frozen=True)
class MonitoringSection:
    """node_exporter, served only over TLS to one user with a password (its bcrypt hash)."""

    node_exporter: bool = False
    username: str = "prometheus"
    password_bcrypt: str = ""
    tls_cert: str = ""
    tls_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", self.username):
            raise ValueError('username: must be 1 to 64 letters, digits, ".", "_" or "-"')
        if self.password_bcrypt and not _BCRYPT.fullmatch(self.password_bcrypt):
            raise ValueError("password_bcrypt: must be a bcrypt hash ($2y$...), e.g. from htpasswd -nB")
        if self.tls_cert and _PEM.format("CERTIFICATE") not in self.tls_cert:
            raise ValueError("tls_cert: must be a PEM certificate (-----BEGIN CERTIFICATE-----)")
        if self.tls_key and not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", self.tls_key):
            raise ValueError("tls_key: must be a PEM private key (value not shown)")
        if self.node_exporter:
            for name in ("password_bcrypt", "tls_cert", "tls_key"):
                if not getattr(self, name):
                    raise ValueError(
                        f"{name}: is needed with node_exporter = true (it serves only TLS with a password)"
                    )


@dataclass(frozen=True)
class NetworkSection:
    """Who may reach SSH and node_exporter, and whether USB network adapters get an address."""

    management: tuple[str, ...] = ()
    usb_adapters: bool = False

    def __post_init__(self) -> None:
        for network in self.management:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"management: {network!r} is not a network like 10.1.0.0/16") from None


@dataclass(frozen=True)
class ConsoleSection:
    """A login prompt on the serial port (GPIO 14/15) for maintenance; off by default."""

    serial: bool = False


@dataclass(frozen=True)
class TechnicianSection:
    """The technician PIN as a hash from ``release-station pin hash``, and lifting a lockout.

    Handed to the station through :mod:`station.pin_handoff` (first boot never opens its database).
    """

    pin_hash: str = field(default="", repr=False)
    unlock: bool = False

    def __post_init__(self) -> None:
        if self.pin_hash:
            try:
                parse_pin_hash(self.pin_hash)
            except ValueError as exc:
                raise ValueError(f"pin_hash: {exc}") from None

    def hand_over(self, paths: Paths) -> None:
        """Leave the file the station imports once at its next start (nothing when empty)."""
        if self.pin_hash or self.unlock:
            data = Handoff(self.pin_hash, self.unlock).to_bytes()
            path = paths.station_config.parent / HANDOFF_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, mode=0o640, gid=_gid(paths.group))


@dataclass(frozen=True)
class SystemSettings:
    """What ``system.toml`` may say; every key is optional."""

    hostname: str = ""
    wifi: WifiSection = field(default_factory=WifiSection)
    time: TimeSection = field(default_factory=TimeSection)
    ssh: SshSection = field(default_factory=SshSection)
    monitoring: MonitoringSection = field(default_factory=MonitoringSection)
    network: NetworkSection = field(default_factory=NetworkSection)
    console: ConsoleSection = field(default_factory=ConsoleSection)
    technician: TechnicianSection = field(default_factory=TechnicianSection)

    def __post_init__(self) -> None:
        if self.hostname and not _HOSTNAME.fullmatch(self.hostname):
            raise ValueError('hostname: must be letters, digits and "-", at most 63, not starting with "-"')


def parse_system(text: str, source: str = "(text)") -> SystemSettings:
    """Check ``system.toml``; the error names the file and the key, never the Wi-Fi key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigError(source, "", "not valid TOML: nested too deeply") from None
    try:
        settings: SystemSettings = build_table(SystemSettings, data, source, prefix="")
    except ConfigError as exc:
        if exc.key in ("wifi.psk", "monitoring.tls_key"):  # the generic message would quote the value
            raise ConfigError(source, exc.key, "must be a string in quotes (value not shown)") from None
        raise
    if (
        settings.ssh.authorized_keys or settings.monitoring.node_exporter
    ) and not settings.network.management:
        raise ConfigError(
            source, "network.management", "name the networks SSH and node_exporter may be reached from"
        )
    return settings


# Every file system_files may keep: what a new system.toml no longer says is deleted.
KEPT_FILES = (
    "hostname",
    "timesyncd.conf",
    "wpa_supplicant-wlan0.conf",
    "ssh/authorized_keys",
    "node-exporter.enabled",
    "node-exporter/web.yml",
    "node-exporter/tls.crt",
    "node-exporter/tls.key",
    "nftables.conf",
    "usb-network.enabled",
    "dhcp-ntp.enabled",
    "serial-console.enabled",
)


def system_files(settings: SystemSettings) -> dict[str, tuple[bytes, int]]:
    """The files (relative to the data partition's ``system``) that carry ``settings``, with modes."""
    files: dict[str, tuple[bytes, int]] = {}
    if settings.hostname:
        files["hostname"] = (settings.hostname.encode() + b"\n", 0o644)
    if settings.time.ntp:
        files["timesyncd.conf"] = (f"[Time]\nNTP={' '.join(settings.time.ntp)}\n".encode(), 0o644)
    if settings.wifi.ssid:
        files["wpa_supplicant-wlan0.conf"] = (_wpa_config(settings.wifi).encode(), 0o600)
    if settings.ssh.authorized_keys:
        keys = "".join(key.strip() + "\n" for key in settings.ssh.authorized_keys)
        files["ssh/authorized_keys"] = (keys.encode(), 0o600)
    monitoring = settings.monitoring
    if monitoring.node_exporter:
        files["node-exporter.enabled"] = (b"", 0o644)
        web = node_exporter_web_config(monitoring.username, monitoring.password_bcrypt)
        files["node-exporter/web.yml"] = (web.encode(), 0o600)
        files["node-exporter/tls.crt"] = (monitoring.tls_cert.strip().encode() + b"\n", 0o600)
        files["node-exporter/tls.key"] = (monitoring.tls_key.strip().encode() + b"\n", 0o600)
    ruleset = nftables_ruleset(
        [str(ipaddress.ip_network(n, strict=False)) for n in settings.network.management],
        ssh=bool(settings.ssh.authorized_keys),
        node_exporter=monitoring.node_exporter,
    )
    files["nftables.conf"] = (ruleset.encode(), 0o644)
    for flag, on in (
        ("usb-network.enabled", settings.network.usb_adapters),
        ("dhcp-ntp.enabled", settings.time.dhcp_ntp),
        ("serial-console.enabled", settings.console.serial),
    ):
        if on:
            files[flag] = (b"", 0o644)
    return files


def _wpa_config(wifi: WifiSection) -> str:
    lines = [
        "ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev",
        "update_config=0",
        f"country={wifi.country}",
        "network={",
        f"\tssid={wifi.ssid.encode().hex()}",  # hex: any byte in a name is safe
    ]
    if not wifi.psk:
        lines.append("\tkey_mgmt=NONE")
    elif len(wifi.psk) == 64:
        lines.append(f"\tpsk={wifi.psk.lower()}")
    else:
        # The derived key, as wpa_passphrase computes it: the passphrase itself is not kept.
        key = hashlib.pbkdf2_hmac("sha1", wifi.psk.encode(), wifi.ssid.encode(), 4096, 32)
        lines.append(f"\tpsk={key.hex()}")
    if wifi.hidden:
        lines.append("\tscan_ssid=1")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- one boot ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What this boot did with each file: applied, rejected, kept (no new file) or missing."""

    station: str
    system: str
    errors: tuple[str, ...] = ()

    def line(self) -> str:
        return f"FIRSTBOOT station={self.station} system={self.system}"


def run(paths: Paths, *, set_hostname: Callable[[str], None] | None = None) -> Outcome:
    """Take new files from the boot partition, then apply the kept system settings."""
    errors: list[str] = []
    station = _take(paths, STATION_FILE, _import_station, errors)
    system = _take(paths, SYSTEM_FILE, _import_system, errors)
    if station == "kept" and not paths.station_config.exists():
        station = "missing"
    if system == "kept" and not any(paths.system.glob("*")):
        system = "none"
    try:
        _apply_system(paths, set_hostname)
    except (OSError, subprocess.CalledProcessError) as exc:
        # A read-only /etc (booted with overlayroot=disabled) must not stop the boot.
        log.error("cannot apply the system settings to this boot: %s", exc)
    try:
        own_disk_id(paths)
    except OSError as exc:
        log.error("cannot give the card its own disk id: %s", exc)
    error_file = paths.boot / ERROR_FILE
    if errors:
        report = _report(errors)
        _write_boot_file(error_file, report)
        paths.run.mkdir(parents=True, exist_ok=True)
        (paths.run / "rejected").touch()
        _show(paths, report)
    else:
        with contextlib.suppress(FileNotFoundError):
            error_file.unlink()
        if station == "missing":
            _show(paths, _MISSING)
    return Outcome(station, system, tuple(errors))


def _take(paths: Paths, name: str, accept: Callable[[Paths, str, str], None], errors: list[str]) -> str:
    path = paths.boot / name
    if not path.exists():
        return "kept"
    try:
        accept(paths, _read_settings_file(path, name), name)
    except ConfigError as exc:
        log.error("rejected %s: %s", name, exc)
        errors.append(str(exc))
        outcome = "rejected"
    else:
        log.info("applied %s", name)
        outcome = "applied"
    _scrub(path)
    return outcome


def _read_settings_file(path: Path, name: str) -> str:
    """The file's text, or a ConfigError for anything a settings file cannot be."""
    if path.is_symlink() or not path.is_file():
        raise ConfigError(name, "", "is not a plain file")
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(name, "", f"cannot read the file: {exc.strerror}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(name, "", f"is larger than {MAX_FILE_BYTES} bytes: not a settings file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(name, "", f"is not UTF-8 text (byte {exc.start})") from None


def _import_station(paths: Paths, text: str, source: str) -> None:
    try:
        parse_config(text, source)
    except RecursionError:
        raise ConfigError(source, "", "not valid TOML: nested too deeply") from None
    paths.station_config.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(paths.station_config, text.encode(), mode=0o640, gid=_gid(paths.group))


def _import_system(paths: Paths, text: str, source: str) -> None:
    settings = parse_system(text, source)
    files = system_files(settings)
    settings.technician.hand_over(paths)
    for directory in ("ssh", "node-exporter"):
        (paths.system / directory).mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, (data, mode) in files.items():
        write_atomic(paths.system / name, data, mode=mode)
    # The new file is the whole truth: what it no longer says is switched off.
    for name in KEPT_FILES:
        if name not in files:
            with contextlib.suppress(FileNotFoundError):
                (paths.system / name).unlink()


def _apply_system(paths: Paths, set_hostname: Callable[[str], None] | None) -> None:
    host_key = paths.system / "ssh" / "ssh_host_ed25519_key"
    if (paths.system / "ssh" / "authorized_keys").exists() and not host_key.exists():
        # Made on the station itself, once: never baked into the image.
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(host_key)], check=True
        )
    hostname = paths.system / "hostname"
    if hostname.exists():
        name = hostname.read_text().strip()
        (paths.etc / "hostname").write_text(name + "\n")
        if set_hostname is not None:
            set_hostname(name)
    timesync = paths.system / "timesyncd.conf"
    dropin = paths.etc / "systemd" / "timesyncd.conf.d" / "release-station.conf"
    if timesync.exists():
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_bytes(timesync.read_bytes())
    else:
        with contextlib.suppress(FileNotFoundError):
            dropin.unlink()
    _apply_lockdown(paths)


# The networkd files of the image (image-build/overlay/etc/systemd/network and /usr/lib/...).
USB_NETWORK_UNMANAGED = "10-release-station-usb.network"
NETWORK_FILES = ("20-wired.network", "25-wireless.network")


def _apply_lockdown(paths: Paths) -> None:
    """The firewall, the USB allow-list and what the network may bring: only what was opened."""
    ruleset = paths.system / "nftables.conf"
    if ruleset.exists():  # else the image's own: nothing comes in
        (paths.etc / "nftables.conf").write_bytes(ruleset.read_bytes())
    usb_network = (paths.system / "usb-network.enabled").exists()
    usbguard = paths.etc / "usbguard" / "rules.conf"
    usbguard.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(
        usbguard,
        usbguard_rules(wedge_usb_id=_wedge_usb_id(paths), usb_network=usb_network).encode(),
        mode=0o600,
    )
    network = paths.etc / "systemd" / "network"
    network.mkdir(parents=True, exist_ok=True)
    mask = network / USB_NETWORK_UNMANAGED
    with contextlib.suppress(FileNotFoundError):
        mask.unlink()
    if usb_network:  # masks the image's file that leaves USB adapters unconfigured
        mask.symlink_to("/dev/null")
    for name in NETWORK_FILES:
        dropin = network / f"{name}.d" / "release-station-ntp.conf"
        if (paths.system / "dhcp-ntp.enabled").exists():
            dropin.parent.mkdir(parents=True, exist_ok=True)
            dropin.write_text("[DHCPv4]\nUseNTP=yes\n\n[DHCPv6]\nUseNTP=yes\n")
        else:
            with contextlib.suppress(FileNotFoundError):
                dropin.unlink()
    _console_keyboard_off(paths.console)


def _wedge_usb_id(paths: Paths) -> str:
    try:
        return (
            parse_config(paths.station_config.read_text(), str(paths.station_config))
            .reader.of(WedgeSettings)
            .wedge_usb_id
        )
    except (OSError, UnicodeDecodeError, ConfigError, RecursionError):
        return ""


_KDSKBMODE = 0x4B45  # linux/kd.h
_K_OFF = 0x04


def _console_keyboard_off(console: Path) -> None:
    """A keyboard on the screen's console types nothing (Alt+F2 switches nowhere either).

    SDL's KMSDRM driver does not need it: the station reads its touchscreen and wedge reader
    through evdev. The kernel still sees Ctrl-Alt-Del and hands it to systemd, which ignores it.
    """
    try:
        fd = os.open(console, os.O_RDWR | os.O_NOCTTY)
    except OSError as exc:
        log.warning("cannot switch the console keyboard off on %s: %s", console, exc)
        return
    try:
        fcntl.ioctl(fd, _KDSKBMODE, _K_OFF)
    except OSError as exc:
        log.warning("cannot switch the console keyboard off on %s: %s", console, exc.strerror)
    finally:
        os.close(fd)


_ROOT_PARTUUID = re.compile(r"(?<!\S)root=PARTUUID=([0-9a-f]{8})-02(?!\S)")
_MBR_DISK_ID = 440  # offset of the MBR's 4-byte disk signature (little-endian)


def own_disk_id(paths: Paths) -> str | None:
    """Once per card: a new random MBR disk id, and ``cmdline.txt``'s ``root=`` to match.

    Returns the new id, or None when there is nothing to do (done before, not booted by
    PARTUUID, or ``cmdline.txt`` names another root than the running one). The two writes
    follow each other within milliseconds, the disk's first: power lost between them leaves a
    card that must be flashed again, once, at its first boot.
    """
    marker = paths.data / "disk-id"
    cmdline_txt = paths.boot / "cmdline.txt"
    if marker.exists() or not cmdline_txt.exists():
        return None
    booted = _ROOT_PARTUUID.search(paths.cmdline.read_text())
    text = cmdline_txt.read_text()
    written = _ROOT_PARTUUID.search(text)
    if not booted or not written or booted.group(1) != written.group(1):
        log.warning("not booted by the PARTUUID of cmdline.txt: the disk id stays as it is")
        return None
    old = booted.group(1)
    partition = (paths.partuuids / f"{old}-02").resolve().name  # vda2, mmcblk0p2
    disk = paths.partuuids.parent.parent / (paths.sys_block / partition).resolve().parent.name
    new = old
    while new in (old, "00000000"):
        new = secrets.token_hex(4)
    with disk.open("r+b") as device:
        device.seek(_MBR_DISK_ID)
        if device.read(4) != bytes.fromhex(old)[::-1]:
            log.warning("%s does not carry the disk id %s: left as it is", disk, old)
            return None
        device.seek(_MBR_DISK_ID)
        device.write(bytes.fromhex(new)[::-1])
        device.flush()
        os.fsync(device.fileno())
    write_atomic(cmdline_txt, (text[: written.start(1)] + new + text[written.end(1) :]).encode(), mode=0o644)
    write_atomic(marker, new.encode() + b"\n", mode=0o644)
    log.info("the card's disk id is now %s (was the image's %s), from the next boot on", new, old)
    return new


def _scrub(path: Path) -> None:
    """Overwrite, then delete: a deleted FAT file's clusters would still hold a secret."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        sync_directory(path.parent)
        return
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
        if size <= MAX_SCRUB_BYTES:
            with path.open("r+b") as file:
                file.write(b"\0" * size)
                file.flush()
                os.fsync(file.fileno())
        path.unlink()
        sync_directory(path.parent)


def _write_boot_file(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="\r\n") as file:  # readable in Windows' Notepad
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def _report(errors: Sequence[str]) -> str:
    lines = ["The release station did not take these settings:", ""]
    lines += [f"  {error}" for error in errors]
    lines += [
        "",
        "Nothing was changed: the station keeps its last good settings. The rejected file was",
        "deleted from the boot partition. Fix it and copy it there again, then restart the station.",
    ]
    return "\n".join(lines) + "\n"


_MISSING = (
    "This release station has no configuration yet.\n\n"
    f"Copy {STATION_FILE} (see {STATION_FILE}.example) onto the card's boot partition\n"
    f"(and {SYSTEM_FILE} for Wi-Fi), then restart the station.\n"
)


def _show(paths: Paths, text: str) -> None:
    """On the screen's text console: clear it, then the message (the station is not drawing)."""
    try:
        with paths.console.open("w", encoding="utf-8") as console:
            console.write("\033[2J\033[H\n" + text.replace("\n", "\r\n"))
    except OSError as exc:
        log.warning("cannot show the message on %s: %s", paths.console, exc)


def _gid(group: str) -> int | None:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m station.firstboot", description=__doc__.split("\n")[0])
    defaults = Paths()
    for name in ("boot", "data", "etc", "run", "console"):
        parser.add_argument(f"--{name}", type=Path, default=getattr(defaults, name), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    paths = dataclasses.replace(
        defaults, boot=args.boot, data=args.data, etc=args.etc, run=args.run, console=args.console
    )
    outcome = run(paths, set_hostname=socket.sethostname if paths.etc == Path("/etc") else None)
    print(outcome.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
