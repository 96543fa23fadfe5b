"""A real X server for window tests: Xvfb, finding a window, screen grabs, xdotool clicks and keys.

``x_display()`` yields ``$DISPLAY`` when it answers (``.ci/dev test`` starts Xvfb on :99), else
starts its own Xvfb on a free display number and stops it afterwards. :class:`XWindow` finds a
top-level window by its title (there is no window manager: it stays where SDL put it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
TOOLS = ("Xvfb", "xdotool", "zbarimg", "xdpyinfo", "xwininfo")
MISSING_TOOLS = [tool for tool in TOOLS if shutil.which(tool) is None]
START_TRIES = 100  # x 0.1 s for Xvfb to accept clients


def display_works(display: str) -> bool:
    env = {**os.environ, "DISPLAY": display}
    return subprocess.run(["xdpyinfo"], env=env, capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def x_display() -> Iterator[str]:
    """A working X display: ``$DISPLAY``, or a private Xvfb for as long as the block runs."""
    existing = os.environ.get("DISPLAY", "")
    if existing and display_works(existing):
        yield existing
        return
    number = next(n for n in range(140, 240) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    display = f":{number}"
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pause = threading.Event()
        for _ in range(START_TRIES):
            if display_works(display):
                break
            pause.wait(0.1)
        else:
            pytest.fail("Xvfb did not start")
        yield display
    finally:
        server.terminate()
        server.wait(10)


def decode_qr(image: Path) -> str:
    """The text of the QR code in ``image`` (zbarimg), or "" when it finds none."""
    command = ["zbarimg", "--raw", "-q", str(image)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return result.stdout.strip()


class XWindow:
    """A top-level window on ``display``, found by its exact title."""

    def __init__(self, display: str, title: str) -> None:
        self.env = {**os.environ, "DISPLAY": display}
        self.title = title
        self.box = (0, 0, 0, 0)

    def run(self, *command: str) -> str:
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, check=True, timeout=30)
        return result.stdout

    def find(self) -> bool:
        """Look the window up; False while it is not mapped yet."""
        for line in self.run("xwininfo", "-root", "-tree").splitlines():
            if f'"{self.title}"' in line:
                size, x, y = line.split()[-2].replace("+", " ").split()
                width, height = size.split("x")
                self.box = (int(x), int(y), int(width), int(height))
                return True
        return False

    def grab(self) -> object:
        """The window's pixels now, as a PIL image."""
        from PIL import ImageGrab

        x, y, w, h = self.box
        return ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=self.env["DISPLAY"])

    def save(self, folder: Path, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        self.grab().save(path)  # type: ignore[attr-defined]
        return path

    def click(self, pos: tuple[int, int]) -> None:
        """A mouse click at ``pos`` inside the window."""
        x, y = self.box[0] + pos[0], self.box[1] + pos[1]
        # No --sync: it waits for a motion, and there is none when the pointer is there already.
        self.run("xdotool", "mousemove", str(x), str(y), "click", "1")

    def key(self, key: str) -> None:
        """A key press, with the pointer on the window (no window manager: focus follows it)."""
        x, y, w, h = self.box
        self.run("xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "key", key)
