"""A child process killed at a chosen moment, for the crash tests (SIGKILL mid-release)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_child_and_kill(script: str, args: list[str], started: str, delay_s: float) -> bool:
    """Run ``script`` in a child; SIGKILL it ``delay_s`` after it prints ``started``.

    Returns True if it printed ``done`` before the kill.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == started
        finished = threading.Event()

        def watch() -> None:
            if child.stdout is not None and child.stdout.readline().strip() == "done":
                finished.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        finished.wait(delay_s)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        watcher.join(timeout=5)
        return finished.is_set()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
