"""Settings from the SD card's boot partition become the station's (run at every boot of the image).

Whoever flashes the card may put two files on its FAT boot partition, which any computer can
open:

``release-station.toml``
    the station's configuration (``config/station.toml`` documents every key), checked with
    :func:`station.config.parse_config`, the same rules the station applies.
``system.toml``
    Wi-Fi, host name, time servers, SSH keys and node_exporter (``image-build/boot/
    system.toml.example`` documents it).

``release-station-firstboot.service`` runs :func:`run` early at every boot. A file found there
is checked; a good one is kept on the data partition (written atomically) and removed from the
FAT partition, overwritten first because ``system.toml`` holds the Wi-Fi key (kept on the data
partition only as the derived WPA key). Then the kept system settings are applied to this
boot: the root file system is a tmpfs overlay, so ``/etc`` forgets at every reboot.

A wrong file changes nothing that was kept. Its error goes to the screen (tty1), to
``release-station-error.txt`` on the boot partition and to the journal, and the flag
``rejected`` keeps the station off for this boot so the message stays on the screen.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import grp
import hashlib
import logging
import os
import re
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
from station.pin import parse_pin_hash
from station.pin_handoff import HANDOFF_FILE, Handoff

log = logging.getLogger(__name__)

STATION_FILE = "release-station.toml"
SYSTEM_FILE = "system.toml"
ERROR_FILE = "release-station-error.txt"


@dataclass(frozen=True)
class Paths:
    """Where things are; tests point these into a temporary directory."""

    boot: Path = Path("/boot/firmware")
    data: Path = Path("/data")
    etc: Path = Path("/etc")
    run: Path = Path("/run/release-station-firstboot")
    console: Path = Path("/dev/tty1")
    group: str = "release-station"

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
    """NTP servers instead of the public pool."""

    ntp: tuple[str, ...] = ()

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


@dataclass(frozen=True)
class MonitoringSection:
    node_exporter: bool = False


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
    try:
        settings: SystemSettings = build_table(SystemSettings, data, source, prefix="")
    except ConfigError as exc:
        if exc.key == "wifi.psk":  # the generic message would quote the value
            raise ConfigError(source, exc.key, "must be a string in quotes (value not shown)") from None
        raise
    return settings


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
    if settings.monitoring.node_exporter:
        files["node-exporter.enabled"] = (b"", 0o644)
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
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(name, "", f"cannot read the file: {exc}") from exc
        accept(paths, text, name)
    except ConfigError as exc:
        log.error("rejected %s: %s", name, exc)
        errors.append(str(exc))
        outcome = "rejected"
    else:
        log.info("applied %s", name)
        outcome = "applied"
    _scrub(path)
    return outcome


def _import_station(paths: Paths, text: str, source: str) -> None:
    parse_config(text, source)
    paths.station_config.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(paths.station_config, text.encode(), mode=0o640, gid=_gid(paths.group))


def _import_system(paths: Paths, text: str, source: str) -> None:
    settings = parse_system(text, source)
    files = system_files(settings)
    settings.technician.hand_over(paths)
    (paths.system / "ssh").mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, (data, mode) in files.items():
        write_atomic(paths.system / name, data, mode=mode)
    # The new file is the whole truth: what it no longer says is switched off.
    for name in (
        "hostname",
        "timesyncd.conf",
        "wpa_supplicant-wlan0.conf",
        "ssh/authorized_keys",
        "node-exporter.enabled",
    ):
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


def _scrub(path: Path) -> None:
    """Overwrite, then delete: a deleted FAT file's clusters would still hold a secret."""
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
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
