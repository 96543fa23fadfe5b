"""Every command the READMEs show is run by a test, or the table below says which test covers it.

A command is a line of a fenced shell code block (```` ```sh ```` or untagged; continuation lines
joined, ``# comments`` dropped; a ```` ```yaml ```` block is configuration, not commands)
or inline code that starts with a program (``release-station …``, ``.ci/…``, ``pybabel …``, a
script under ``image-build/``…). ``RUN`` holds the commands this module runs against a
temporary configuration and the emulator on loopback, with placeholders (``FILE``, ``BADGE``,
``[--flag]``) filled in; ``ELSEWHERE`` maps every other one to the test that runs it, or says
why it cannot run here. A command added to a README fails :func:`test_every_command_is_accounted_for`
until it is added to one of the two.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import NamedTuple

import pytest

from station.cli import EXIT_OK, main
from station.emulator import Emulator
from tests.support.cloud import config_for

ROOT = Path(__file__).resolve().parents[1]
READMES = (ROOT / "README.md", ROOT / "image-build" / "README.md")
PROGRAM = re.compile(
    r"(release-station|pybabel|python3|systemctl|sudo|ssh|scp)\s"
    r"|(\.ci/|\.venv/bin/|image-build/\S+\.(sh|py)\b)"
)
TECH_PIN = "24681357"

# README text -> the commands run for it, without "release-station" ({file}: a badge CSV, {email}: a member).
RUN: dict[str, tuple[str, ...]] = {
    "release-station card learn 946EBD28=0683503252 E43AC9D2=3536403172 04A1B2C3=3283263748": (
        "card learn 946EBD28=0683503252 E43AC9D2=3536403172 04A1B2C3=3283263748",
    ),
    "release-station config check": ("config check",),
    "release-station config show": ("config show",),
    "release-station config check | show": ("config check", "config show"),
    "release-station badges import FILE": ("badges import {file}",),
    "release-station badges list | add | remove | import FILE | export": (
        "badges list",
        "badges add 04A1B2C3 --user-id u-ann",
        "badges remove 04A1B2C3",
        "badges import {file}",
        "badges export",
    ),
    "release-station badges list | add BADGE (--email E | --user-id U) [--name N] [--replace] "
    "| remove BADGE | export [--format csv|json]": (
        "badges add 04A1B2C3 --user-id u-ann --name 'Ann Arbor'",
        "badges add 04A1B2C3 --user-id u-bob --replace",
        "badges list",
        "badges export --format csv",
        "badges export --format json",
        "badges remove 04A1B2C3",
    ),
    "release-station audit verify": ("badges add 04A1B2C3 --user-id u-ann", "audit verify"),
    "release-station pin set | clear | status | hash | release on|off | reset --user EMAIL": (
        "pin set",
        "pin status",
        "pin hash",
        "pin release on",
        "pair",
        "badges add 04A1B2C3 --email {email}",
        "pin reset --user {email}",
        "pin release off",
        "pin clear",
    ),
    "release-station pin set|clear|status": ("pin set", "pin status", "pin clear"),
    "release-station pin hash": ("pin hash",),
    "release-station pair": ("pair",),
    "release-station status": ("status",),
    "release-station unpair": ("pair", "unpair"),
    "release-station doctor": ("pin set", "pair", "doctor"),
    "release-station doctor [--offline]": ("pin set", "doctor --offline", "pair", "doctor"),
    "release-station update status": ("update status",),
}


class Elsewhere(NamedTuple):
    """A command not run here: the test that covers it (``file::name``, or None) and why."""

    test: str | None
    why: str


FULL_CI = "the whole CI (apt, the suite, the SD image and its QEMU boot, 12-20 min): CI runs it"
IMAGE = "builds the SD image as root (mmdebstrap, binfmt, 10+ min): `.ci/dev image` runs it in CI"
ON_A_STATION = "runs on an installed station over SSH"
ELSEWHERE: dict[str, Elsewhere] = {
    # README.md
    "release-station directory sync [--dry-run] [--force] | status": Elsewhere(
        "tests/test_directory_sync.py::test_directory_sync_and_status_on_the_command_line",
        "needs a directory source: the test serves one over HTTPS on loopback",
    ),
    "release-station directory status": Elsewhere(
        "tests/test_directory_sync.py::test_directory_sync_and_status_on_the_command_line",
        "needs a directory source: the test serves one over HTTPS on loopback",
    ),
    "release-station directory sync --force": Elsewhere(
        "tests/test_directory_sync.py::test_directory_sync_and_status_on_the_command_line",
        "needs a directory source: the test serves one over HTTPS on loopback",
    ),
    ".ci/dev demo": Elsewhere(
        "tests/test_e2e_station.py::test_the_demo_window_taps_with_number_keys",
        "installs packages, then opens a window until it is closed",
    ),
    ".ci/dev demo --auto-approve": Elsewhere(
        "tests/test_e2e_station.py::test_the_demo_window_taps_with_number_keys",
        "installs packages, then opens a window until it is closed",
    ),
    ".ci/dev demo --headless": Elsewhere(
        "tests/test_cloud_cli.py::test_demo_exits_0_when_the_jobs_are_printed",
        "installs packages first; the test runs the same `demo --headless`",
    ),
    ".ci/dev test": Elsewhere(None, FULL_CI),
    ".ci/run": Elsewhere(None, FULL_CI),
    ".ci/dev test tests/test_foo.py": Elsewhere(None, "it is how this suite is run"),
    ".ci/dev image": Elsewhere(None, IMAGE),
    "image-build/build.sh": Elsewhere(None, IMAGE),
    "image-build/ci.sh": Elsewhere(None, IMAGE),
    ".venv/bin/python -m bench.cloud": Elsewhere(
        None, "a benchmark of minutes; its RESULT line is the output"
    ),
    "pybabel extract -k N_ -o ui/locale/release-station.pot ui": Elsewhere(
        "tests/test_ui_i18n.py::test_po_translates_every_message_in_the_source",
        "writes into the source tree; the test extracts the same keywords",
    ),
    "pybabel update -i ui/locale/release-station.pot -d ui/locale -D release-station": Elsewhere(
        "tests/test_ui_i18n.py::test_po_translates_every_message_in_the_source",
        "writes into the source tree; the test checks the .po it keeps up to date",
    ),
    "pybabel compile -d ui/locale -D release-station": Elsewhere(
        "tests/test_ui_i18n.py::test_mo_is_compiled_from_the_current_po",
        "writes into the source tree; the test checks the .mo says what the .po says",
    ),
    "release-station card learn": Elsewhere(
        "tests/test_readme.py::test_a_readme_command_succeeds", "the example in the shell block"
    ),
    "release-station card learn RAW=EXPECTED …": Elsewhere(
        "tests/test_readme.py::test_a_readme_command_succeeds", "the example in the shell block"
    ),
    "release-station card learn --raw decimal": Elsewhere(
        "tests/test_cli_card.py::test_learn_from_a_csv_file_of_wedge_reads", "needs its own examples"
    ),
    "release-station card test": Elsewhere(
        "tests/test_cli_card.py::test_card_test_with_the_simulated_reader", "waits for a card on a reader"
    ),
    "release-station demo [--headless] [--auto-approve]": Elsewhere(
        "tests/test_cloud_cli.py::test_demo_exits_0_when_the_jobs_are_printed",
        "the window form: tests/test_e2e_station.py::test_the_demo_window_taps_with_number_keys",
    ),
    "release-station run [--headless]": Elsewhere(
        "tests/test_e2e_station.py::test_headless_run_releases_a_tap_and_stops_on_sigterm",
        "runs until stopped, as a process with a reader",
    ),
    "release-station screenshots --out DIR": Elsewhere(
        "tests/test_ui_cli.py::test_screenshots_command_writes_every_screen", "renders every screen: slow"
    ),
    "release-station emulator …": Elsewhere(
        "tests/test_emulator_cli.py::test_runs_until_sigterm_and_takes_jobs", "runs until Ctrl-C"
    ),
    "release-station emulator [--port N] [--job-duration S] [--auto-approve-device PRINTER_ID] "
    "[--auto-approve-user EMAIL]": Elsewhere(
        "tests/test_emulator_cli.py::test_runs_until_sigterm_and_takes_jobs", "runs until Ctrl-C"
    ),
    "release-station doctor --live [--release-test USER]": Elsewhere(
        "tests/test_doctor_live.py::test_the_release_test_releases_the_technicians_page_and_follows_it_to_printed",
        "needs a paired station and a technician printing meanwhile",
    ),
    "release-station doctor --live": Elsewhere(
        "tests/test_doctor_live.py::test_the_default_profile_keeps_every_assumption", "needs a paired station"
    ),
    "release-station emulator --profile strict --client-id ID": Elsewhere(
        "tests/test_emulator_cli.py::test_a_strict_emulator_with_a_fault_from_the_command_line",
        "runs until Ctrl-C",
    ),
    "release-station emulator faults --url URL [NAME=VALUE ...]": Elsewhere(
        "tests/test_emulator_cli.py::test_faults_sets_switches_of_a_running_emulator",
        "needs a running emulator",
    ),
    "release-station emulator add-job --url URL EMAIL [NAME] [--pages N]": Elsewhere(
        "tests/test_emulator_cli.py::test_runs_until_sigterm_and_takes_jobs",
        "needs the emulator process that test starts",
    ),
    # image-build/README.md
    "image-build/ci.sh --stage build": Elsewhere(None, IMAGE),
    "image-build/build.sh --keys /tmp/keys": Elsewhere(None, IMAGE),
    "image-build/build.sh --keys /tmp/keys --profile raspios-arm64": Elsewhere(None, IMAGE),
    "image-build/build.sh --keys /tmp/keys --no-compress": Elsewhere(None, IMAGE),
    "image-build/rauc/dev-keys.sh /tmp/keys": Elsewhere(
        "tests/test_image_rauc.py::test_a_bundle_signed_with_another_key_is_refused", IMAGE
    ),
    "sudo apt-get install mmdebstrap arch-test qemu-user-static binfmt-support genimage mtools dosfstools": (
        Elsewhere(None, "installs host packages as root (`.ci/dev image` does)")
    ),
    "RPI_KEYRING=/usr/share/keyrings/raspberrypi-archive-keyring.gpg image-build/build.sh --keys /tmp/keys "
    "--profile raspios-arm64": Elsewhere(None, IMAGE + "; needs archive.raspberrypi.com"),
    ".venv/bin/pip download --no-deps --only-binary=:all: --platform manylinux2014_aarch64 "
    "--python-version 3.11 --implementation cp --abi cp311 -d /tmp/w PACKAGE==VERSION": Elsewhere(
        "tests/test_image_static.py::test_requirements_pin_every_runtime_dependency_with_hashes",
        "downloads from PyPI; the test checks every pin has its hashes",
    ),
    "sha256sum /tmp/w/*": Elsewhere(
        "tests/test_image_static.py::test_requirements_pin_every_runtime_dependency_with_hashes",
        "hashes the wheels the line above downloads",
    ),
    "ssh root@station release-station update run": Elsewhere(
        "tests/test_update.py::test_a_station_in_the_share_installs_a_newer_bundle_and_reboots", ON_A_STATION
    ),
    "release-station update run": Elsewhere(
        "tests/test_update.py::test_a_station_in_the_share_installs_a_newer_bundle_and_reboots", ON_A_STATION
    ),
    "python3 image-build/allowlist.py MANIFEST": Elsewhere(
        "tests/test_image_static.py::test_allow_list_check_reads_a_manifest", "needs a built image's manifest"
    ),
    "systemctl stop release-station": Elsewhere(None, ON_A_STATION),
    "ssh root@station rauc install /data/update/release-station-0.2.0-debian-bookworm-arm64.raucb": Elsewhere(
        "tests/test_image_rauc.py::test_a_bundle_signed_with_the_images_key_verifies_and_carries_the_same_root",
        ON_A_STATION,
    ),
    "ssh root@station rauc status": Elsewhere(
        "tests/test_image_boot_script.py::test_a_slot_marked_good_keeps_its_attempts", ON_A_STATION
    ),
}


def shown_commands(markdown: str) -> set[str]:
    """The commands ``markdown`` shows: shell block lines, and inline code that starts with a program."""
    commands: set[str] = set()
    for language, block in re.findall(r"^ *```(\w*)\n(.*?)^ *```", markdown, flags=re.MULTILINE | re.DOTALL):
        if language not in ("", "sh"):  # toml, json, yaml: configuration, not commands
            continue
        for line in block.replace("\\\n", " ").splitlines():
            command = " ".join(re.sub(r"(^|\s)#.*", "", line).split())
            if command:
                commands.add(command)
    prose = re.sub(r"^ *```.*?^ *```", "", markdown, flags=re.MULTILINE | re.DOTALL)
    for code in re.findall(r"`([^`]+)`", prose):
        command = " ".join(code.replace("\\|", "|").split())  # a table cell escapes its pipes
        if PROGRAM.match(command):
            commands.add(command)
    return commands


def test_every_command_is_accounted_for() -> None:
    shown = set().union(*(shown_commands(readme.read_text()) for readme in READMES))
    assert sorted(shown - RUN.keys() - ELSEWHERE.keys()) == []  # new: add it to RUN or ELSEWHERE
    assert sorted((RUN.keys() | ELSEWHERE.keys()) - shown) == []  # gone from the READMEs
    assert sorted(RUN.keys() & ELSEWHERE.keys()) == []


@pytest.mark.parametrize("shown", sorted({e.test for e in ELSEWHERE.values() if e.test}))
def test_the_covering_tests_exist(shown: str) -> None:
    path, name = shown.split("::")
    assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), flags=re.MULTILINE), shown


def test_the_command_finder_reads_blocks_and_inline_code() -> None:
    markdown = (
        "Run `release-station status` or `.ci/run`,\n"
        "not `python3`, `image-build/README.md` or `release-station.toml`.\n"
        "| `release-station config check \\| show` |\n"
        "```sh\nimage-build/ci.sh   # CI\n```\n"
        "  ```\n  .venv/bin/pip download \\\n  -d /tmp/w X==1\n\n  ```\n"
        "```yaml\nrule_files: [alerts.yml]\n```\n"
    )
    assert shown_commands(markdown) == {
        "release-station status",
        ".ci/run",
        "release-station config check | show",
        "image-build/ci.sh",
        ".venv/bin/pip download -d /tmp/w X==1",
    }


@pytest.mark.parametrize("shown", sorted(RUN))
def test_a_readme_command_succeeds(
    shown: str,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.auto_approve_device = emulator.printers[0].id
    config = Path(config_for(tmp_path, emulator))
    config.write_text(config.read_text() + '[reader]\nkind = "simulated"\n')
    badges = tmp_path / "badges.csv"
    badges.write_text("badge,user_id,name\n0012345678,u-ann,Ann Arbor\n")
    monkeypatch.setattr("getpass.getpass", lambda prompt: TECH_PIN)  # `pin set` and `pin hash` ask
    for command in RUN[shown]:
        argv = shlex.split(command.format(file=badges, email=emulator.users[0].email))
        assert main(["--config", str(config), *argv]) == EXIT_OK, command
    assert capsys.readouterr().out  # each says what it did


def test_the_card_learn_example_finds_the_chain_the_readme_names(capsys: pytest.CaptureFixture[str]) -> None:
    (example,) = RUN["release-station card learn 946EBD28=0683503252 E43AC9D2=3536403172 04A1B2C3=3283263748"]
    assert main(shlex.split(example)) == EXIT_OK
    assert "  reverse | hex2dec\n" in capsys.readouterr().out
