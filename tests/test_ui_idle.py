"""An idle kiosk sleeps: under SDL's dummy driver (which, like KMSDRM, has no blocking wait of
its own) the loop blocks in the kernel, and a posted view, ``quit()`` and a touch on an input
device wake it. The loop runs on this (main) thread; a script acts from another."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pygame
import pytest

from station.core import intents
from ui.canned import canned_views
from ui.display import Display
from ui.inputdevices import input_devices
from ui.kiosk import StationUi
from ui.sdlwait import KernelWait, SdlWait, event_wait

SAFETY_S = 30.0  # a loop that no longer wakes ends here and fails its test instead of hanging
IDLE_S = 1.0  # the idle window whose wake-ups are counted


@dataclass
class Loop:
    """A kiosk and what it did: frames drawn, intents sent, heartbeats (deadline wake-ups)."""

    ui: StationUi
    frames: list[object] = field(default_factory=list)
    sent: list[object] = field(default_factory=list)
    beats: list[float] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def note(self, record: list[object], item: object) -> None:
        with self.changed:
            record.append(item)
            self.changed.notify_all()

    def wait_for(self, check: Callable[[], bool]) -> None:
        with self.changed:
            assert self.changed.wait_for(check, SAFETY_S / 3), "the loop did not get there"

    def run(self, script: Callable[[Loop], None]) -> None:
        """Run the loop here while ``script`` runs on a thread; it quits the loop when done."""
        errors: list[BaseException] = []

        def act() -> None:
            try:
                script(self)
            except BaseException as exc:  # handed to the test below
                errors.append(exc)
            finally:
                self.ui.quit()

        deadline = time.monotonic() + SAFETY_S

        def until() -> bool:  # called once per turn of the loop: the script sees each
            with self.changed:
                self.changed.notify_all()
            return time.monotonic() > deadline

        thread = threading.Thread(target=act, name="idle-script")
        thread.start()
        self.ui.run(until=until)
        ended_by_deadline = time.monotonic() > deadline
        thread.join()
        if errors:
            raise errors[0]
        assert not ended_by_deadline, "the loop ended by its safety deadline, not by quit()"


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A stand-in for a touchscreen's device node, and the descriptor that writes its events."""
    path = tmp_path / "event7"
    os.mkfifo(path)
    writer = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # a FIFO opened both ways never blocks
    yield str(path), writer
    os.close(writer)


def make_loop(devices: list[str] | None = None) -> Loop:
    display = Display(
        resolution="800x480", fullscreen=False, input_devices=(lambda: devices) if devices else None
    )
    loop: Loop

    def beat() -> None:
        loop.beats.append(time.monotonic())

    ui = StationUi(
        display=display,
        submit=lambda intent: loop.note(loop.sent, intent),
        on_frame=lambda view: loop.note(loop.frames, view),
        heartbeat=(SAFETY_S / 2, beat),
    )
    loop = Loop(ui)
    return loop


@pytest.fixture
def loop() -> Iterator[Loop]:
    made = make_loop()
    yield made
    made.ui.display.close()


def voluntary_switches(thread_id: int) -> int:
    """How often a thread has given up its core to wait (each blocking wait counts once)."""
    for line in Path(f"/proc/self/task/{thread_id}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc")


def test_the_dummy_driver_and_kmsdrm_wait_in_the_kernel_and_x11_in_sdl(loop: Loop) -> None:
    events = loop.ui.display.events
    assert isinstance(events, KernelWait)
    assert not events.watches_input and events.watched == []  # the dummy driver reads no input
    kmsdrm = event_wait("KMSDRM")  # as SDL names it
    try:
        assert isinstance(kmsdrm, KernelWait) and kmsdrm.watches_input  # SDL reads evdev there
    finally:
        kmsdrm.close()
    assert isinstance(event_wait("x11"), SdlWait)


def test_a_posted_view_wakes_the_loop_at_once(loop: Loop) -> None:
    views = canned_views()
    loop.ui.show(views["ready"])

    def script(loop: Loop) -> None:
        loop.wait_for(lambda: len(loop.frames) == 1)
        loop.ui.post_view(views["session"])
        loop.wait_for(lambda: len(loop.frames) == 2)

    loop.run(script)
    assert loop.frames == [views["ready"], views["session"]]
    assert len(loop.beats) == 1  # the beat at the start: no deadline woke the loop


def test_run_returns_when_the_frame_it_drew_ends_it(loop: Loop) -> None:
    # until() turns true by the frame just drawn, and nothing else will wake the loop (SDL's own
    # window events are gone): it must return, not sleep until its heartbeat (the runtime's
    # docstring example once slept so for good, its kiosk having no heartbeat).
    events = loop.ui.display.events
    assert isinstance(events, KernelWait)
    pygame.event.clear()
    loop.ui.show(canned_views()["ready"])
    loop.ui.run(until=lambda: bool(loop.frames))
    assert len(loop.frames) == 1
    assert events.wakeups == 0, "the loop went to sleep after the frame that ended it"


def test_quit_wakes_the_loop(loop: Loop) -> None:
    loop.ui.show(canned_views()["ready"])
    loop.run(lambda loop: loop.wait_for(lambda: len(loop.frames) == 1))
    assert len(loop.beats) == 1


def test_an_idle_loop_sleeps(loop: Loop) -> None:
    loop.ui.show(canned_views()["ready"])
    main = threading.get_native_id()
    events = loop.ui.display.events
    assert isinstance(events, KernelWait)
    counted: dict[str, int] = {}

    def script(loop: Loop) -> None:
        loop.wait_for(lambda: len(loop.frames) == 1)
        switches, wakeups = voluntary_switches(main), events.wakeups
        threading.Event().wait(IDLE_S)  # the idle second being measured: nothing happens in it
        counted["switches"] = voluntary_switches(main) - switches
        counted["wakeups"] = events.wakeups - wakeups

    loop.run(script)
    # Polling SDL's queue every millisecond would be about a thousand of each.
    assert counted["wakeups"] == 0
    assert counted["switches"] < 20, counted


def test_a_touch_on_an_input_device_wakes_the_loop(fifo: tuple[str, int]) -> None:
    device, writer = fifo
    loop = make_loop([device])
    events = loop.ui.display.events
    try:
        assert isinstance(events, KernelWait) and events.watched == [device]
        loop.ui.show(canned_views()["session"])

        def script(loop: Loop) -> None:
            loop.wait_for(lambda: len(loop.frames) == 1)
            x, y = next(t.rect.center for t in loop.ui.targets if t.label == "Print all")
            # What SDL's evdev layer queues for a tap (posting alone wakes nobody) ...
            for kind in (pygame.FINGERDOWN, pygame.FINGERUP):
                pygame.event.post(pygame.event.Event(kind, x=x / 800, y=y / 480, finger_id=1, touch_id=1))
            # ... and the kernel making the device readable, which is what wakes the loop.
            os.write(writer, bytes(24))
            loop.wait_for(lambda: bool(loop.sent))

        loop.run(script)
        assert loop.sent == [intents.ReleaseAll()]
        assert len(loop.beats) == 1
    finally:
        loop.ui.display.close()


def test_an_unplugged_device_leaves_the_wait(tmp_path: Path) -> None:
    device = tmp_path / "event9"
    os.mkfifo(device)
    writer = os.open(device, os.O_RDWR | os.O_NONBLOCK)
    loop = make_loop([str(device)])
    events = loop.ui.display.events
    assert isinstance(events, KernelWait)
    try:
        loop.ui.show(canned_views()["ready"])

        def script(loop: Loop) -> None:
            loop.wait_for(lambda: len(loop.frames) == 1)
            os.close(writer)  # its last writer gone, the FIFO reads as ended, like a removed device
            loop.wait_for(lambda: events.watched == [])

        loop.run(script)
        assert events.watched == []
    finally:
        loop.ui.display.close()


def test_touchscreens_mice_and_keyboards_are_found_in_sysfs(tmp_path: Path) -> None:
    devices = {
        # name: capability files as the kernel writes them (64-bit words, one 32-bit case)
        "event0": {"ev": "b", "key": "400 0 0 0 0 0", "abs": "260800000000003"},  # touchscreen
        "event1": {"ev": "b", "abs": "600000 00000003"},  # multi-touch only, 32-bit words
        "event2": {"ev": "17", "rel": "1803", "key": "1f0000 0 0 0 0"},  # mouse
        "event3": {"ev": "120013", "key": "1000000000007 ff9f207ac14057ff febeffdfffefffff fffffffffffffffe"},
        "event4": {"ev": "3", "key": "10000000000000 0"},  # power button: keys, but no letters
        "event5": {"ev": "b", "abs": "not hex"},  # garbage reads as nothing
        "event6": {},  # no capabilities at all
    }
    for name, files in devices.items():
        capabilities = tmp_path / "sys" / name / "device" / "capabilities"
        capabilities.mkdir(parents=True)
        for kind, text in files.items():
            (capabilities / kind).write_text(text + "\n")
    found = input_devices(tmp_path / "sys", Path("/dev/input"))
    assert found == [f"/dev/input/event{n}" for n in (0, 1, 2, 3)]
    assert input_devices(tmp_path / "missing", Path("/dev/input")) == []
