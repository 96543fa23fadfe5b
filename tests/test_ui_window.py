"""The station window under a real X server (Xvfb): xdotool clicks arrive as touches, the QR code
read back from a screen grab is the sign-in URL. Screen grabs are kept in artifacts/screenshots/.

The window runs in a child process, as on the kiosk; the test talks to it over stdin/stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ui.canned import QR_URL

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "screenshots"
TITLE = "release-station-window-test"
TOOLS = ("Xvfb", "xdotool", "zbarimg", "xdpyinfo", "xwininfo")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason=f"needs {', '.join(TOOLS)}"),
]

CHILD = f"""
import json, sys, threading
from ui.app import StationUi
from ui.canned import canned_views
from ui.display import Display

views = canned_views()
display = Display(resolution="800x480", fullscreen=False, title={TITLE!r})

def say(*parts):
    print(*parts, flush=True)

def on_frame(view):
    targets = {{t.label: t.rect.center for t in ui.targets}}
    say("FRAME", type(view).__name__, json.dumps(targets))

ui = StationUi(display=display, submit=lambda intent: say("INTENT", repr(intent)), on_frame=on_frame)

def commands():
    for line in sys.stdin:
        ui.post_view(views[line.strip()])
    ui.quit()

threading.Thread(target=commands, daemon=True).start()
ui.run()
display.close()
"""


def _display_works(display: str) -> bool:
    env = {**os.environ, "DISPLAY": display}
    return subprocess.run(["xdpyinfo"], env=env, capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def xdisplay() -> Iterator[str]:
    existing = os.environ.get("DISPLAY", "")
    if existing and _display_works(existing):
        yield existing
        return
    number = next(n for n in range(140, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    display = f":{number}"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
    try:
        for _ in range(100):  # bounded: up to 10 s for the server to accept clients
            if _display_works(display):
                break
            time.sleep(0.1)
        else:
            pytest.fail("Xvfb did not start")
        yield display
    finally:
        server.terminate()
        server.wait(10)


class Window:
    def __init__(self, display: str) -> None:
        self.env = {**os.environ, "DISPLAY": display, "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
        self.env.pop("SDL_VIDEODRIVER", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.box = (0, 0, 0, 0)

    def send(self, view: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(view + "\n")
        self.proc.stdin.flush()

    def expect(self, kind: str, name: str = "") -> str:
        """The rest of the next line that starts with ``kind`` (and ``name``); bounded."""
        assert self.proc.stdout is not None
        for _ in range(50):
            line = self.proc.stdout.readline()
            if not line:
                pytest.fail(f"the window process ended while waiting for {kind} {name}")
            head, _, rest = line.strip().partition(" ")
            if head == kind and rest.startswith(name):
                return rest[len(name) :].strip()
        pytest.fail(f"no {kind} {name} in 50 lines")

    def run(self, *command: str) -> str:
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, check=True, timeout=30)
        return result.stdout

    def find(self) -> None:
        """Where the window is on the screen (no window manager: as SDL placed it)."""
        for line in self.run("xwininfo", "-root", "-tree").splitlines():
            if f'"{TITLE}"' in line:
                size, x, y = line.split()[-2].replace("+", " ").split()
                width, height = size.split("x")
                self.box = (int(x), int(y), int(width), int(height))
                return
        pytest.fail("the window is not on the X screen")

    def click(self, pos: list[int]) -> None:
        x, y = self.box[0] + pos[0], self.box[1] + pos[1]
        self.run("xdotool", "mousemove", "--sync", str(x), str(y), "click", "1")

    def grab(self, name: str) -> Path:
        from PIL import ImageGrab

        x, y, w, h = self.box
        image = ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=self.env["DISPLAY"])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"window-{name}.png"
        image.save(path)
        return path

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(15)


@pytest.fixture
def window(xdisplay: str) -> Iterator[Window]:
    win = Window(xdisplay)
    try:
        yield win
    finally:
        win.close()


def test_pairing_qr_code_and_clicks_through_a_session(window: Window) -> None:
    window.send("pairing")
    window.expect("FRAME", "PairingView")
    window.find()
    shot = window.grab("pairing")
    decoded = subprocess.run(
        ["zbarimg", "--raw", "-q", str(shot)], capture_output=True, text=True, check=True
    )
    assert decoded.stdout.strip() == QR_URL

    window.send("session")
    targets = json.loads(window.expect("FRAME", "SessionView"))
    window.grab("session")
    window.click(targets["Meeting notes"])
    assert window.expect("INTENT") == "ToggleJob(job_id='job-2')"
    window.click(targets["Print all"])
    assert window.expect("INTENT") == "ReleaseAll()"

    window.send("releasing")
    window.expect("FRAME", "ReleasingView")
    window.grab("releasing")
    window.send("done")
    targets = json.loads(window.expect("FRAME", "DoneView"))
    window.grab("done")
    window.click(targets["Done"])
    assert window.expect("INTENT") == "Done()"
