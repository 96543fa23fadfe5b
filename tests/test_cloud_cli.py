"""``release-station pair|status|unpair`` and ``demo --headless`` against the emulator."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from station.cli import EXIT_CONFIG, main
from station.cli.cmd_demo import run_headless
from station.emulator import Emulator

HW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def config_for(tmp_path: Path, emulator: Emulator, client_id: str = "release-station-test") -> str:
    path = tmp_path / "station.toml"
    url = emulator.url
    path.write_text(
        f'[station]\nstate_dir = "{tmp_path / "state"}"\nhardware_id = "{HW}"\n'
        f'[cloud]\naccount_url = "{url}"\napi_url = "{url}"\nprint_url = "{url}"\nclient_id = "{client_id}"\n'
    )
    return str(path)


def test_pair_status_unpair(emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The CLI polls every 5 s like the real service; the emulator approves at the first poll.
    emulator.auto_approve_device = emulator.printers[1].id
    config = config_for(tmp_path, emulator)
    assert main(["--config", config, "status"]) == 0
    assert "paired: no" in capsys.readouterr().out
    assert main(["--config", config, "pair"]) == 0
    out = capsys.readouterr().out
    assert "Pairing code:" in out and "/auth/signin/" in out and "▀" in out  # code, URL and QR
    assert "Bound printer: Floor 3 Colour" in out
    assert main(["--config", config, "pair"]) == 0
    assert "paired already" in capsys.readouterr().out
    assert main(["--config", config, "status"]) == 0
    out = capsys.readouterr().out
    assert "paired: yes" in out and "tp_id: 1002" in out and "Floor 3 Colour" in out and "valid for" in out
    assert main(["--config", config, "unpair"]) == 0
    assert capsys.readouterr().out.strip() == "Unpaired."
    assert emulator.stats()["revoke"] == 1
    assert main(["--config", config, "status"]) == 0
    assert "paired: no" in capsys.readouterr().out


def test_pair_needs_a_client_id(emulator: Emulator, tmp_path: Path) -> None:
    assert main(["--config", config_for(tmp_path, emulator, client_id=""), "pair"]) == EXIT_CONFIG


def test_demo_headless_prints_the_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_headless(sys.stdout, state_dir=tmp_path) == 0
    out = capsys.readouterr().out
    assert "Paired." in out and "4 of 4 job(s) printed" in out
