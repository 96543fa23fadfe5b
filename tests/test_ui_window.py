"""The station window under a real X server (Xvfb): xdotool clicks arrive as touches, the QR code
read back from a screen grab is the sign-in URL. Screen grabs are kept in artifacts/screenshots/.

The window runs in a child process, as on the kiosk; the test talks to it over stdin/stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.x11 import MISSING_TOOLS, ROOT, SCREENSHOTS, XWindow, decode_qr, x_display
from ui.canned import PAIRING_URL

TITLE = "release-station-window-test"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING_TOOLS), reason=f"needs {', '.join(MISSING_TOOLS)}"),
]

CHILD = f"""
import json, sys, threading
from ui.kiosk import StationUi
from ui.canned import canned_views
from ui.display import Display

views = canned_views()
display = Display(resolution="800x480", fullscreen=False, title={TITLE!r})

def say(*parts):
    print(*parts, flush=True)

def on_frame(view):
    targets = {{t.label: t.rect.center for t in ui.targets}}
    say("FRAME", type(view.mode).__name__, json.dumps(targets))

ui = StationUi(display=display, submit=lambda intent: say("INTENT", repr(intent)), on_frame=on_frame)

def commands():
    for line in sys.stdin:
        ui.post_view(views[line.strip()])
    ui.quit()

threading.Thread(target=commands, daemon=True).start()
ui.run()
display.close()
"""


@pytest.fixture(scope="module")
def xdisplay() -> Iterator[str]:
    with x_display() as display:
        yield display


class Window(XWindow):
    """The canned-view window in a child process, driven over stdin and stdout."""

    def __init__(self, display: str) -> None:
        super().__init__(display, TITLE)
        self.env.pop("SDL_VIDEODRIVER", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

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

    def shot(self, name: str) -> Path:
        return self.save(SCREENSHOTS, f"window-{name}")

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
    window.expect("FRAME", "Pairing")
    assert window.find(), "the window is not on the X screen"
    assert decode_qr(window.shot("pairing")) == PAIRING_URL

    window.send("session")
    targets = json.loads(window.expect("FRAME", "Picking"))
    window.shot("session")
    window.click(tuple(targets["Meeting notes"]))
    assert window.expect("INTENT") == "ToggleJob(job_id='job-2')"
    window.click(tuple(targets["Print all"]))
    assert window.expect("INTENT") == "ReleaseAll()"

    window.send("releasing")
    window.expect("FRAME", "Releasing")
    window.shot("releasing")
    window.send("done")
    targets = json.loads(window.expect("FRAME", "Done"))
    window.shot("done")
    window.click(tuple(targets["Done"]))
    assert window.expect("INTENT") == "Done()"
