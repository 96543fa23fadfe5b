"""Waiting for SDL events without a poll loop, on every video driver.

SDL's own ``SDL_WaitEventTimeout`` blocks in the kernel only where the video driver can wait
(X11, Wayland: they are woken by events pushed from other threads). Elsewhere (KMSDRM on the
kiosk, the dummy driver) it looks at its queue every millisecond, as pygame-ce's
``pygame.event.wait`` does everywhere: one to three per cent of a core for an idle kiosk.

So there are two waits, chosen by :func:`event_wait` for the driver in use:

- :class:`SdlWait` (X11, Wayland): ``SDL_WaitEventTimeout`` through ctypes in the libSDL2 that
  pygame itself loaded (``pygame.event.wait`` where that library cannot be found).
- :class:`KernelWait` (everything else): ``selectors`` on a wake-up ``eventfd`` that
  :meth:`~KernelWait.wake` writes to (the kiosk does after posting an event from another
  thread), on the evdev devices SDL reads touches and keys from (:mod:`ui.inputdevices`;
  each open file of a device gets every event, so SDL still reads its own copy), and on the
  kernel's device announcements (a touchscreen plugged in later joins the wait), with the next
  deadline as the timeout; then SDL pumps its queue once.

Whoever posts to SDL's queue from another thread must call ``wake()`` after posting: the
kernel wait sees nothing else. A signal that SDL handles itself (SIGTERM when no one else set a
handler) is seen at the next wake-up; the station's :class:`~station.cli.service.StopSignals`
calls the kiosk's ``quit()``, which wakes it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import selectors
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import pygame

from ui.inputdevices import input_devices

log = logging.getLogger(__name__)

BLOCKING_DRIVERS = ("x11", "wayland")
"""Video drivers where SDL's own wait blocks in the kernel."""

Waiter = Callable[[int], None]
"""Blocks until an event is queued or ``timeout_ms`` passed (``-1``: no timeout)."""

NETLINK_KOBJECT_UEVENT = 15  # linux/netlink.h; the socket module does not name it

DeviceList = Callable[[], Iterable[str]]
"""Lists the input device paths whose events wake the wait."""


class EventWait(Protocol):
    """How the UI loop sleeps until SDL has events for it."""

    def next_events(self, timeout_ms: int) -> list[pygame.event.Event]:
        """Block until there are events (or ``timeout_ms`` passed; 0: no timeout), return them."""
        ...

    def wake(self) -> None:
        """End a wait from another thread (call it after posting an event); never blocks."""
        ...

    def close(self) -> None:
        """Release what the wait holds; ``wake()`` does nothing afterwards."""
        ...


def _loaded_sdl(maps: Path = Path("/proc/self/maps")) -> str | None:
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        path = line.split()[-1] if line.split() else ""
        if Path(path).name.startswith("libSDL2-2"):
            return path
    return None


def native_waiter() -> Waiter | None:
    """SDL's blocking wait from the loaded libSDL2, or ``None`` where it is not found."""
    path = _loaded_sdl()
    if path is None:
        return None
    try:
        sdl = ctypes.CDLL(path)  # already loaded: the same library and event queue as pygame
        wait = sdl.SDL_WaitEventTimeout
    except (OSError, AttributeError) as exc:
        log.info("SDL_WaitEventTimeout not available (%s); using pygame.event.wait", exc)
        return None
    wait.argtypes = [ctypes.c_void_p, ctypes.c_int]
    wait.restype = ctypes.c_int

    def waiter(timeout_ms: int) -> None:
        wait(None, timeout_ms)  # a NULL event only waits: the event stays queued for pygame

    return waiter


class SdlWait:
    """SDL's own wait: blocks in the kernel under X11 and Wayland, where a push wakes it.

    :param waiter: SDL's wait (:func:`native_waiter`); ``None`` falls back to ``pygame.event.wait``.
    """

    def __init__(self, waiter: Waiter | None) -> None:
        self._waiter = waiter

    def next_events(self, timeout_ms: int) -> list[pygame.event.Event]:
        if self._waiter is None:
            first = pygame.event.wait(timeout_ms) if timeout_ms else pygame.event.wait()
            return [first, *pygame.event.get()]
        self._waiter(timeout_ms or -1)
        return pygame.event.get()

    def wake(self) -> None:
        """Nothing to do: posting the event already woke SDL's wait."""

    def close(self) -> None:
        """Nothing to release."""


def _uevents() -> socket.socket | None:
    """The kernel's and udev's device announcements (netlink), or ``None`` where refused."""
    try:
        sock = socket.socket(
            socket.AF_NETLINK,
            socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
            NETLINK_KOBJECT_UEVENT,
        )
    except OSError as exc:
        log.info("no device announcements (%s): input devices plugged in later wake the screen late", exc)
        return None
    try:
        # Group 1 is the kernel's, 2 udev's (sent once the device node has its permissions).
        sock.bind((0, 1 | 2))
    except OSError as exc:
        sock.close()
        log.info("no device announcements (%s): input devices plugged in later wake the screen late", exc)
        return None
    return sock


def _drain(fd: int) -> None:
    """Read everything waiting on a non-blocking descriptor; OSError if the device is gone."""
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass
        # End of file: nothing will come any more, and the descriptor would stay readable.
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))


class KernelWait:
    """Blocks in the kernel on a wake-up descriptor and the input devices, then lets SDL pump.

    :param devices: lists the evdev devices SDL reads (:func:`ui.inputdevices.input_devices`
        under KMSDRM); ``None`` for none (the dummy driver reads no input). Listed again
        whenever the kernel announces an input device.

    ``wakeups`` counts the returns from the kernel wait (tests and benchmarks).
    """

    def __init__(self, *, devices: DeviceList | None = None) -> None:
        self._lock = threading.Lock()  # wake() and close() from different threads
        self._selector: selectors.BaseSelector = selectors.DefaultSelector()
        self._wakeup: int | None = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._selector.register(self._wakeup, selectors.EVENT_READ, "wakeup")
        self._devices = devices
        self._open: dict[str, int] = {}
        self._uevents = _uevents() if devices is not None else None
        if self._uevents is not None:
            self._selector.register(self._uevents, selectors.EVENT_READ, "uevent")
        self._rescan()
        self.wakeups = 0

    @property
    def watches_input(self) -> bool:
        """Whether input devices (listed again as they come and go) end a wait."""
        return self._devices is not None

    @property
    def watched(self) -> list[str]:
        """The input devices whose events end a wait now."""
        return sorted(self._open)

    def wake(self) -> None:
        with self._lock:
            if self._wakeup is not None:
                os.eventfd_write(self._wakeup, 1)

    def next_events(self, timeout_ms: int) -> list[pygame.event.Event]:
        assert self._wakeup is not None, "the wait is closed"
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self._wakeup)  # events posted before this are in SDL's queue
        events = pygame.event.get()
        if events:
            return events
        ready = self._selector.select(timeout_ms / 1000 if timeout_ms > 0 else None)
        self.wakeups += 1
        for key, _ in ready:
            self._readable(key)
        return pygame.event.get()

    def _readable(self, key: selectors.SelectorKey) -> None:
        if key.data == "wakeup":
            return  # drained before the next look at SDL's queue
        if key.data == "uevent":
            assert self._uevents is not None
            announced = False
            with contextlib.suppress(BlockingIOError):
                while message := self._uevents.recv(8192):
                    announced = announced or b"SUBSYSTEM=input" in message
            if announced:
                self._rescan()
            return
        try:
            _drain(key.fd)  # SDL reads the same events from its own descriptor
        except OSError as exc:  # unplugged (ENODEV): stop waiting on it
            log.info("input device %s gone (%s)", key.data, exc.strerror)
            self._forget(key.data)

    def _rescan(self) -> None:
        wanted = set(self._devices()) if self._devices is not None else set()
        for path in set(self._open) - wanted:
            self._forget(path)
        for path in sorted(wanted - set(self._open)):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                log.warning("cannot watch input device %s (%s): its touches wake late", path, exc.strerror)
                continue
            self._open[path] = fd
            self._selector.register(fd, selectors.EVENT_READ, path)

    def _forget(self, path: str) -> None:
        fd = self._open.pop(path)
        self._selector.unregister(fd)
        os.close(fd)

    def close(self) -> None:
        for path in list(self._open):
            self._forget(path)
        if self._uevents is not None:
            self._uevents.close()
            self._uevents = None
        with self._lock:
            if self._wakeup is not None:
                os.close(self._wakeup)
                self._wakeup = None
        self._selector.close()


def event_wait(driver: str, *, devices: DeviceList | None = None) -> EventWait:
    """The wait for SDL's video ``driver``: SDL's own where it blocks, else :class:`KernelWait`.

    :param driver: as ``pygame.display.get_driver()`` names it (``"x11"``, ``"KMSDRM"``, ...).
    :param devices: the input devices to wake on; ``None``: the evdev touchscreens, mice and
        keyboards under KMSDRM (what SDL reads there), none under other drivers.
    """
    driver = driver.lower()  # SDL says "KMSDRM" but "x11"
    if driver in BLOCKING_DRIVERS:
        return SdlWait(native_waiter())
    if devices is None and driver == "kmsdrm":
        devices = input_devices
    return KernelWait(devices=devices)
