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
from station.pin import parse_pin_hash
from station.reader_kinds import WedgeSettings
from tests.support.image_scripts import load_image_script

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
        *sorted((IMAGE / "rauc").glob("*.sh")),
        *sorted((IMAGE / "profiles").glob("*.conf")),
        *sorted((IMAGE / "smoke").glob("*.sh")),
        IMAGE / "overlay" / "usr" / "local" / "bin" / "release-station",
        IMAGE / "overlay" / "usr" / "lib" / "systemd" / "system-generators" / "release-station-mounts",
        IMAGE / "overlay" / "usr" / "lib" / "release-station" / "card-partition",
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
    # Up on the saved clock, not after NTP's bounded wait (which it still pulls in), nor after
    # the network: it shows "offline" until both are there.
    assert "time-set.target" in one["After"] and "time-sync" not in one["After"]
    assert "network" not in one["After"]
    assert "release-station-time-sync.service" in one["Wants"]


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
    assert re.search(r"(?m)^PARTUUID=@DISK_ID@-02\s+/\s+ext4", fstab)
    assert not re.search(r"(?m)^\s*LABEL=", fstab)  # a USB stick can copy a label
    # The card's own partitions by the PARTUUIDs of the disk the kernel booted from.
    generator = IMAGE / "overlay/usr/lib/systemd/system-generators/release-station-mounts"
    assert generator.stat().st_mode & 0o111
    mounts = generator.read_text()
    assert re.search(r"(?m)^\$\(device 04\)\s+/data\s+ext4", mounts)
    assert re.search(r"(?m)^\$\(device 01\)\s+/boot/firmware\s+vfat", mounts)
    assert "/dev/disk/by-partuuid/$disk-$1" in mounts
    assert 's/@DISK_ID@/${partuuid%-02}/g" "$rootfs/etc/fstab"' in (IMAGE / "build.sh").read_text()
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
    assert {
        "pcscd",
        "python3",
        "libgles2",
        "overlayroot",
        "systemd-timesyncd",
        "nftables",
        "usbguard",
    } <= set(packages)
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


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_boot_test_first_boot_files_pass_the_station_rules(run_qemu: ModuleType, tmp_path: Path) -> None:
    config = parse_config(run_qemu.station_config(40123, "virt"))
    assert config.cloud.api_url == "http://127.0.0.1:40123" and config.reader.kind == "wedge"
    # virt's wedge reader is QEMU's USB keyboard, by its path; its USB id lets it past USBGuard.
    wedge = config.reader.of(WedgeSettings)
    assert (wedge.wedge_device, wedge.wedge_usb_id) == (run_qemu.WEDGE_DEVICE, run_qemu.QEMU_HID_ID)
    assert parse_config(run_qemu.station_config(40123, "raspi3b")).reader.kind == "simulated"
    cert, key = run_qemu.tls_certificate(tmp_path)
    settings = parse_system(run_qemu.system_config(cert, key, "virt"))
    assert settings.monitoring.node_exporter and settings.ssh.authorized_keys and settings.wifi.ssid
    assert (
        settings.monitoring.password_bcrypt == run_qemu.METRICS_BCRYPT and settings.monitoring.tls_key == key
    )
    assert settings.network.management == ("10.0.2.0/24",) and not settings.network.usb_adapters
    assert settings.time.ntp == ("127.0.0.1",)  # the guest's NTP bridge to the host's clock
    # The card has a technician PIN, so the station goes on to its pairing and idle screens.
    assert parse_pin_hash(settings.technician.pin_hash).matches(run_qemu.TECHNICIAN_PIN)
    # raspi3b's only network card is QEMU's usb-net: its system.toml allows USB adapters.
    assert parse_system(run_qemu.system_config(cert, key, "raspi3b")).network.usb_adapters


@pytest.mark.skipif(
    shutil.which("mkfs.vfat") is None or shutil.which("mcopy") is None, reason="needs dosfstools, mtools"
)
def test_boot_test_usb_stick_looks_like_the_card_and_its_check_sees_a_change(
    run_qemu: ModuleType, tmp_path: Path
) -> None:
    stick = run_qemu.usb_stick(tmp_path)
    table = run_qemu.partitions(stick)
    assert [p.start for p in table] == [1 << 20, 36 << 20]
    labels = subprocess.run(
        ["blkid", "-o", "value", "-s", "LABEL", "--probe", "--offset", str(36 << 20), str(stick)],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert labels == ["data"]
    assert (
        "BOOTFS"
        in subprocess.run(
            ["mlabel", "-s", "-i", f"{stick}@@{1 << 20}", "::"], capture_output=True, text=True
        ).stdout
    )
    assert run_qemu.stick_problems(stick) == []
    subprocess.run(["mdel", "-i", f"{stick}@@{1 << 20}", "::/system.toml"], check=True)
    assert run_qemu.stick_problems(stick) != []  # a station that took the file would be noticed


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


def test_boot_test_retries_only_a_guest_that_never_reached_the_emulator_over_a_failing_slirp(
    run_qemu: ModuleType,
) -> None:
    slirp = "qemu-system-aarch64: Slirp: Failed to send packet, ret: -1\n"
    never: dict[str, int] = {"pair": 0, "poll": 0, "api": 0}
    assert run_qemu.network_lost(f"[ 12.0] usb 1-1: new device\n{slirp}", never)
    # The station reached the emulator: whatever failed afterwards is the station's, no retry.
    assert not run_qemu.network_lost(slirp, {**never, "pair": 1})
    # No slirp failure: a station that never asked is a station failure.
    assert not run_qemu.network_lost("PairStart failed: offline\n", never)


def test_boot_test_clock_check_counts_from_the_network_not_from_the_boot(run_qemu: ModuleType) -> None:
    assert run_qemu.clock_problems({"clock_gate": "synced", "clock_wait_s": "12.0"}) == []
    # A loaded host brought raspi3b's USB network up after the wait's 30 s: NTP answered 2 s later.
    late = {"clock_gate": "timed_out", "clock_wait_s": "31.1", "clock_after_network_s": "2.0"}
    assert run_qemu.clock_problems(late) == []
    never = {"clock_gate": "timed_out", "clock_wait_s": "31.1", "clock_after_network_s": "none"}
    assert "no NTP answer" in run_qemu.clock_problems(never)[0]
    assert run_qemu.clock_problems({**late, "clock_after_network_s": "40.5"})  # a network, no answer
    assert run_qemu.clock_problems({})  # a boot that never got there


def test_boot_test_puts_the_idle_station_next_to_the_10_hz_loop_and_judges_it(run_qemu: ModuleType) -> None:
    # Measured on the booted virt image (a loaded host), before the 0.5 s polls went.
    before = {
        "idle_window_s": "60",
        "idle_cpu_station_pct": "7.67",
        "idle_cpu_journald_pct": "0.00",
        "idle_cpu_sleep_loop_pct": "1.52",
        "idle_guest_busy_pct": "14.7",
        "idle_wakeups_station_hz": "13.18",
        "idle_wakeups_sleep_loop_hz": "9.73",
    }
    figures = dict(f.split("=") for f in run_qemu.idle_cpu_figures(before).split())
    assert figures["idle_cpu_station_vs_sleep_loop"] == "5.0"
    assert figures["idle_cpu_station_vs_journald"] == "none"  # no figure from a reference of 0
    assert figures["idle_wakeups_station_hz"] == "13.18" and figures["idle_guest_busy_pct"] == "14.7"
    assert run_qemu.idle_cpu_figures({}).count("=none") == 12  # a boot that never got there
    assert figures["idle_judged"] == "yes"
    assert len(run_qemu.idle_problems(before)) == 2
    # After: 0.82 % beside the loop's 0.45 %, 0.83 wake-ups a second.
    after = {**before, "idle_cpu_station_pct": "0.82", "idle_cpu_sleep_loop_pct": "0.45"}
    after["idle_wakeups_station_hz"] = "0.83"
    assert run_qemu.idle_problems(after) == []
    assert "woke 1.2 times" in run_qemu.idle_problems({**after, "idle_wakeups_station_hz": "1.2"})[0]
    assert run_qemu.idle_problems({}) == ["no idle CPU figures (smoke/idle-cpu.py did not run)"]
    # A starved guest (load average 13): frames for "offline" and back, the loop late. Not judged.
    starved = {**before, "idle_cpu_station_pct": "18.92", "idle_cpu_sleep_loop_pct": "1.30"}
    starved.update(idle_wakeups_station_hz="1.57", idle_wakeups_sleep_loop_hz="6.30")
    assert run_qemu.idle_problems(starved) == []
    assert "idle_judged=no" in run_qemu.idle_cpu_figures(starved)


def test_boot_test_screen_compare_tells_a_black_or_other_frame_from_the_rendered_one(
    run_qemu: ModuleType, tmp_path: Path
) -> None:
    size = (320, 180)
    views = run_qemu.expected_frames(size, tmp_path)
    assert {v for v in run_qemu.GUEST_FRAMES.values() if v} <= set(views)
    expected = views["ready"]
    (tmp_path / "frame.ppm").write_bytes(b"P6\n320 180\n255\n" + expected)
    assert run_qemu.read_ppm(tmp_path / "frame.ppm") == (size, expected)
    assert run_qemu.differing_pct(expected, expected, size) == 0.0
    black = bytes(len(expected))
    assert run_qemu.is_black(black) and not run_qemu.is_black(expected)
    white = b"\xff" * len(expected)
    assert run_qemu.differing_pct(white, expected, size) > run_qemu.SCREEN_DIFF_LIMIT_PCT


def test_boot_test_frame_grab_asks_the_kernel_with_its_drm_ioctl_numbers() -> None:
    grab = load_image_script("smoke/frame-grab")
    # From the kernel's include/uapi/drm/drm.h as libdrm spells them (64-bit).
    assert (grab.GETRESOURCES, grab.GETCRTC, grab.GETFB, grab.MAP) == (
        0xC04064A0,
        0xC06864A1,
        0xC01C64AD,
        0xC01064B3,
    )


def test_boot_test_gestures_find_the_buttons_the_station_draws(run_qemu: ModuleType) -> None:
    keypad = run_qemu.button_centres("pin-technician")
    assert set(run_qemu.TECHNICIAN_PIN) | {"OK"} <= set(keypad)
    assert "Close" in run_qemu.button_centres("tech-menu")
    width, height = run_qemu.SCREEN
    assert all(0 <= x < width and 0 <= y < height for x, y in keypad.values())


def _overlay(path: str) -> str:
    return (IMAGE / "overlay" / path).read_text()


def test_a_plugged_in_keyboard_gets_no_sysrq_no_ctrl_alt_del_and_no_login() -> None:
    assert re.search(
        r"(?m)^kernel\.sysrq = 0$", (CONFIG / "sysctl.d" / "99-release-station.conf").read_text()
    )
    assert "sysctl.kernel.sysrq=0" in (IMAGE / "boot" / "cmdline.txt").read_text().split()
    keys = (CONFIG / "system.conf.d" / "release-station-keys.conf").read_text()
    assert re.search(r"(?m)^CtrlAltDelBurstAction=none$", keys)
    customize = (IMAGE / "hooks" / "customize.sh").read_text().replace("\\\n", " ")
    mask = re.search(r"(?m)^systemctl --root=\"\$root\" mask (.*)$", customize)
    masked = set(mask.group(1).split()) if mask else set()
    assert {"ctrl-alt-del.target", "getty@.service", "autovt@.service", "usbguard-dbus.service"} <= masked
    assert '"$config"/sysctl.d/*.conf' in customize
    serial = _overlay("etc/systemd/system/serial-getty@.service.d/release-station.conf")
    assert "ConditionPathExists=/data/system/serial-console.enabled" in serial


def test_a_usb_stick_gets_no_driver_and_usb_devices_pass_only_usbguards_list() -> None:
    storage = (CONFIG / "modprobe.d" / "release-station-usb-storage.conf").read_text()
    for module in ("usb_storage", "uas"):
        assert re.search(rf"(?m)^install {module} /bin/false$", storage)
        assert re.search(rf"(?m)^blacklist {module}$", storage)
    initramfs = re.sub(r"#.*", "", _overlay("etc/initramfs-tools/modules")).split()
    assert not {"usb_storage", "uas"} & set(initramfs)
    customize = (IMAGE / "hooks" / "customize.sh").read_text().replace("\\\n", " ")
    assert re.search(r"enable [^\n]*nftables\.service usbguard\.service", customize)
    assert "usbguard_rules()" in customize and 'chmod 0600 "$root/etc/usbguard/rules.conf"' in customize
    assert "After=release-station-firstboot.service" in _overlay(
        "etc/systemd/system/usbguard.service.d/release-station.conf"
    )


def test_network_services_need_the_firewall_and_node_exporter_serves_only_tls_with_a_password() -> None:
    from station.lockdown import CREDENTIALS

    for unit in ("ssh.service", "prometheus-node-exporter.service"):
        dropin = _overlay(f"etc/systemd/system/{unit}.d/release-station.conf")
        assert "Requires=nftables.service" in dropin and "After=nftables.service" in dropin
    exporter = _overlay("etc/systemd/system/prometheus-node-exporter.service.d/release-station.conf")
    for name in ("web.yml", "tls.crt", "tls.key"):
        assert f"LoadCredential={name}:/data/system/node-exporter/{name}" in exporter
    assert CREDENTIALS == "/run/credentials/prometheus-node-exporter.service"
    assert f"--web.config.file={CREDENTIALS}/web.yml" in _overlay("etc/default/prometheus-node-exporter")
    assert "After=release-station-firstboot.service" in _overlay(
        "etc/systemd/system/nftables.service.d/release-station.conf"
    )
    assert "nftables.service" in " ".join(_values("release-station-firstboot.service", "Before"))


def test_usb_network_adapters_and_dhcp_time_servers_only_when_asked() -> None:
    usb = _overlay("usr/lib/systemd/network/10-release-station-usb.network")
    assert "Property=ID_BUS=usb" in usb and "Unmanaged=yes" in usb
    assert "Driver=!smsc95xx lan78xx" in usb  # the Pi 3's own Ethernet is a USB device
    for name in ("20-wired.network", "25-wireless.network"):
        network = _overlay(f"etc/systemd/network/{name}")
        assert network.count("UseNTP=no") == 2, name  # DHCPv4 and DHCPv6
    from station.firstboot import NETWORK_FILES, USB_NETWORK_UNMANAGED

    assert (IMAGE / "overlay/usr/lib/systemd/network" / USB_NETWORK_UNMANAGED).exists()
    assert all((IMAGE / "overlay/etc/systemd/network" / name).exists() for name in NETWORK_FILES)


def test_default_firewall_lets_nothing_in() -> None:
    from station.lockdown import nftables_ruleset

    ruleset = nftables_ruleset([], ssh=True, node_exporter=True)
    assert "policy drop;" in ruleset and "tcp dport" not in ruleset  # no management network: closed
    assert 'iif "lo" accept' in ruleset and "ct state established,related accept" in ruleset


@pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft (nftables)")
def test_firewall_rulesets_parse(tmp_path: Path) -> None:
    from station.lockdown import nftables_ruleset

    for ruleset in (
        nftables_ruleset([], ssh=False, node_exporter=False),
        nftables_ruleset(["10.1.0.0/16", "fd00::/64"], ssh=True, node_exporter=True),
    ):
        path = tmp_path / "rules.nft"
        path.write_text(ruleset)
        result = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
        if "Operation not permitted" in result.stderr:
            pytest.skip("nft -c needs CAP_NET_ADMIN here")
        assert result.returncode == 0, result.stderr


def test_station_unit_has_resource_bounds_and_a_small_proc() -> None:
    one = dict(_unit("release-station.service"))
    assert one["MemoryMax"].endswith("M") and int(one["MemoryMax"][:-1]) <= 512
    assert 0 < int(one["TasksMax"]) <= 256
    assert one["ProcSubset"] == "pid" and one["RemoveIPC"] == "yes"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_slot_is_marked_good_only_after_the_station_is_ready(tmp_path: Path) -> None:
    name = "release-station-mark-good.service"
    text = _overlay(f"etc/systemd/system/{name}")
    unit = dict(line.split("=", 1) for line in text.splitlines() if line and line[0] not in "#[")
    # Ordered after the station's start job, which ends at READY=1 (Type=notify), and only
    # when that start worked; pulled in by every start of the station.
    assert unit["Requires"] == unit["After"] == "release-station.service"
    assert unit["WantedBy"] == "release-station.service"
    assert unit["ExecCondition"] == "/bin/systemctl is-active --quiet release-station.service"
    assert unit["ExecStart"] == "/usr/bin/rauc status mark-good"
    assert unit["ExecStartPost"] == f"{SLOT_SCRIPT} good"  # the trial passed
    assert unit["ConditionKernelCommandLine"] == "rauc.slot"
    assert _verify(_trial_root(tmp_path), name) == ""
    assert "release-station-mark-good.service" in (IMAGE / "hooks" / "customize.sh").read_text()


SLOT_SCRIPT = "/usr/local/sbin/release-station-slot"


def _trial_root(tmp_path: Path) -> Path:
    """:func:`_verify_root` with the image's units of a slot's trial and the commands they run."""
    root = _verify_root(tmp_path)
    system = IMAGE / "overlay" / "etc" / "systemd" / "system"
    for name in (
        "release-station-mark-good.service",
        "release-station-fallback@.service",
        "release-station-slot-check.service",
        "release-station-trial.timer",
    ):
        shutil.copy(system / name, root / "usr/lib/systemd/system")
    for command in ("usr/bin/rauc", "bin/systemctl", SLOT_SCRIPT.lstrip("/")):
        (root / command).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy("/bin/true", root / command)
    return root


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_a_slot_on_trial_whose_station_fails_or_is_late_falls_back(tmp_path: Path) -> None:
    system = IMAGE / "overlay" / "etc" / "systemd" / "system"
    dropin = (system / "release-station.service.d" / "trial.conf").read_text()
    assert "\nOnFailure=release-station-fallback@failed.service\n" in dropin  # its start limit
    fallback = dict(_unit_lines(system / "release-station-fallback@.service"))
    assert fallback["ExecStart"] == f"{SLOT_SCRIPT} fallback %i"
    assert fallback["ConditionKernelCommandLine"] == "rauc.slot"
    assert fallback["ReadWritePaths"] == "/data/slot" and fallback["CapabilityBoundingSet"] == ""
    timer = dict(_unit_lines(system / "release-station-trial.timer"))
    assert timer["Unit"] == "release-station-fallback@deadline.service" and timer["OnBootSec"] == "10min"
    assert "release-station-trial.timer" in (IMAGE / "hooks" / "customize.sh").read_text()
    # A slot that never reached user space is recorded before the station starts, at each boot.
    check = dict(_unit_lines(system / "release-station-slot-check.service"))
    assert check["ExecStart"] == f"{SLOT_SCRIPT} boot" and check["Before"] == "release-station.service"
    assert check["ReadWritePaths"] == "/data/slot" and check["CapabilityBoundingSet"] == ""
    assert "release-station-slot-check.service" in (IMAGE / "hooks" / "customize.sh").read_text()
    # RAUC records each install (its post-install handler), the units read the record.
    assert f"post-install={SLOT_SCRIPT}" in _overlay("etc/rauc/system.conf").splitlines()
    assert "d /data/slot 0755 root root -" in _overlay("etc/tmpfiles.d/release-station-image.conf")
    assert (
        _verify(
            _trial_root(tmp_path),
            "release-station-fallback@failed.service",
            "release-station-slot-check.service",
            "release-station-trial.timer",
        )
        == ""
    )


def _unit_lines(path: Path) -> list[tuple[str, str]]:
    return [
        (key, value)
        for key, _, value in (line.partition("=") for line in path.read_text().splitlines())
        if key and not key.startswith(("#", "["))
    ]


def _overlay_unit(name: str) -> dict[str, str]:
    """An overlay unit's keys (each once) and values."""
    text = _overlay(f"etc/systemd/system/{name}")
    return dict(line.split("=", 1) for line in text.splitlines() if line and line[0] not in "#[")


def test_first_boot_is_sandboxed() -> None:
    firstboot = dict(_unit("release-station-firstboot.service"))
    assert firstboot["PrivateNetwork"] == "yes" and firstboot["RestrictAddressFamilies"] == "AF_UNIX"
    assert firstboot["ProtectSystem"] == "strict" and firstboot["NoNewPrivileges"] == "yes"
    assert set(firstboot["CapabilityBoundingSet"].split()) == {
        "CAP_CHOWN",
        "CAP_SYS_ADMIN",
        "CAP_SYS_TTY_CONFIG",
    }


def test_the_update_timer_runs_with_jitter_a_sandboxed_service() -> None:
    timer = _overlay_unit("release-station-update.timer")
    assert timer["RandomizedDelaySec"] == "3h" and timer["FixedRandomDelay"] == "yes"
    assert timer["OnUnitActiveSec"] == "12h" and timer["WantedBy"] == "timers.target"
    service = _overlay_unit("release-station-update.service")
    assert service["ExecStart"] == "/opt/release-station/bin/release-station update run"
    # Writes only /data/update; reads the station's session lock; rauc and reboot over D-Bus.
    assert service["ProtectSystem"] == "strict" and service["ReadWritePaths"] == "/data/update"
    assert service["CapabilityBoundingSet"] == "CAP_DAC_READ_SEARCH" and service["NoNewPrivileges"] == "yes"
    assert service["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"
    assert "release-station-update.timer" in (IMAGE / "hooks" / "customize.sh").read_text()
    tmpfiles = _overlay("etc/tmpfiles.d/release-station-image.conf")
    assert "d /data/update 0755 root root -" in tmpfiles  # the record is world-readable
    # The station's own unit gives the lock's directory (RuntimeDirectory).
    assert ("RuntimeDirectory", "release-station") in _unit("release-station.service")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_update_units_verify(tmp_path: Path) -> None:
    root = _verify_root(tmp_path)
    for name in ("release-station-update.service", "release-station-update.timer"):
        shutil.copy(IMAGE / "overlay" / "etc" / "systemd" / "system" / name, root / "usr/lib/systemd/system")
    assert _verify(root, "release-station-update.timer", "release-station-update.service") == ""


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize(
    "unit",
    [
        CONFIG / "systemd" / "release-station.service",
        CONFIG / "systemd" / "release-station-firstboot.service",
        IMAGE / "overlay" / "etc" / "systemd" / "system" / "release-station-update.service",
        IMAGE / "overlay" / "etc" / "systemd" / "system" / "release-station-mark-good.service",
        IMAGE / "overlay" / "etc" / "systemd" / "system" / "release-station-fallback@.service",
        IMAGE / "overlay" / "etc" / "systemd" / "system" / "release-station-slot-check.service",
    ],
    ids=lambda path: path.name,
)
def test_units_score_ok_in_systemd_analyze_security(unit: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", "--threshold=25", str(unit)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:]  # 2.5 of 10: "OK"
