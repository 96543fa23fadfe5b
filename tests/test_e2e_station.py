"""The real station end to end: ``release-station run`` as its own process against an ezeep
emulator this test owns, the way systemd runs it (``$NOTIFY_SOCKET``, SIGTERM).

With a screen (Xvfb): the pairing QR code is read back from a screen grab (zbarimg) and approved
in Chromium (or through the emulator when there is none), a badge is tapped through the
simulated reader's Unix socket, "Print all" and "Done" are clicked with xdotool, and the
emulator counts one release per job. Screen grabs of every step go to
``artifacts/screenshots/e2e/``.

Where to click and when: the test draws the expected screen itself with the station's own UI
code (same fonts, same size) and waits, bounded, until the window shows the same pixels in the
button's (or headline's) rectangle. No assertion is about time, except the stop itself:
systemd kills a service that takes longer than its 5 s ``TimeoutStopSec``.
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # this process only draws off-screen

import dataclasses
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pygame
import pytest

from station.audit import AuditLog
from station.cli.compose import LAST_CONTACT
from station.cloud.models import Job
from station.core import view as v
from station.core.health import Ready
from station.core.session import Done, Picking
from station.core.state import User
from station.database import open_database
from station.directory import Directory
from station.emulator import Emulator
from station.pin import hash_pin
from station.pin_handoff import HANDOFF_FILE, Handoff
from tests.support.approval_page import approve_on_printer, sign_in
from tests.support.emulator_http import wait_for_slow_done
from tests.support.x11 import MISSING_TOOLS, ROOT, SCREENSHOTS, XWindow, decode_qr, x_display
from ui.display import Display
from ui.kiosk import StationUi

SHOTS = SCREENSHOTS / "e2e"
HARDWARE_ID = "6a1f1c3e-8d2b-4f53-9d3e-2b7c1e0a9f41"
SIZE = (800, 480)
WAIT_S = 60.0  # bound on every wait: a broken station fails the test instead of hanging it
STOP_TIMEOUT_S = 5.0  # the unit's TimeoutStopSec
BADGE = "04E2E0000000A1"

needs_x = pytest.mark.skipif(bool(MISSING_TOOLS), reason=f"needs {', '.join(MISSING_TOOLS)}")


@pytest.fixture(scope="module")
def xdisplay() -> Iterator[str]:
    with x_display() as display:
        yield display


def enrol(state_dir: Path, emulator: Emulator, index: int) -> str:
    """Link :data:`BADGE` to seeded user ``index`` (as ``badges add`` does); returns the email."""
    user = emulator.users[index]
    db = open_database(state_dir / "station.db")
    try:
        Directory(db).enrol(BADGE, user.id, email=user.email, how="cli")
    finally:
        db.close()
    return user.email


class Station:
    """``release-station run`` in a child process, with its systemd notify socket and log."""

    def __init__(
        self, folder: Path, cloud_url: str, *, mode: str, env: dict[str, str], extra: str, cloud: str = ""
    ) -> None:
        self.folder = folder
        self.name = f"E2E station {uuid.uuid4().hex[:8]}"
        self.reader_socket = folder / "reader.sock"
        self.state_dir = folder / "state"
        config = folder / "station.toml"
        config.write_text(
            f"""
[station]
name = "{self.name}"
state_dir = "{self.state_dir}"
hardware_id = "{HARDWARE_ID}"
release_mode = "{mode}"

[cloud]
account_url = "{cloud_url}"
api_url = "{cloud_url}"
print_url = "{cloud_url}"
client_id = "e2e-tests"
{cloud}

[reader]
kind = "simulated"
simulated_socket = "{self.reader_socket}"

[ui]
resolution = "{SIZE[0]}x{SIZE[1]}"
fullscreen = false
dim_after_s = 0
{extra}"""
        )
        # The technician PIN as first boot hands it over from system.toml: else it asks for one.
        (folder / HANDOFF_FILE).write_bytes(Handoff(hash_pin("24681357")).to_bytes())
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(folder / "notify"))
        self.notify.settimeout(0.5)  # how often the listener looks whether the test is over
        self.notes: list[str] = []
        self.noted = threading.Condition()
        self.listening = True
        self.listener = threading.Thread(target=self.listen, daemon=True)
        self.listener.start()
        self.env = {
            **os.environ,
            **env,
            "NOTIFY_SOCKET": str(folder / "notify"),
        }
        self.env.pop("SDL_VIDEODRIVER", None)
        self.config = config
        self.log = folder / "station.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *command: str) -> None:
        """``release-station --config … COMMAND…`` in a child process."""
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "station", "--config", str(self.config), *command],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def listen(self) -> None:
        """Read every notification at once, as systemd does (a full queue would drop them)."""
        while self.listening:
            try:
                note = self.notify.recv(256).decode()
            except TimeoutError:
                continue
            with self.noted:
                self.notes.append(note)
                self.noted.notify_all()

    def notified(self, state: str) -> list[str]:
        """Every notification so far, once ``state`` is among them; fails if it does not come."""
        with self.noted:
            if not self.noted.wait_for(lambda: state in self.notes, WAIT_S):
                pytest.fail(f"no {state} from the station; got {self.notes[-5:]}\n{self.log_text()}")
            return list(self.notes)

    def tap(self, uid_hex: str) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(WAIT_S)
            conn.connect(str(self.reader_socket))
            conn.sendall(f"tap {uid_hex}\n".encode())
            assert conn.recv(64) == b"ok\n"

    def terminate(self, signum: int = signal.SIGTERM) -> int:
        """SIGTERM, as systemd stops the service (or SIGINT, Ctrl-C); the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the station did not stop within {STOP_TIMEOUT_S} s\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.listening = False
        self.listener.join()
        self.notify.close()


@pytest.fixture
def make_station(tmp_path: Path) -> Iterator[Any]:
    made: list[Station] = []

    def make(
        cloud_url: str,
        *,
        mode: str = "all",
        env: dict[str, str] | None = None,
        extra: str = "",
        cloud: str = "",
    ) -> Station:
        folder = tmp_path / f"s{len(made)}"  # short: a Unix socket path has at most 107 bytes
        folder.mkdir()
        station = Station(folder, cloud_url, mode=mode, env=env or {}, extra=extra, cloud=cloud)
        made.append(station)
        return station

    yield make
    for station in made:
        station.close()


def wait_for(what: str, check: Any, station: Station) -> Any:
    """Poll ``check()`` until it returns something truthy; bounded by :data:`WAIT_S`."""
    pause = threading.Event()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert station.proc is not None
        if station.proc.poll() is not None:
            pytest.fail(f"the station ended while waiting for {what}\n{station.log_text()}")
        pause.wait(0.2)
    pytest.fail(f"gave up waiting for {what}\n{station.log_text()}")


# --- the expected pictures ------------------------------------------------------------------------


def _info(emulator: Emulator, name: str) -> v.StationInfo:
    printer = emulator.printers[0]
    return v.StationInfo(
        station_name=name,
        release_mode="pick",
        printer_name=printer.name,
        printer_location=printer.location,
        cloud="ok",
        reader="ok",
        printer="ok",
        paired=True,
    )


@dataclasses.dataclass(frozen=True)
class Region:
    """A rectangle of the window and the pixels it must show."""

    rect: pygame.Rect
    pixels: bytes

    @property
    def centre(self) -> tuple[int, int]:
        return self.rect.center


class Drawer:
    """Draws views as the station does (the UI loop itself, on SDL's dummy driver here)."""

    def __init__(self, hint: str = "") -> None:
        self.display = Display(resolution=f"{SIZE[0]}x{SIZE[1]}", fullscreen=False)
        self.ui = StationUi(display=self.display, submit=lambda intent: None, hint=hint)

    def expected(self, view: v.View, *, label: str = "", text: str = "") -> Region:
        """The button labelled ``label``, or where ``text`` is drawn, as ``view`` shows it."""
        self.ui.show(view)
        self.ui.refresh()
        if label:
            rect = next(t.rect for t in self.ui.targets if t.label == label)
        else:
            rect = next(d.used for d in self.ui.draws if d.text == text)
        return Region(rect, pygame.image.tobytes(self.display.logical.subsurface(rect), "RGB"))


@pytest.fixture
def make_drawer() -> Iterator[Any]:
    made: list[Drawer] = []

    def make(hint: str = "") -> Drawer:
        made.append(Drawer(hint))
        return made[-1]

    yield make
    for drawer in made:
        drawer.display.close()


def shows(window: XWindow, region: Region) -> bool:
    box = region.rect
    shot: Any = window.grab()
    return bool(shot.crop((box.left, box.top, box.right, box.bottom)).tobytes() == region.pixels)


def wait_shows(window: XWindow, station: Station, region: Region, step: str) -> None:
    wait_for(step, lambda: shows(window, region), station)
    window.save(SHOTS, step)


# --- the tests --------------------------------------------------------------------------------------


def approve(url: str, emulator: Emulator, request: pytest.FixtureRequest) -> None:
    """Approve the pairing behind ``url`` as a technician would, in Chromium (else through the emulator)."""
    printer = emulator.printers[0]
    next_url = parse_qs(urlsplit(url).query)["next"][0]
    code = parse_qs(urlsplit(next_url).query)["pairing_code"][0]
    try:
        browser = request.getfixturevalue("browser")
    except pytest.skip.Exception:
        emulator.approve(code, email=emulator.users[0].email, printer_id=printer.id)
        return
    page = browser.new_page()
    try:
        sign_in(page, url, emulator.users[0].email)
        approve_on_printer(page, code, printer.id)
    finally:
        page.close()


def release_all(window: XWindow, station: Station, drawer: Drawer, info: v.StationInfo, step: int) -> None:
    """On the user's list, "Print all"; then "Done" on the summary. Screen grabs of both."""
    who = User("u", "")
    session = Picking(1, "", who, expires_at=0, jobs=(Job("j", "j", None, 1, "u"),), busy="")
    print_all = drawer.expected(v.View(info, session), label="Print all")
    wait_shows(window, station, print_all, f"{step:02}-session")
    window.click(print_all.centre)
    done = drawer.expected(v.View(info, Done(1, "", "released", expires_at=0)), label="Done")
    wait_shows(window, station, done, f"{step + 1:02}-done")
    window.click(done.centre)


@pytest.mark.slow
@needs_x
def test_pair_tap_and_release_in_the_window(
    make_station: Any, emulator: Emulator, xdisplay: str, make_drawer: Any, request: pytest.FixtureRequest
) -> None:
    drawer: Drawer = make_drawer()
    station: Station = make_station(emulator.url, mode="pick", env={"DISPLAY": xdisplay})
    email = enrol(station.state_dir, emulator, 3)  # four waiting jobs
    waiting = {job["id"] for job in emulator.waiting_jobs(email)}
    station.start("run")
    station.notified("READY=1")
    window = XWindow(xdisplay, station.name)
    wait_for("the window", window.find, station)
    assert window.box[2:] == SIZE

    # The QR code on screen is the sign-in address of the pairing, and approving it works.
    url = wait_for("a QR code", lambda: decode_qr(window.save(SHOTS, "01-pairing")), station)
    assert url.startswith(f"{emulator.url}/") and "pairing_code" in url
    approve(url, emulator, request)
    info = _info(emulator, station.name)
    paired = drawer.expected(v.View(info, Ready(just_paired=True)), text="Paired. Tap a badge to test.")
    wait_shows(window, station, paired, "02-paired")

    station.tap(BADGE)
    release_all(window, station, drawer, info, 3)
    assert emulator.release_counts() == dict.fromkeys(waiting, 1)
    assert emulator.waiting_jobs(email) == []
    wait_shows(window, station, drawer.expected(v.View(info, Ready()), text="Tap your badge"), "05-ready")

    assert station.terminate() == 0
    station.notified("STOPPING=1")
    assert "station stopped" in station.log_text()
    assert BADGE not in station.log_text().upper()


@pytest.mark.slow
@needs_x
def test_the_demo_window_taps_with_number_keys(
    make_station: Any, emulator: Emulator, xdisplay: str, make_drawer: Any
) -> None:
    from ui.kiosk import DEMO_HINT

    drawer: Drawer = make_drawer(DEMO_HINT)
    station: Station = make_station("http://127.0.0.1:9", env={"DISPLAY": xdisplay})  # the demo's own
    station.start("demo", "--auto-approve", "--no-browser")
    line = wait_for("the emulator", lambda: re.search(r"listening on (\S+)", station.log_text()), station)
    demo_url = line.group(1)
    window = XWindow(xdisplay, station.name)
    wait_for("the window", window.find, station)
    info = _info(emulator, station.name)  # the demo's emulator has the same seeded printers
    paired = drawer.expected(v.View(info, Ready(just_paired=True)), text="Paired. Tap a badge to test.")
    wait_shows(window, station, paired, "demo-1-paired")

    window.key("4")  # the fourth seeded user: four waiting jobs
    release_all(window, station, drawer, info, 2)
    counts = httpx.get(f"{demo_url}/_emulator/release-counts", timeout=10).json()
    assert sorted(counts.values()) == [1, 1, 1, 1]

    window.key("0")  # nobody's badge: the self-enrolment offer, with its QR code
    url = wait_for("the enrolment QR code", lambda: decode_qr(window.save(SHOTS, "demo-4-unknown")), station)
    assert url.startswith(f"{demo_url}/")

    assert station.terminate(signal.SIGINT) == 0


@pytest.mark.slow
def test_headless_run_releases_a_tap_and_stops_on_sigterm(
    make_station: Any, profiled_emulator: Emulator, tmp_path: Path
) -> None:
    emulator = profiled_emulator  # under strict: the user's jobs among everybody's, twins, a queue
    emulator.auto_approve_device = emulator.printers[0].id
    (tmp_path / "metrics").mkdir()  # node_exporter's textfile directory
    metrics = f"[metrics]\ntextfile_dir = '{tmp_path / 'metrics'}'\n"
    station: Station = make_station(emulator.url, env={"WATCHDOG_USEC": "200000"}, extra=metrics)
    email = enrol(station.state_dir, emulator, 1)
    waiting = {job["id"] for job in emulator.waiting_jobs(email)}
    station.start("run", "--headless")
    station.notified("READY=1")
    station.notified("WATCHDOG=1")
    wait_for("the ready state", lambda: "Pairing -> Idle" in station.log_text(), station)
    assert "to pair this station, open http://127.0.0.1" in station.log_text()
    assert emulator.binding(HARDWARE_ID) is not None

    station.tap(BADGE)
    wait_for("the release", lambda: emulator.release_counts().keys() == waiting, station)
    wait_for("the summary", lambda: "Releasing -> Done" in station.log_text(), station)
    assert emulator.release_counts() == dict.fromkeys(waiting, 1)

    assert station.terminate() == 0
    assert station.notified("STOPPING=1")[-1] == "STOPPING=1"  # the last word
    assert "got SIGTERM; stopping" in station.log_text()
    written = (tmp_path / "metrics" / "release_station.prom").read_text()  # last at the stop
    contact = [line for line in written.splitlines() if line.startswith(LAST_CONTACT + " ")]
    assert len(contact) == 1 and float(contact[0].split()[1]) > 0  # ezeep answered
    for line in (
        'release_station_taps_total{result="known"} 1',
        f'release_station_releases_total{{outcome="printed"}} {len(waiting)}',
        'release_station_token_state{state="paired"} 1',
        'release_station_reader_up{reader="simulated"} 1',
    ):
        assert line in written.splitlines()


@pytest.mark.slow
def test_a_trickling_or_huge_answer_never_stalls_the_watchdog_or_the_stop(
    make_station: Any, emulator: Emulator
) -> None:
    emulator.auto_approve_device = emulator.printers[0].id
    station: Station = make_station(
        emulator.url, env={"WATCHDOG_USEC": "200000"}, cloud="request_deadline_s = 2.0"
    )
    email = enrol(station.state_dir, emulator, 1)
    station.start("run", "--headless")
    station.notified("READY=1")
    wait_for("the ready state", lambda: "Pairing -> Idle" in station.log_text(), station)

    # The job list trickles in one byte every half second: the tap's request ends at its
    # 2 s deadline, and systemd hears from the station all the while.
    emulator.set_faults(trickle_s=0.5, trickle_path="/printing/v1/printjobs/")
    before = len(station.notified("WATCHDOG=1"))
    station.tap(BADGE)
    wait_for("the deadline", lambda: "failed: offline (DeadlineError)" in station.log_text(), station)
    pings = station.notified("WATCHDOG=1")[before:]
    assert pings.count("WATCHDOG=1") >= 5, pings

    # A 1 GB answer is refused after the first MiB, and the station carries on.
    emulator.set_faults(trickle_s=0, huge_body_bytes=1024**3)
    station.tap(BADGE)
    wait_for("the refusal", lambda: "failed: bad_answer (BadAnswerError)" in station.log_text(), station)
    assert emulator.stats()["flood_bytes"] < 64 * 1024**2
    wait_for("the summary", lambda: "Identifying -> Done" in station.log_text(), station)
    station.tap(BADGE)  # the same badge on the summary: back to the start
    wait_for("the start", lambda: "Done -> Idle" in station.log_text(), station)

    # Stopped while an answer trickles: the request's deadline lets the stop finish in time.
    emulator.set_faults(huge_body_bytes=0, trickle_s=0.5)
    station.tap(BADGE)
    wait_for("the third tap", lambda: station.log_text().count("Idle -> Identifying") == 3, station)
    assert station.terminate() == 0
    assert station.notified("STOPPING=1")[-1] == "STOPPING=1"
    assert emulator.release_counts() == {}
    assert {job["id"] for job in emulator.waiting_jobs(email)}  # nothing lost


@pytest.mark.slow
def test_headless_run_with_self_enrolment_off_only_says_ask_and_keeps_the_audit_key_apart(
    make_station: Any, emulator: Emulator
) -> None:
    emulator.auto_approve_device = emulator.printers[0].id
    station: Station = make_station(emulator.url, extra="[enrolment]\nself_service = false\n")
    station.start("run", "--headless")
    wait_for("the ready state", lambda: "Pairing -> Idle" in station.log_text(), station)
    station.tap(BADGE)  # nobody enrolled it
    wait_for("the notice", lambda: "Identifying -> Unknown" in station.log_text(), station)
    assert "Enrolling" not in station.log_text() and emulator.stats()["pair"] == 1  # no sign-in offered
    assert station.terminate() == 0
    key = station.state_dir / "audit.key"
    assert key.stat().st_mode & 0o777 == 0o600
    db = open_database(station.state_dir / "station.db")
    assert db.execute("SELECT count(*) FROM settings WHERE key LIKE 'audit.%'").fetchone()[0] == 0
    assert AuditLog(db).verify().checked >= 1
    assert BADGE not in station.log_text()


@pytest.mark.slow
def test_a_stop_with_a_release_stuck_in_flight_ends_in_time_and_quietly(
    make_station: Any, emulator: Emulator
) -> None:
    """systemd's ``TimeoutStopSec=5`` with ezeep holding the print call far longer (issue 13)."""
    emulator.auto_approve_device = emulator.printers[0].id
    station: Station = make_station(emulator.url)
    email = enrol(station.state_dir, emulator, 1)
    waiting = {job["id"] for job in emulator.waiting_jobs(email)}
    station.start("run", "--headless")
    station.notified("READY=1")
    wait_for("the ready state", lambda: "Pairing -> Idle" in station.log_text(), station)

    emulator.set_faults(slow_done_s=8.0, slow_path="/sfapi/Print/")  # longer than any stop
    station.tap(BADGE)
    wait_for("the release", lambda: "Identifying -> Releasing" in station.log_text(), station)
    asked = time.monotonic()
    assert station.terminate() == 0
    stopped_s = time.monotonic() - asked
    print(f"stop with a release in flight: {stopped_s:.2f} s")  # the figure for the note
    log = station.log_text()
    assert "Traceback" not in log and "unexpectedly" not in log, log
    assert station.notified("STOPPING=1")[-1] == "STOPPING=1"
    # The releases were in flight: they land later. The next start settles them in its journal.
    wait_for_slow_done(emulator, len(waiting))
    assert emulator.release_counts() == dict.fromkeys(waiting, 1)
    emulator.set_faults(slow_done_s=0.0)
    station.start("run", "--headless")
    wait_for("the settled journal", lambda: _journal_states(station) == {"released"}, station)
    station.tap(BADGE)  # nothing is sent twice
    wait_for("the summary", lambda: "Identifying -> Done" in station.log_text(), station)
    assert station.terminate() == 0
    assert emulator.release_counts() == dict.fromkeys(waiting, 1)


def _journal_states(station: Station) -> set[str]:
    db = open_database(station.state_dir / "station.db")
    try:
        return {str(state) for (state,) in db.execute("SELECT state FROM releases")}
    finally:
        db.close()
