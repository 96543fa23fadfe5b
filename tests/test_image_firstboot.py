"""First boot of the SD image: files from the boot partition are checked, kept, scrubbed and applied."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from station.config import parse_config
from station.errors import ConfigError
from station.firstboot import Paths, main, parse_system, run
from tests.firstboot_paths import make_paths

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_EXAMPLE = ROOT / "image-build" / "boot" / "system.toml.example"
PASSPHRASE = "correct horse battery staple"

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
        '[time]\nntp = ["ntp.example.com", "10.0.0.1"]\n[monitoring]\nnode_exporter = true\n'
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
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4rT3vTt99Ox5kndS4HmgTrKBT8SKzhK4rhGkEVGlCI admin@laptop"
    (paths.boot / "system.toml").write_text(f'[ssh]\nauthorized_keys = ["{key}"]\n')
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
