"""``release-station pair|status|unpair`` and ``demo`` against the emulator.

The pairing command runs as a real process while a person approves its code in a real
(headless) Chromium; its terminal QR code is decoded with zbar to prove it carries the URL.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from station.cli import EXIT_CONFIG, main
from station.cli.cmd_demo import run_headless
from station.cloud.tokens import TokenStore
from station.database import open_database
from station.emulator import Emulator
from tests.support.approval_page import approve_on_printer, sign_in
from tests.support.cloud import HARDWARE_ID as HW
from tests.support.cloud import config_for

ROOT = Path(__file__).resolve().parent.parent
# Half-block characters of segno's compact terminal QR code: (top, bottom), True = dark module.
HALF_BLOCKS = {"█": (False, False), " ": (True, True), "▀": (False, True), "▄": (True, False)}


def shown_code(out: str) -> tuple[str, str, list[str]]:
    """The pairing code, the approval URL and the QR code's lines from ``pair``'s output."""
    lines = out.splitlines()
    code = next(line.split(": ", 1)[1] for line in lines if line.startswith("Pairing code: "))
    start = next(i for i, line in enumerate(lines) if line.startswith("Approve it at: "))
    end = next(i for i, line in enumerate(lines) if line.startswith("Waiting for approval"))
    return code, lines[start].split(": ", 1)[1], lines[start + 1 : end]


def decode_qr(lines: list[str], tmp_path: Path) -> str:
    """Read a terminal QR code back: draw it as an image and let zbar decode it."""
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "zbarimg (zbar-tools) is needed to read the terminal QR code"
    width, scale = max(len(line) for line in lines), 8
    image = Image.new("1", (width * scale, len(lines) * 2 * scale), 1)
    for row, line in enumerate(lines):
        for column, char in enumerate(line):
            for half, dark in enumerate(HALF_BLOCKS[char]):
                if dark:
                    box = (column * scale, (row * 2 + half) * scale)
                    image.paste(0, (*box, box[0] + scale, box[1] + scale))
    path = tmp_path / "qr.png"
    image.save(path)
    result = subprocess.run(
        [zbarimg, "--quiet", "--raw", str(path)], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_pair_status_unpair(
    profiled_emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator = profiled_emulator
    # The CLI polls every 5 s like the real service; the emulator approves at the first poll.
    emulator.auto_approve_device = emulator.printers[1].id
    config = config_for(tmp_path, emulator)
    assert main(["--config", config, "status"]) == 0
    assert "paired: no" in capsys.readouterr().out
    assert main(["--config", config, "pair"]) == 0
    out = capsys.readouterr().out
    code, url, qr = shown_code(out)
    assert code in url and "/auth/signin/" in url
    assert decode_qr(qr, tmp_path) == url
    assert "Bound printer: Floor 3 Colour" in out
    assert main(["--config", config, "pair"]) == 0
    assert "paired already" in capsys.readouterr().out
    assert main(["--config", config, "status"]) == 0
    out = capsys.readouterr().out
    assert f"hardware id: {HW}" in out
    assert "paired: yes" in out and "tp_id: 1002" in out and "valid for" in out
    assert f"printer: Floor 3 Colour ({emulator.printers[1].id})" in out  # not a twin of it
    assert main(["--config", config, "unpair"]) == 0
    assert capsys.readouterr().out.strip() == "Unpaired."
    assert emulator.stats()["revoke"] == 1
    assert main(["--config", config, "status"]) == 0
    assert "paired: no" in capsys.readouterr().out
    assert main(["--config", config, "unpair"]) == 0
    assert capsys.readouterr().out.strip() == "The station is not paired."


def test_unpair_while_ezeep_is_unreachable_still_forgets(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.auto_approve_device = emulator.printers[0].id
    config = config_for(tmp_path, emulator)
    assert main(["--config", config, "pair"]) == 0
    emulator.set_faults(offline=True)
    capsys.readouterr()
    assert main(["--config", config, "unpair"]) == 0
    assert "ezeep could not be told" in capsys.readouterr().out
    assert main(["--config", config, "status"]) == 0
    assert "paired: no" in capsys.readouterr().out


def test_pair_needs_a_client_id_and_status_does_not(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(tmp_path, emulator, client_id="")
    assert main(["--config", config, "pair"]) == EXIT_CONFIG
    assert main(["--config", config, "status"]) == 0
    assert "paired: no" in capsys.readouterr().out


def test_the_derived_hardware_id_is_kept_in_the_state_directory(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Path(config_for(tmp_path, emulator))
    config.write_text(config.read_text().replace(f'hardware_id = "{HW}"', 'hardware_id = ""'))
    if main(["--config", str(config), "status"]) != 0:
        pytest.skip("this machine has no serial number and no machine-id to derive an id from")
    shown = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("hardware id: "))
    kept = (tmp_path / "state" / "hardware-id").read_text().strip()
    assert shown == f"hardware id: {kept}"


@pytest.mark.chromium
@pytest.mark.slow
def test_pair_command_while_a_person_approves_in_chromium(
    emulator: Emulator, browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The station's own pairing client, end to end: ``release-station pair`` runs as a process
    and polls the emulator while someone signs in on the approval page, picks a printer and
    approves; the command then reports that printer and the station is bound to it."""
    config = config_for(tmp_path, emulator)
    chosen = emulator.printers[1]
    command = [sys.executable, "-m", "station", "--config", config, "pair"]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as pair:
        assert pair.stdout is not None
        shown: list[str] = []
        for _ in range(200):  # the code, the URL, the QR code: well under 200 lines
            shown.append(pair.stdout.readline())
            if shown[-1].startswith("Waiting for approval") or not shown[-1]:
                break
        code, url, _qr = shown_code("".join(shown))
        page = browser.new_page()
        sign_in(page, url, emulator.users[1].email)
        approve_on_printer(page, code, chosen.id)
        page.close()
        out, err = pair.communicate(timeout=60)
    assert pair.returncode == 0, err
    assert f"Bound printer: {chosen.name}" in out
    assert emulator.binding(HW) == chosen.tp_id
    assert main(["--config", config, "status"]) == 0
    assert f"tp_id: {chosen.tp_id}" in capsys.readouterr().out


def test_demo_exits_0_when_the_jobs_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    # Plain `demo` opens the station window (tests/test_e2e_station.py); this is the headless one.
    assert main(["demo", "--headless"]) == 0
    out = capsys.readouterr().out
    assert "Paired." in out and "4 of 4 job(s) printed" in out


def test_a_whole_run_logs_no_token(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Everything the commands and the emulator log at DEBUG, through the real handler."""
    emulator.auto_approve_device = emulator.printers[0].id
    config = config_for(tmp_path, emulator)
    debug = ["--log-level", "DEBUG", "--config", config]
    assert main([*debug, "pair"]) == 0
    stored = TokenStore(open_database(tmp_path / "state" / "station.db")).load()
    assert stored is not None and stored.pair is not None
    secrets = {stored.pair.access_token, stored.pair.refresh_token}
    assert main([*debug, "status"]) == 0
    assert main([*debug, "unpair"]) == 0
    assert run_headless(sys.stdout, state_dir=tmp_path / "demo") == 0
    demo = TokenStore(open_database(tmp_path / "demo" / "station.db")).load()
    assert demo is not None and demo.pair is not None
    secrets |= {demo.pair.access_token, demo.pair.refresh_token}
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "DEBUG" in text and "pairing approved" in text  # the run did log, at DEBUG
    for secret in secrets:
        assert secret not in text
        assert secret.split(".")[-1] not in text  # not even a JWT's signature part
