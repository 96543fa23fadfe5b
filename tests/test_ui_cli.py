"""The ``screenshots`` command."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from pathlib import Path

import pytest

from station.cli import main


@pytest.mark.slow
def test_screenshots_command_writes_every_screen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screenshots", "--out", str(tmp_path)]) == 0
    files = list(tmp_path.rglob("*.png"))
    assert (tmp_path / "de" / "720x720" / "pairing.png") in files
    assert len({f.parent for f in files}) == 8  # 2 languages x 4 sizes
    assert "screenshots" in capsys.readouterr().out
