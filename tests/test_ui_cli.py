"""``screenshots``, ``run`` wiring and the systemd notification protocol."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import socket
from pathlib import Path

import pytest

from station.cli import main
from station.cli.app import SdNotify


def test_sd_notify_sends_datagrams_to_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notify = SdNotify(
            {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
        )
        assert notify.watchdog_s == 30.0
        assert notify.send("READY=1")
        assert notify.send("WATCHDOG=1")
        assert server.recv(64) == b"READY=1"
        assert server.recv(64) == b"WATCHDOG=1"


def test_sd_notify_is_silent_outside_systemd() -> None:
    notify = SdNotify({})
    assert notify.watchdog_s is None
    assert not notify.send("READY=1")


def test_sd_notify_ignores_a_watchdog_meant_for_another_process() -> None:
    assert SdNotify({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_s is None


def test_sd_notify_reports_a_vanished_socket(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert not SdNotify({"NOTIFY_SOCKET": str(tmp_path / "gone")}).send("READY=1")
    assert "cannot notify systemd" in caplog.text


@pytest.mark.slow
def test_screenshots_command_writes_every_screen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screenshots", "--out", str(tmp_path)]) == 0
    files = list(tmp_path.rglob("*.png"))
    assert (tmp_path / "de" / "720x720" / "pairing.png") in files
    assert len({f.parent for f in files}) == 8  # 2 languages x 4 sizes
    assert "screenshots" in capsys.readouterr().out
