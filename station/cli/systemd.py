"""Living as a systemd service: ``sd_notify`` messages, and SIGTERM / SIGINT as a stop request.

:class:`SdNotify` sends ``READY=1``, ``WATCHDOG=1`` and ``STOPPING=1`` datagrams to
``$NOTIFY_SOCKET`` without libsystemd, and is silent when not run by systemd.

:class:`StopSignals` turns SIGTERM and SIGINT into a callback on a helper thread. A Python signal
handler only runs when the main thread executes Python code, and the station's main thread
spends its time blocked inside SDL's event wait (or an ``Event.wait``), so the handler itself
does nothing: the interpreter writes the signal number to a wake-up pipe
(:func:`signal.set_wakeup_fd`), and the helper thread reading that pipe calls back at once.
Because a handler is installed, SDL leaves SIGTERM and SIGINT alone (it only takes signals
that still have the default action).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType, TracebackType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SdNotify:
    """``sd_notify`` without libsystemd: datagrams to ``$NOTIFY_SOCKET``; silent when not under systemd.

    :param environ: where ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` come from.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address  # abstract socket
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        wanted = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.watchdog_s: float | None = int(usec) / 1e6 if wanted else None
        self._failing = False

    @property
    def ping_every_s(self) -> float | None:
        """How often to send ``WATCHDOG=1`` (half the watchdog time), None without a watchdog."""
        return self.watchdog_s / 2 if self.watchdog_s else None

    def send(self, state: str) -> bool:
        """Send ``state`` (``READY=1``, ``WATCHDOG=1``…); ``False`` when there is no socket."""
        if not self._address:
            return False
        try:
            # Never block: a notification is not worth a hung station (a full receive queue
            # blocks a datagram sender on a Unix socket).
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.connect(self._address)
                sock.send(state.encode())
        except OSError as exc:
            # Once per run of failures: the watchdog pings twice a period and would flood the log.
            log.log(
                logging.DEBUG if self._failing else logging.WARNING,
                "cannot notify systemd (%s): %s",
                state,
                exc,
            )
            self._failing = True
            return False
        self._failing = False
        return True


class StopSignals:
    """While entered, SIGTERM and SIGINT call ``on_signal(signum)`` on a helper thread.

    Signals can only be caught on the main thread; entered on another thread (tests run the
    station in-process) this does nothing.

    Example::

        with StopSignals(lambda signum: stop.set()):
            stop.wait()
    """

    def __init__(self, on_signal: Callable[[int], None]) -> None:
        self._on_signal = on_signal
        self._previous: dict[int, object] = {}
        self._previous_fd = -1
        self._pipe: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(write_fd, False)  # the interpreter's signal handler must never block
        self._pipe = (read_fd, write_fd)
        self._thread = threading.Thread(target=self._watch, args=(read_fd,), name="stop-signals", daemon=True)
        self._thread.start()
        self._previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, _ignore)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pipe is None:
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        signal.set_wakeup_fd(self._previous_fd)
        read_fd, write_fd = self._pipe
        os.close(write_fd)  # the watcher reads end-of-file and returns
        if self._thread is not None:
            self._thread.join()
        os.close(read_fd)
        self._pipe = None

    def _watch(self, read_fd: int) -> None:
        while data := os.read(read_fd, 64):  # b"": the write end was closed
            for signum in data:
                if signum in STOP_SIGNALS:
                    log.info("got %s; stopping", signal.Signals(signum).name)
                    self._on_signal(signum)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the wake-up pipe does the work (see the module docstring)."""


def unfinished_threads(grace_s: float, clock: Callable[[], float] = time.monotonic) -> list[str]:
    """Wait up to ``grace_s`` for the non-daemon threads still running; the names of those left.

    Worker threads end once their network call returns; one stuck in a long timeout would hold
    the interpreter's exit past systemd's stop timeout, which then kills us without a word.
    """
    deadline = clock() + grace_s
    left: list[str] = []
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - clock()))
        if thread.is_alive():
            left.append(thread.name)
    return left
