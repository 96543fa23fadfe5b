"""Living under systemd: ``sd_notify`` datagrams, and SIGTERM / SIGINT as a stop request."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path

import pytest

from station.cli.systemd import SdNotify, StopSignals, unfinished_threads


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


def test_sd_notify_never_blocks_on_a_full_queue(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)  # an earlier CLI test may have left station logging at DEBUG
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))  # nobody reads: the queue fills up
        notify = SdNotify({"NOTIFY_SOCKET": str(path)})
        sent = [notify.send("WATCHDOG=1") for _ in range(500)]
        assert sent[0] and not sent[-1]
        assert server.recv(64) == b"WATCHDOG=1"
    assert caplog.text.count("cannot notify systemd") == 1  # once per run of failures


def test_sd_notify_reaches_an_abstract_socket() -> None:
    name = f"release-station-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        assert SdNotify({"NOTIFY_SOCKET": "@" + name}).send("READY=1")
        assert server.recv(64) == b"READY=1"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signals_call_back_on_a_helper_thread(signum: int) -> None:
    got: list[tuple[int, str]] = []
    called = threading.Event()

    def on_signal(number: int) -> None:
        got.append((number, threading.current_thread().name))
        called.set()

    before = signal.getsignal(signum)
    with StopSignals(on_signal):
        os.kill(os.getpid(), signum)
        assert called.wait(10)
    assert got == [(signum, "stop-signals")]
    assert signal.getsignal(signum) is before  # put back
    assert signal.set_wakeup_fd(-1) == -1  # and the wake-up pipe is gone


def test_stop_signals_do_nothing_off_the_main_thread() -> None:
    outcome: list[object] = []

    def enter() -> None:
        with StopSignals(lambda signum: None) as signals:
            outcome.append(signals)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join(10)
    assert len(outcome) == 1 and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_unfinished_threads_names_the_ones_left() -> None:
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, name="stuck-in-the-network")
    stuck.start()
    try:
        assert "stuck-in-the-network" in unfinished_threads(0.01)  # other tests may leave theirs
    finally:
        release.set()
        stuck.join()
    assert "stuck-in-the-network" not in unfinished_threads(0.01)
