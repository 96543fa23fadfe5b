"""The image's static pieces, no build needed: shell scripts, systemd units, boot files, pins."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from station.config import parse_config
from station.firstboot import parse_system
from tests.image_scripts import load_image_script

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "image-build"
CONFIG = ROOT / "config"
UNITS = sorted((CONFIG / "systemd").glob("*.service"))


def _unit(name: str) -> list[tuple[str, str]]:
    """``(key, value)`` pairs of a unit file in order (systemd allows a key more than once)."""
    pairs = []
    for line in (CONFIG / "systemd" / name).read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


def _values(name: str, key: str) -> list[str]:
    return [v for k, v in _unit(name) if k == key]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck")
def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [
        IMAGE / "build.sh",
        *sorted(IMAGE.glob("ci.sh")),
        *sorted((IMAGE / "hooks").glob("*.sh")),
        *sorted((IMAGE / "profiles").glob("*.conf")),
        *sorted((IMAGE / "smoke").glob("*.sh")),
        IMAGE / "overlay" / "usr" / "local" / "bin" / "release-station",
        IMAGE / "overlay" / "usr" / "local" / "sbin" / "release-station-update",
    ]
    result = subprocess.run(
        ["shellcheck", "--shell=bash", *map(str, scripts)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def _verify_root(tmp_path: Path) -> Path:
    """A root with the host's systemd units plus ours, and stand-ins for the commands they run."""
    root = tmp_path / "root"
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for unit in UNITS:
        shutil.copy(unit, root / "usr/lib/systemd/system")
    for unit in UNITS:
        for key, value in _unit(unit.name):
            if key.startswith("Exec"):
                command = root / value.lstrip("-@!+:").split()[0].lstrip("/")
                command.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy("/bin/true", command)
    return root


def _verify(root: Path, *units: str) -> str:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", *units],
        capture_output=True,
        text=True,
    )
    return (result.stdout + result.stderr).strip()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_units_verify(tmp_path: Path) -> None:
    root = _verify_root(tmp_path)
    assert _verify(root, *(unit.name for unit in UNITS)) == ""
    # The check itself works: a wrong unit does not pass.
    broken = root / "usr/lib/systemd/system/broken.service"
    broken.write_text("[Service]\nType=notifyy\nExecStart=/opt/release-station/bin/python\n")
    assert "notifyy" in _verify(root, "broken.service")


def test_station_unit_is_hardened_and_supervised() -> None:
    unit = "release-station.service"
    one = {key: value for key, value in _unit(unit)}
    assert one["Type"] == "notify"
    assert one["Restart"] == "always"
    assert int(one["WatchdogSec"]) > 0
    assert int(one["StartLimitBurst"]) > 0 and int(one["StartLimitIntervalSec"]) > 0
    assert int(one["TimeoutStopSec"]) <= 5
    assert one["User"] == "release-station"
    assert set(one["SupplementaryGroups"].split()) >= {"video", "render", "input", "gpio"}
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "release-station",
        "RuntimeDirectory": "release-station",
    }.items():
        assert one[key] == value, key
    assert "PrivateDevices" not in one  # it would hide /dev/dri and /dev/input
    assert "SDL_VIDEODRIVER=kmsdrm" in _values(unit, "Environment")
    assert {"char-drm rw", "char-input rw"} <= set(_values(unit, "DeviceAllow"))
    assert "release-station-time-sync.service" in one["After"]


def test_system_settings_cover_watchdog_journal_and_nfc_modules() -> None:
    manager = (CONFIG / "system.conf.d" / "release-station-watchdog.conf").read_text()
    assert re.search(r"(?m)^RuntimeWatchdogSec=\d+", manager)
    journal = (CONFIG / "journald.conf.d" / "release-station.conf").read_text()
    assert re.search(r"(?m)^Storage=volatile$", journal) and re.search(r"(?m)^RuntimeMaxUse=\d+M$", journal)
    blacklist = (CONFIG / "modprobe.d" / "release-station-nfc.conf").read_text()
    for module in ("pn533", "pn533_usb", "nfc"):
        assert re.search(rf"(?m)^blacklist {module}$", blacklist)
    users = (CONFIG / "sysusers.d" / "release-station.conf").read_text()
    assert re.search(r"(?m)^u release-station ", users)
    assert {g for g in re.findall(r"(?m)^m release-station (\w+)$", users)} == {
        "video",
        "render",
        "input",
        "gpio",
    }


def test_boot_files() -> None:
    config = (IMAGE / "boot" / "config.txt").read_text()
    assert re.search(r"(?m)^dtoverlay=vc4-kms-v3d$", config)
    assert "rotate" in config and "[ui] rotation" in config
    cmdline = (IMAGE / "boot" / "cmdline.txt").read_text()
    assert cmdline.count("\n") == 1 and cmdline.endswith("\n")  # the firmware reads one line
    words = cmdline.split()
    assert {"ro", "rootwait", "consoleblank=0"} <= set(words)
    assert "root=PARTUUID=@ROOT_PARTUUID@" in words
    fstab = (IMAGE / "overlay" / "etc" / "fstab").read_text()
    assert re.search(r"(?m)^LABEL=data\s+/data\s+ext4", fstab)
    assert re.search(r"(?m)^/data/state\s+/var/lib/release-station\s+none\s+bind", fstab)
    assert 'overlayroot="tmpfs' in (IMAGE / "overlay" / "etc" / "overlayroot.local.conf").read_text()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_requirements_pin_every_runtime_dependency_with_hashes() -> None:
    lines = (IMAGE / "requirements-image.txt").read_text().replace("\\\n", " ").splitlines()
    pins = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            requirement, *hashes = line.split()
            name, _, version = requirement.partition("==")
            assert version and hashes and all(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", h) for h in hashes)
            pins[_normalise(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dependency in project["dependencies"]:
        name = re.split(r"[<>=!~;\[ ]", dependency)[0]
        assert _normalise(name) in pins, f"{name} is not pinned in requirements-image.txt"


def test_package_list_keeps_the_test_only_pieces_out() -> None:
    packages = re.sub(r"#.*", "", (IMAGE / "packages.txt").read_text()).split()
    assert {"pcscd", "python3", "libgles2", "overlayroot", "systemd-timesyncd"} <= set(packages)
    assert not {"vsmartcard-vpcd", "xvfb", "chromium"} & set(packages)


def test_allow_list_admits_a_new_kernel_abi_but_no_other_package() -> None:
    allowlist = load_image_script("allowlist")
    entries = allowlist.read_allowlist()
    # What Debian publishes within bookworm as time goes by: a new kernel ABI, a newer LLVM.
    moved = {"linux-image-6.1.0-57-arm64", "linux-image-6.1.0-112-arm64", "libllvm19"}
    assert allowlist.not_allowed(moved, entries) == set()
    # What a person must still review: another kernel flavour, a package nobody listed.
    new = {"linux-image-rt-arm64", "linux-image-6.1.0-57-rt-arm64", "libllvm-dev", "telnetd"}
    assert allowlist.not_allowed(new, entries) == new


def test_allow_list_names_no_version_that_moves_with_the_calendar() -> None:
    entries = load_image_script("allowlist").read_allowlist()
    moving = [e for e in entries if re.fullmatch(r"linux-image-[0-9].*|libllvm[0-9]+", e)]
    assert moving == [], "write these with {version} (image-build/allowlist.py)"


def test_allow_list_check_reads_a_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(
        "# release-station-0.1.0: installed packages\n"
        "archive bookworm 2026-12-05T09:12:33Z\n"
        "deb bash 5.2.15-2+b7 arm64\n"
        "deb linux-image-6.1.0-57-arm64 6.1.158-1 arm64\n"
        "deb telnetd 0.17+2.4-2 arm64\n"
        "pip httpx 0.28.1\n"
    )
    script = IMAGE / "allowlist.py"
    result = subprocess.run([sys.executable, script, manifest], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (1, "not in manifest-allowlist.txt: telnetd\n")


@pytest.fixture
def run_qemu() -> ModuleType:
    return load_image_script("run_qemu")


def test_boot_test_first_boot_files_pass_the_station_rules(run_qemu: ModuleType) -> None:
    config = parse_config(run_qemu.station_config(40123, "virt"))
    assert config.cloud.api_url == "http://127.0.0.1:40123" and config.reader.kind == "simulated"
    settings = parse_system(run_qemu.system_config())
    assert settings.monitoring.node_exporter and settings.ssh.authorized_keys and settings.wifi.ssid
    assert settings.time.ntp == ("127.0.0.1",)  # the guest's NTP bridge to the host's clock


def test_boot_test_ntp_answer_is_what_an_sntp_client_accepts(run_qemu: ModuleType) -> None:
    # An SNTPv4 client request as systemd-timesyncd sends it: mode 3, poll 2^5, transmit time set.
    transmit = struct.pack("!II", 3_990_000_000, 123_456)
    request = bytes([(4 << 3) | 3, 0, 5, 0]) + bytes(36) + transmit
    now = 1_795_000_000.25
    answer = run_qemu.ntp_answer(request, now)
    assert len(answer) == 48
    leap, version, mode = answer[0] >> 6, (answer[0] >> 3) & 7, answer[0] & 7
    assert (leap, version, mode) == (0, 4, 4)  # timesyncd drops leap 3 ("not synchronised")
    assert 1 <= answer[1] < 16  # stratum 0 is a kiss-of-death, 16 unsynchronised
    root_delay, root_dispersion = struct.unpack("!II", answer[4:12])
    assert root_delay / 2**16 / 2 + root_dispersion / 2**16 < 5  # timesyncd's RootDistanceMaxSec
    assert answer[24:32] == transmit  # origin: the client matches its own transmit time
    for field in (answer[32:40], answer[40:48]):
        seconds, fraction = struct.unpack("!II", field)
        assert seconds - 2_208_988_800 + fraction / 2**32 == pytest.approx(now, abs=1e-6)
    with pytest.raises(ValueError):
        run_qemu.ntp_answer(answer, now)  # a server's packet is not a request
