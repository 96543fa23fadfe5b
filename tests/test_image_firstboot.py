"""First boot of the SD image: files from the boot partition are checked, kept, scrubbed and applied."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest

from station.config import parse_config
from station.errors import ConfigError
from station.firstboot import MAX_FILE_BYTES, Paths, main, own_disk_id, parse_system, run
from tests.support.firstboot_paths import make_paths

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_EXAMPLE = ROOT / "image-build" / "boot" / "system.toml.example"
PASSPHRASE = "correct horse battery staple"
TLS_CERT = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----"
TLS_KEY = "-----BEGIN PRIVATE KEY-----\nMIGHsecretkeymaterial\n-----END PRIVATE KEY-----"
BCRYPT = "$2y$10$ZbkSCn7QtX0SnA/ERz9MVufXkKZuK0/IFh4ie7Ew1fdEhhOnRcHQa"
MONITORING = (
    f'[monitoring]\nnode_exporter = true\npassword_bcrypt = "{BCRYPT}"\n'
    f'tls_cert = """{TLS_CERT}"""\ntls_key = """{TLS_KEY}"""\n'
)
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4rT3vTt99Ox5kndS4HmgTrKBT8SKzhK4rhGkEVGlCI admin@laptop"

GOOD_STATION = """
[station]
name = "Second floor"
[cloud]
client_id = "abc"
[metrics]
textfile_dir = "/run/release-station-metrics"
"""


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return make_paths(tmp_path)


def _every_byte(*directories: Path) -> bytes:
    return b"".join(p.read_bytes() for d in directories for p in d.rglob("*") if p.is_file())


def test_a_good_station_file_is_kept_and_removed_from_the_boot_partition(paths: Paths) -> None:
    (paths.boot / "release-station.toml").write_text(GOOD_STATION)

    outcome = run(paths)

    assert outcome.line() == "FIRSTBOOT station=applied system=none"
    assert parse_config(paths.station_config.read_text()).station.name == "Second floor"
    assert oct(paths.station_config.stat().st_mode & 0o777) == oct(0o640)
    assert not (paths.boot / "release-station.toml").exists()
    assert not (paths.boot / "release-station-error.txt").exists()
    assert not (paths.run / "rejected").exists()


def test_a_bad_station_file_changes_nothing_and_shows_why(paths: Paths) -> None:
    (paths.boot / "release-station.toml").write_text(GOOD_STATION)
    run(paths)
    (paths.boot / "release-station.toml").write_text("[station]\nsession_timeout_s = 5\n")

    outcome = run(paths)

    assert outcome.station == "rejected"
    assert parse_config(paths.station_config.read_text()).station.name == "Second floor"  # kept
    report = (paths.boot / "release-station-error.txt").read_text()
    assert "release-station.toml: station.session_timeout_s: must be between 10 and 900" in report
    assert "release-station.toml: station.session_timeout_s" in paths.console.read_text()
    assert (paths.run / "rejected").exists()  # keeps the station off, so the screen shows this
    assert not (paths.boot / "release-station.toml").exists()

    (paths.boot / "release-station.toml").write_text(GOOD_STATION)
    assert run(paths).station == "applied"
    assert not (paths.boot / "release-station-error.txt").exists()  # a good file clears the report


def test_broken_toml_and_unknown_keys_are_rejected_with_the_file_and_key(paths: Paths) -> None:
    (paths.boot / "release-station.toml").write_text("[station\nname=")
    (paths.boot / "system.toml").write_text("[wifi]\nssid = 'Office'\npassword = 'x'\n")

    outcome = run(paths)

    assert (outcome.station, outcome.system) == ("rejected", "rejected")
    assert any(e.startswith("release-station.toml: not valid TOML") for e in outcome.errors)
    assert any(e.startswith("system.toml: wifi.password: unknown key") for e in outcome.errors)
    assert outcome.line() == "FIRSTBOOT station=rejected system=rejected"


def test_without_any_configuration_the_screen_says_what_to_do(paths: Paths) -> None:
    outcome = run(paths)
    assert outcome.line() == "FIRSTBOOT station=missing system=none"
    assert "Copy release-station.toml" in paths.console.read_text()
    assert not (paths.run / "rejected").exists()


def test_wifi_keeps_only_the_derived_key_and_scrubs_the_passphrase(paths: Paths) -> None:
    system = paths.boot / "system.toml"
    system.write_text(f'[wifi]\nssid = "IEEE"\npsk = "password"\ncountry = "DE"\n# {PASSPHRASE}\n')
    witness = paths.boot.parent / "witness"
    witness.hardlink_to(system)  # sees the file's blocks after the unlink

    assert run(paths).system == "applied"

    config = (paths.data / "system" / "wpa_supplicant-wlan0.conf").read_text()
    assert "country=DE" in config
    assert f"ssid={b'IEEE'.hex()}" in config
    # The IEEE 802.11i test vector for passphrase "password" and SSID "IEEE".
    assert "psk=f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e" in config
    assert oct((paths.data / "system" / "wpa_supplicant-wlan0.conf").stat().st_mode & 0o777) == oct(0o600)
    assert not system.exists()
    assert set(witness.read_bytes()) == {0}  # overwritten before it was deleted
    everything = _every_byte(paths.boot, paths.data, paths.etc, paths.run)
    assert b"password" not in everything and PASSPHRASE.encode() not in everything


def test_a_bad_passphrase_is_rejected_without_showing_it(paths: Paths) -> None:
    (paths.boot / "system.toml").write_text('[wifi]\nssid = "Office"\npsk = "short1"\ncountry = "DE"\n')
    outcome = run(paths)
    assert outcome.system == "rejected"
    assert "psk" in outcome.errors[0] and "short1" not in outcome.errors[0]
    (paths.boot / "system.toml").write_text('[wifi]\nssid = "Office"\npsk = 12345678\ncountry = "DE"\n')
    outcome = run(paths)
    assert "12345678" not in " ".join(outcome.errors)
    assert b"12345678" not in _every_byte(paths.boot)


def test_a_new_system_file_is_the_whole_truth(paths: Paths) -> None:
    (paths.boot / "system.toml").write_text(
        'hostname = "station-7"\n[wifi]\nssid = "Office"\npsk = ""\ncountry = "AT"\nhidden = true\n'
        '[time]\nntp = ["ntp.example.com", "10.0.0.1"]\n[network]\nmanagement = ["10.1.0.0/16"]\n'
        + MONITORING
    )
    names: list[str] = []
    run(paths, set_hostname=names.append)
    system = paths.data / "system"
    assert names == ["station-7"]
    assert (paths.etc / "hostname").read_text() == "station-7\n"
    assert "key_mgmt=NONE" in (system / "wpa_supplicant-wlan0.conf").read_text()
    assert "scan_ssid=1" in (system / "wpa_supplicant-wlan0.conf").read_text()
    dropin = paths.etc / "systemd" / "timesyncd.conf.d" / "release-station.conf"
    assert dropin.read_text() == "[Time]\nNTP=ntp.example.com 10.0.0.1\n"
    assert (system / "node-exporter.enabled").exists()

    (paths.boot / "system.toml").write_text('hostname = "station-7"\n')
    run(paths)
    assert not (system / "wpa_supplicant-wlan0.conf").exists()
    assert not (system / "node-exporter.enabled").exists()
    assert not dropin.exists()


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")
def test_ssh_keys_switch_ssh_on_with_a_host_key_made_on_the_station(paths: Paths) -> None:
    key = SSH_KEY
    (paths.boot / "system.toml").write_text(
        f'[ssh]\nauthorized_keys = ["{key}"]\n[network]\nmanagement = ["192.168.7.0/24"]\n'
    )
    run(paths)
    ssh = paths.data / "system" / "ssh"
    assert (ssh / "authorized_keys").read_text() == key + "\n"
    assert (ssh / "ssh_host_ed25519_key.pub").read_text().startswith("ssh-ed25519 ")
    host_key = (ssh / "ssh_host_ed25519_key").read_bytes()
    run(paths)
    assert (ssh / "ssh_host_ed25519_key").read_bytes() == host_key  # made once


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('hostname = "-bad"', "hostname"),
        ('[wifi]\nssid = "Office"\npsk = "longenough"\n', "wifi.country"),
        ('[wifi]\npsk = "longenough"\n', "wifi.ssid"),
        ('[wifi]\nssid = "' + "x" * 33 + '"\ncountry = "DE"\n', "wifi.ssid"),
        ('[time]\nntp = "pool.ntp.org"\n', "time.ntp"),
        ('[time]\nntp = ["bad host"]\n', "time.ntp"),
        ('[ssh]\nauthorized_keys = ["not a key"]\n', "ssh.authorized_keys"),
        ("[monitoring]\nnode_exporter = 1\n", "monitoring.node_exporter"),
        ("[monitoring]\nnode_exporter = true\n", "monitoring.password_bcrypt"),
        ('[monitoring]\npassword_bcrypt = "secret"\n', "monitoring.password_bcrypt"),
        ('[monitoring]\ntls_cert = "not pem"\n', "monitoring.tls_cert"),
        ('[monitoring]\nusername = "a b"\n', "monitoring.username"),
        (f'[ssh]\nauthorized_keys = ["{SSH_KEY}"]\n', "network.management"),
        (MONITORING, "network.management"),
        ('[network]\nmanagement = ["10.1.0.0/33"]\n', "network.management"),
        ("[network]\nusb_adapters = 1\n", "network.usb_adapters"),
        ("[console]\nserial = 'yes'\n", "console.serial"),
    ],
)
def test_system_file_errors_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_system(text, "system.toml")
    assert caught.value.key == key


def test_the_documented_system_example_is_valid_when_uncommented() -> None:
    example = SYSTEM_EXAMPLE.read_text()
    uncommented = re.sub(r"(?m)^#(\w+ = )", r"\1", example)
    settings = parse_system(uncommented, str(SYSTEM_EXAMPLE))
    assert settings.wifi.country == "DE" and settings.ssh.authorized_keys
    assert PASSPHRASE not in repr(settings)  # the passphrase never shows in a repr


def test_command_line_prints_one_result_line(paths: Paths, capsys: pytest.CaptureFixture[str]) -> None:
    (paths.boot / "release-station.toml").write_text(GOOD_STATION)
    args = ["--boot", str(paths.boot), "--data", str(paths.data), "--etc", str(paths.etc)]
    args += ["--run", str(paths.run), "--console", str(paths.console)]
    assert main(args) == 0
    assert capsys.readouterr().out == "FIRSTBOOT station=applied system=none\n"


def test_an_etc_that_cannot_be_written_is_reported_and_does_not_stop_the_boot(
    paths: Paths, caplog: pytest.LogCaptureFixture
) -> None:
    (paths.boot / "system.toml").write_text('hostname = "station-7"\n')
    unwritable = paths.etc / "not-a-directory"  # like a read-only root: every write fails, even as root
    unwritable.touch()
    outcome = run(dataclasses.replace(paths, etc=unwritable))
    assert outcome.system == "applied"  # kept on the data partition for the next boot
    assert "cannot apply the system settings" in caplog.text


def test_a_tls_key_in_error_is_never_shown() -> None:
    for text in ('[monitoring]\ntls_key = "MIGHsecretkeymaterial"\n', "[monitoring]\ntls_key = 123456\n"):
        with pytest.raises(ConfigError) as caught:
            parse_system(text, "system.toml")
        assert caught.value.key == "monitoring.tls_key"
        assert "MIGHsecret" not in str(caught.value) and "123456" not in str(caught.value)
    assert "MIGHsecret" not in repr(parse_system(MONITORING + '[network]\nmanagement = ["10.0.0.0/8"]\n'))


def test_the_firewall_opens_only_what_system_toml_names_from_the_management_networks(paths: Paths) -> None:
    nftables = paths.etc / "nftables.conf"
    (paths.boot / "system.toml").write_text('hostname = "station-7"\n')
    run(paths)
    closed = nftables.read_text()
    assert "policy drop;" in closed and "dport" not in closed.replace("udp dport", "")

    (paths.boot / "system.toml").write_text(
        f'[ssh]\nauthorized_keys = ["{SSH_KEY}"]\n[network]\nmanagement = ["10.1.2.3/16", "fd00:1::/64"]\n'
    )
    run(paths)
    ruleset = nftables.read_text()
    assert "ip saddr { 10.1.0.0/16 } tcp dport { 22 } accept" in ruleset  # the network, not the host
    assert "ip6 saddr { fd00:1::/64 } tcp dport { 22 } accept" in ruleset
    assert "9100" not in ruleset

    (paths.boot / "system.toml").write_text(MONITORING + '[network]\nmanagement = ["10.1.0.0/16"]\n')
    run(paths)
    ruleset = nftables.read_text()
    assert "ip saddr { 10.1.0.0/16 } tcp dport { 9100 } accept" in ruleset and "dport { 22" not in ruleset
    assert ruleset == (paths.data / "system" / "nftables.conf").read_text()  # kept for every boot


def test_node_exporter_gets_tls_and_basic_auth_with_files_only_root_reads(paths: Paths) -> None:
    (paths.boot / "system.toml").write_text(MONITORING + '[network]\nmanagement = ["10.1.0.0/16"]\n')
    run(paths)
    kept = paths.data / "system" / "node-exporter"
    web = (kept / "web.yml").read_text()
    assert "cert_file: /run/credentials/prometheus-node-exporter.service/tls.crt" in web
    assert "key_file: /run/credentials/prometheus-node-exporter.service/tls.key" in web
    assert f"prometheus: '{BCRYPT}'" in web
    assert (kept / "tls.key").read_text() == TLS_KEY + "\n"
    assert (kept / "tls.crt").read_text() == TLS_CERT + "\n"
    for name in ("web.yml", "tls.crt", "tls.key"):
        assert oct((kept / name).stat().st_mode & 0o777) == oct(0o600)
    assert oct(kept.stat().st_mode & 0o777) == oct(0o700)

    (paths.boot / "system.toml").write_text('hostname = "station-7"\n')
    run(paths)
    assert not any(kept.iterdir())  # switched off: the key is gone too


def test_usb_allow_list_names_the_wedge_reader_and_usb_network_only_when_asked(paths: Paths) -> None:
    (paths.boot / "release-station.toml").write_text(GOOD_STATION + '[reader]\nwedge_usb_id = "08FF:0009"\n')
    (paths.boot / "system.toml").write_text('hostname = "station-7"\n')
    run(paths)
    rules = paths.etc / "usbguard" / "rules.conf"
    text = rules.read_text()
    assert "allow id 08ff:0009" in text
    assert "allow with-interface match-all { 0b:*:* }" in text  # CCID readers
    assert "allow with-interface match-all { 09:*:* }" in text  # hubs
    assert "02:*:*" not in text and "08:" not in text  # no network adapters, never mass storage
    assert oct(rules.stat().st_mode & 0o777) == oct(0o600)  # usbguard-daemon refuses others
    network = paths.etc / "systemd" / "network"
    assert not (network / "10-release-station-usb.network").is_symlink()
    assert not (network / "20-wired.network.d" / "release-station-ntp.conf").exists()

    (paths.boot / "system.toml").write_text("[network]\nusb_adapters = true\n[time]\ndhcp_ntp = true\n")
    run(paths)
    assert "allow with-interface match-all { 02:*:* 0a:*:* e0:*:* }" in rules.read_text()
    assert os.readlink(network / "10-release-station-usb.network") == "/dev/null"
    for name in ("20-wired.network", "25-wireless.network"):
        assert "UseNTP=yes" in (network / f"{name}.d" / "release-station-ntp.conf").read_text()

    (paths.boot / "system.toml").write_text('hostname = "station-7"\n')
    run(paths)
    assert not (network / "10-release-station-usb.network").exists()
    assert not (network / "25-wireless.network.d" / "release-station-ntp.conf").exists()
    assert "02:*:*" not in rules.read_text()


def test_a_serial_console_only_when_asked(paths: Paths) -> None:
    (paths.boot / "system.toml").write_text("[console]\nserial = true\n")
    run(paths)
    assert (paths.data / "system" / "serial-console.enabled").exists()
    (paths.boot / "system.toml").write_text('hostname = "station-7"\n')
    run(paths)
    assert not (paths.data / "system" / "serial-console.enabled").exists()


def test_the_console_keyboard_is_switched_off_or_the_failure_logged(
    paths: Paths, caplog: pytest.LogCaptureFixture
) -> None:
    run(paths)  # the test's console is a plain file: the ioctl fails, the boot goes on
    assert "cannot switch the console keyboard off" in caplog.text


HOSTILE = {
    "too large": b"# " + b"x" * (MAX_FILE_BYTES + 10) + b"\n",
    "nested too deeply": b"a = " + b"[" * 20_000 + b"]" * 20_000 + b"\n",
    "inline tables nested too deeply": b"a = " + b"{b = " * 5_000 + b"1" + b"}" * 5_000 + b"\n",
    "not UTF-8": b'[station]\nname = "Caf\xe9"\n',
    "NUL bytes": b'hostname = "a\x00b"\n',
}


@pytest.mark.parametrize("which", ["release-station.toml", "system.toml"])
@pytest.mark.parametrize("content", list(HOSTILE), ids=list(HOSTILE))
def test_a_hostile_file_is_rejected_and_wiped_and_the_other_still_applied(
    paths: Paths, which: str, content: str
) -> None:
    good = {"release-station.toml": GOOD_STATION, "system.toml": 'hostname = "station-7"\n'}
    other = "system.toml" if which == "release-station.toml" else "release-station.toml"
    (paths.boot / which).write_bytes(HOSTILE[content])
    (paths.boot / other).write_text(good[other])

    outcome = run(paths)

    results = {"release-station.toml": outcome.station, "system.toml": outcome.system}
    assert results == {which: "rejected", other: "applied"}
    assert not (paths.boot / which).exists() and not (paths.boot / other).exists()
    report = (paths.boot / "release-station-error.txt").read_text()
    assert f"{which}: " in report and f"{which}: " in paths.console.read_text()
    assert len(report) < 2000  # the report quotes no file


def test_a_directory_in_place_of_a_file_is_rejected_and_removed(paths: Paths) -> None:
    (paths.boot / "system.toml").mkdir()
    (paths.boot / "system.toml" / "inside").write_text("x")
    (paths.boot / "release-station.toml").write_text(GOOD_STATION)
    outcome = run(paths)
    assert (outcome.station, outcome.system) == ("applied", "rejected")
    assert "system.toml: is not a plain file" in outcome.errors[0]
    assert not (paths.boot / "system.toml").exists()


def _card(paths: Paths, disk_id: str) -> tuple[Paths, Path]:
    """A disk with the image's MBR id, its partition links as udev makes them, cmdline.txt."""
    root = paths.boot.parent
    paths = dataclasses.replace(
        paths, partuuids=root / "dev" / "disk" / "by-partuuid", sys_block=root / "sys" / "class" / "block"
    )
    disk = root / "dev" / "vda"
    disk.parent.mkdir()
    mbr = bytearray(512)
    mbr[440:444] = bytes.fromhex(disk_id)[::-1]
    mbr[510:512] = b"\x55\xaa"
    disk.write_bytes(bytes(mbr))
    (root / "dev" / "vda2").touch()
    links = root / "dev" / "disk" / "by-partuuid"
    links.mkdir(parents=True)
    (links / f"{disk_id}-02").symlink_to("../../vda2")
    sysfs = root / "sys" / "devices" / "virtio0" / "block" / "vda" / "vda2"
    sysfs.mkdir(parents=True)
    (root / "sys" / "class" / "block").mkdir(parents=True)
    (root / "sys" / "class" / "block" / "vda2").symlink_to(sysfs)
    line = f"console=serial0,115200 root=PARTUUID={disk_id}-02 rootfstype=ext4 ro rootwait\n"
    (paths.boot / "cmdline.txt").write_text(line)
    paths.cmdline.write_text(line)
    return paths, disk


def test_the_card_gets_its_own_disk_id_once_and_cmdline_follows(paths: Paths) -> None:
    paths, disk = _card(paths, "1a2b3c4d")

    new = own_disk_id(paths)

    assert new is not None and re.fullmatch(r"[0-9a-f]{8}", new) and new != "1a2b3c4d"
    assert disk.read_bytes()[440:444] == bytes.fromhex(new)[::-1]
    assert disk.read_bytes()[510:] == b"\x55\xaa" and len(disk.read_bytes()) == 512  # nothing else
    cmdline = (paths.boot / "cmdline.txt").read_text()
    assert f" root=PARTUUID={new}-02 " in cmdline and cmdline.startswith("console=serial0,115200 ")
    # Later boots (the kernel now names the new id) keep it.
    paths.cmdline.write_text(cmdline)
    assert own_disk_id(paths) is None and disk.read_bytes()[440:444] == bytes.fromhex(new)[::-1]


def test_the_disk_id_stays_when_cmdline_txt_was_changed_by_hand(paths: Paths) -> None:
    paths, disk = _card(paths, "1a2b3c4d")
    (paths.boot / "cmdline.txt").write_text("root=/dev/mmcblk0p2 ro\n")
    assert own_disk_id(paths) is None
    assert disk.read_bytes()[440:444] == bytes.fromhex("1a2b3c4d")[::-1]
