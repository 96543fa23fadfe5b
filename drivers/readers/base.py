"""The reader interface and the thread that runs and supervises one reader.

A :class:`Reader` blocks in :meth:`Reader.run` reading cards until its :class:`StopEvent` is set, and
hands :class:`~station.events.BadgeRead` and :class:`~station.events.ReaderHealth` values to a
sink. It owns its device: it opens it inside ``run`` (on the reader's own thread) and closes it
in every path before ``run`` returns.

:class:`ReaderThread` runs one reader on a named daemon thread. If ``run`` raises, the failure
is reported as unhealthy and the reader is started again after a short, growing pause, so an
unplugged or crashed reader comes back by itself. ``stop()`` sets the event and joins with a
timeout; a reader that will not stop raises :class:`ReaderStopError` instead of hanging shutdown.
The stop event has a descriptor that becomes readable when it is set, so a reader that waits
on descriptors (a keyboard wedge, the simulated reader's socket) waits on it too instead of
waking every so often to look: an idle station's readers sleep.

:class:`ReaderDriver` is the drivers' half of a reader kind's registration: how to open such a
reader, how to tell from a survey that one is attached, and what ``doctor`` says about it.
Each driver module ends with its ``DRIVER``; ``drivers.readers.registry`` lists them.
"""

from __future__ import annotations

import abc
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from station.errors import StationError
from station.events import ReaderHealth, ReaderKind, ReaderSink
from station.findings import Finding
from station.reader_kinds import ReaderKindSpec

if TYPE_CHECKING:
    from drivers.readers.auto import Survey
    from station.config import ReaderSection

log = logging.getLogger(__name__)


class ReaderError(StationError):
    """A reader could not be opened or failed while reading."""


class ReaderStopError(ReaderError):
    """A reader thread did not stop within its timeout."""


class StopEvent(threading.Event):
    """A reader's stop request, also a descriptor (:meth:`fileno`) that is readable once set:
    ``select`` waits on it beside the device."""

    def __init__(self) -> None:
        super().__init__()
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        weakref.finalize(self, os.close, self._fd)

    def set(self) -> None:
        super().set()
        os.eventfd_write(self._fd, 1)

    def fileno(self) -> int:
        return self._fd


class Reader(abc.ABC):
    """One badge reader.

    Subclasses set :attr:`kind`, give each instance a :attr:`name` people recognise (the USB
    product, the PC/SC reader name, the input device), and say whether the hardware can tell
    when a card is taken away (:attr:`detects_removal`). A reader that can deliver each
    presentation of a card once; one that cannot relies on the time-based repeat suppression.
    """

    kind: ClassVar[ReaderKind]
    detects_removal: ClassVar[bool]

    def __init__(self, *, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def run(self, sink: ReaderSink, stop: StopEvent) -> None:
        """Read cards until ``stop`` is set, passing every read and health change to ``sink``.

        Must notice ``stop`` within about a second, must close the device before returning,
        and may raise :class:`ReaderError` (or anything else) to be restarted by its thread.
        """

    def health(self, ok: bool, detail: str) -> ReaderHealth:
        return ReaderHealth(self.kind, self.name, ok, detail, time.monotonic())


class ReaderThread:
    """Runs ``reader`` on its own thread, restarting it after failures.

    :param reader: the reader to run.
    :param sink: where reads and health events go; it must not block.
    :param restart_delay_s: first pause before restarting a failed reader; doubles up to
        ``max_restart_delay_s`` and resets after a run that lasted longer than that.
    :param stop_timeout_s: how long :meth:`stop` waits for the thread.
    """

    def __init__(
        self,
        reader: Reader,
        sink: ReaderSink,
        *,
        restart_delay_s: float = 0.5,
        max_restart_delay_s: float = 4.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.reader = reader
        self._sink = sink
        self._restart_delay_s = restart_delay_s
        self._max_restart_delay_s = max_restart_delay_s
        self._stop_timeout_s = stop_timeout_s
        self._stop = StopEvent()
        self._thread = threading.Thread(
            target=self._supervise, name=f"reader-{reader.kind}-{reader.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the reader to stop and wait for it; idempotent."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self._stop_timeout_s)
            if self._thread.is_alive():
                raise ReaderStopError(f"reader {self.reader.name} did not stop in {self._stop_timeout_s} s")

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> ReaderThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _supervise(self) -> None:
        delay = self._restart_delay_s
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.reader.run(self._sink, self._stop)
            except Exception as exc:  # a reader's failure must never kill the station
                log.warning("reader %s failed: %s", self.reader.name, exc, exc_info=log.isEnabledFor(10))
                self._sink(self.reader.health(False, str(exc) or type(exc).__name__))
            else:
                if self._stop.is_set():
                    return
            if time.monotonic() - started > self._max_restart_delay_s:
                delay = self._restart_delay_s
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self._max_restart_delay_s)


@dataclass(frozen=True)
class Absent:
    """What ``doctor`` says when the configured reader is not attached, and how to fix it."""

    detail: str
    fix: str


def _no_findings(section: ReaderSection, found: Survey) -> list[Finding]:
    return []


@dataclass(frozen=True)
class ReaderDriver:
    """One reader kind, as the drivers see it (its station half is :attr:`spec`).

    :param spec: the kind's name, summary and settings (``station.reader_kinds``).
    :param open: the reader to run for a ``[reader]`` section.
    :param attached: whether the survey shows such a reader (``auto`` takes the first kind
        that is attached, in ``station.reader_kinds.KINDS`` order).
    :param absent: what ``doctor`` says when this kind is configured and not attached.
    :param findings: what ``doctor`` reports about the machine for this kind, whatever is
        configured (pcscd's state, a kernel driver in the way); none by default.
    :param auto: whether ``auto`` may choose this kind at all.
    :param usb: a USB NFC or smart-card reader: ``doctor`` warns when none is plugged in.
    """

    spec: ReaderKindSpec
    open: Callable[[ReaderSection], Reader]
    attached: Callable[[ReaderSection, Survey], bool]
    absent: Callable[[ReaderSection], Absent]
    findings: Callable[[ReaderSection, Survey], list[Finding]] = _no_findings
    auto: bool = True
    usb: bool = False

    @property
    def name(self) -> ReaderKind:
        return self.spec.name
