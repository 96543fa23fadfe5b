"""Helpers the reader tests share: a sink that collects reads, and keyboard-wedge input.

:class:`Sink` is what a reader delivers to in the tests: it waits for the next read or health
event with a generous bound (against hangs, never as a speed assertion) and keeps what it saw.

:class:`ReplayDevice` stands in for an ``evdev.InputDevice``: events written to it go through a
pipe in the kernel's 24-byte ``struct input_event`` format, so the wedge reader's real
``select``/read loop runs. :func:`events_of` parses such bytes (also the recorded captures in
``tests/data/wedge``), and :func:`keys`, :func:`tap` and :func:`typed` build key events.
"""

from __future__ import annotations

import os
import queue
import struct
from collections.abc import Iterator
from typing import TypeVar

from evdev import InputEvent, ecodes

from station.events import BadgeRead, ReaderEvent, ReaderHealth

WAIT_S = 30.0  # an upper bound against hangs, never a speed assertion
EVENT = struct.Struct("llHHi")  # struct input_event on a 64-bit kernel: 24 bytes

Event = TypeVar("Event", BadgeRead, ReaderHealth)


class Sink:
    """Collects what a reader delivers; waits with a generous bound, never asserts on time.

    Everything taken off the queue is kept in :attr:`reads` or :attr:`health`, in order.
    """

    def __init__(self) -> None:
        self.events: queue.Queue[ReaderEvent] = queue.Queue()
        self.reads: list[BadgeRead] = []
        self.health: list[ReaderHealth] = []

    def __call__(self, event: ReaderEvent) -> None:
        self.events.put(event)

    def next(self, timeout: float = WAIT_S) -> ReaderEvent:
        """The next event of either kind."""
        event = self.events.get(timeout=timeout)
        self._keep(event)
        return event

    def next_read(self, timeout: float = WAIT_S) -> BadgeRead:
        """The next read; health events on the way are kept."""
        return self._next(BadgeRead, timeout)

    def next_health(self, timeout: float = WAIT_S) -> ReaderHealth:
        """The next health event; reads on the way are kept."""
        return self._next(ReaderHealth, timeout)

    def drain(self) -> list[BadgeRead]:
        """Take what has arrived so far without waiting; returns the reads among it."""
        reads: list[BadgeRead] = []
        while not self.events.empty():
            event = self.events.get_nowait()
            self._keep(event)
            if isinstance(event, BadgeRead):
                reads.append(event)
        return reads

    def _next(self, kind: type[Event], timeout: float) -> Event:
        while True:
            event = self.next(timeout)
            if isinstance(event, kind):
                return event

    def _keep(self, event: ReaderEvent) -> None:
        if isinstance(event, BadgeRead):
            self.reads.append(event)
        else:
            self.health.append(event)


# -- keyboard-wedge input ----------------------------------------------------------------


def events_of(data: bytes) -> list[InputEvent]:
    """Parse kernel ``struct input_event`` records."""
    assert len(data) % EVENT.size == 0
    return [InputEvent(*EVENT.unpack_from(data, offset)) for offset in range(0, len(data), EVENT.size)]


def to_bytes(events: list[InputEvent]) -> bytes:
    """The kernel records for ``events`` (the inverse of :func:`events_of`)."""
    return b"".join(EVENT.pack(e.sec, e.usec, e.type, e.code, e.value) for e in events)


def keys(*presses: tuple[int, int], start: float = 100.0, step: float = 0.01) -> list[InputEvent]:
    """``EV_KEY`` events for ``(code, value)`` pairs, ``step`` seconds apart."""
    events = []
    for i, (code, value) in enumerate(presses):
        at = start + i * step
        events.append(InputEvent(int(at), round((at % 1) * 1e6), ecodes.EV_KEY, code, value))
    return events


def tap(*codes: int) -> list[tuple[int, int]]:
    """Press and release each key in turn."""
    return [pair for code in codes for pair in ((code, 1), (code, 0))]


def typed(text: str) -> list[tuple[int, int]]:
    """The key presses of a US-layout reader typing ``text`` (digits and letters) and Enter."""
    presses: list[tuple[int, int]] = []
    for char in text:
        code = getattr(ecodes, f"KEY_{char.upper()}")
        if char.isupper():
            presses += [(ecodes.KEY_LEFTSHIFT, 1), *tap(code), (ecodes.KEY_LEFTSHIFT, 0)]
        else:
            presses += tap(code)
    return presses + tap(ecodes.KEY_ENTER)


class ReplayDevice:
    """An input device whose events come from a pipe, in the kernel's 24-byte format."""

    name = "replayed reader"

    def __init__(self) -> None:
        self.fd, write_fd = os.pipe()
        os.set_blocking(self.fd, False)
        self._write_fd: int | None = write_fd
        self._buffer = b""
        self.calls: list[str] = []

    def send(self, data: bytes) -> None:
        assert self._write_fd is not None, "unplugged"
        os.write(self._write_fd, data)

    def unplug(self) -> None:
        """Make the next read fail as it does when the USB device is pulled out."""
        write_fd, self._write_fd = self._write_fd, None
        if write_fd is not None:
            os.close(write_fd)

    def read(self) -> Iterator[InputEvent]:
        data = os.read(self.fd, 4096)  # BlockingIOError when nothing is there, like evdev
        if not data:
            raise OSError(19, "No such device")
        self._buffer += data
        whole = len(self._buffer) - len(self._buffer) % EVENT.size
        events, self._buffer = events_of(self._buffer[:whole]), self._buffer[whole:]
        return iter(events)

    def grab(self) -> None:
        self.calls.append("grab")

    def ungrab(self) -> None:
        self.calls.append("ungrab")

    def close(self) -> None:
        self.calls.append("close")
        os.close(self.fd)
        self.unplug()
