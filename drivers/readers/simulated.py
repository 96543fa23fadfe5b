"""A badge reader without hardware, for the demo and the tests.

Badges come in three ways, all ending up as the same :class:`~station.events.BadgeRead`:

- from code: :meth:`SimulatedReader.tap`, :meth:`~SimulatedReader.present` and
  :meth:`~SimulatedReader.remove`, from any thread;
- from keys: :meth:`SimulatedReader.key` maps the keys in :data:`DEMO_KEYS` to fixed demo badges
  (the demo's composition root forwards key presses here);
- from a local Unix socket (``reader.simulated_socket``), one text command per line, each
  answered with ``ok`` or ``error: …``::

      $ printf 'tap 04A1B2C3D4E501\\n' | socat - UNIX-CONNECT:/run/release-station/reader.sock
      ok

  Commands (also accepted by :meth:`SimulatedReader.command`): ``tap HEX``, ``present HEX``,
  ``remove``, ``key K``, or a bare ``HEX`` (a tap). HEX may be split by spaces, ``:`` or ``-``.

Like an NFC reader, it can tell when a card is taken away: a card :meth:`~SimulatedReader.present`-ed
and left on the reader is read once, until :meth:`~SimulatedReader.remove` or another card.
:meth:`~SimulatedReader.tap` is the usual gesture: the card is read once and taken away.

The socket is for a development machine or the demo only; it is created mode 0600 and removed
when the reader stops.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import re
import selectors
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from drivers.readers.base import Absent, Reader, ReaderDriver, ReaderError, StopEvent
from station.events import BadgeRead, ReaderKind, ReaderSink
from station.reader_kinds import SIMULATED, SimulatedSettings

if TYPE_CHECKING:
    from drivers.readers.auto import Survey
    from station.config import ReaderSection

log = logging.getLogger(__name__)

DEMO_KEYS: dict[str, bytes] = {
    **{str(n): bytes.fromhex(f"04A1B2C3D4E5{n:02X}") for n in range(1, 10)},  # 7-byte NTAG-like
    "m": bytes.fromhex("946EBD28"),  # a 4-byte MIFARE Classic UID
    "r": bytes.fromhex("08123456"),  # a random UID: enrolment must refuse it
    "s": bytes.fromhex("04A1"),  # a short, garbled read
}
"""Keys the demo understands and the badge each one taps."""

_MAX_PENDING = 256
_MAX_CLIENTS = 8
_MAX_LINE = 256
_HEX_SEPARATORS = re.compile(r"[\s:\-]")


class SimulatedReader(Reader):
    """A reader fed from code, keys or a Unix socket.

    :param name: how the reader is shown in logs and the technician menu.
    :param socket_path: a Unix socket to accept commands on while running; empty for none.
    :param clock: the monotonic clock stamped on each read (``BadgeRead.at``).

    Example::

        reader = SimulatedReader()
        with ReaderThread(reader, sink):
            reader.tap(bytes.fromhex("04A1B2C3D4E501"))
    """

    kind: ClassVar[ReaderKind] = SIMULATED.name
    detects_removal: ClassVar[bool] = True

    def __init__(
        self,
        *,
        name: str = "simulated",
        socket_path: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name=name)
        self.socket_path = socket_path
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: collections.deque[BadgeRead] = collections.deque()
        self._present: bytes | None = None
        self._wake: socket.socket | None = None  # set while run() is active

    # -- injecting badges -------------------------------------------------------------------

    def tap(self, uid: bytes, *, raw: str = "") -> None:
        """Tap a card: it is read once and taken away. ``raw`` defaults to the UID's hex."""
        with self._lock:
            self._present = None
            self._queue(uid, raw)

    def present(self, uid: bytes, *, raw: str = "") -> None:
        """Put a card on the reader and leave it there: read once, until removed or replaced."""
        with self._lock:
            if self._present == uid:
                return
            self._present = uid
            self._queue(uid, raw)

    def remove(self) -> None:
        """Take away the card lying on the reader, if any."""
        with self._lock:
            self._present = None

    def key(self, key: str) -> bool:
        """Tap the demo badge for ``key`` (see :data:`DEMO_KEYS`); False for other keys."""
        uid = DEMO_KEYS.get(key.lower())
        if uid is None:
            return False
        self.tap(uid)
        return True

    def command(self, line: str) -> None:
        """Carry out one text command (see the module docstring).

        :raises ValueError: the command is not understood; the message says why.
        """
        verb, _, rest = line.strip().partition(" ")
        verb = verb.lower()
        if verb == "remove" and not rest.strip():
            self.remove()
        elif verb == "key":
            if not self.key(rest.strip()):
                raise ValueError(f"no demo badge for key {rest.strip()!r}; keys: {' '.join(DEMO_KEYS)}")
        elif verb in ("tap", "present"):
            uid = _parse_hex(rest)
            (self.tap if verb == "tap" else self.present)(uid)
        else:
            self.tap(_parse_hex(line))

    def _queue(self, uid: bytes, raw: str) -> None:
        if len(self._pending) >= _MAX_PENDING:
            log.warning("simulated reader %s: %d reads waiting, dropped one", self.name, _MAX_PENDING)
            return
        read = BadgeRead(uid, self.kind, self.name, self._clock(), raw or uid.hex().upper())
        self._pending.append(read)
        if self._wake is not None:
            with contextlib.suppress(BlockingIOError):  # a full pipe is already a pending wake-up
                self._wake.send(b"\0")

    # -- the reader thread ------------------------------------------------------------------

    def run(self, sink: ReaderSink, stop: StopEvent) -> None:
        with contextlib.ExitStack() as stack:
            selector = stack.enter_context(selectors.DefaultSelector())
            wake_read, wake_write = socket.socketpair()
            stack.enter_context(wake_read)
            stack.enter_context(wake_write)
            wake_read.setblocking(False)
            wake_write.setblocking(False)
            selector.register(wake_read, selectors.EVENT_READ, None)
            selector.register(stop, selectors.EVENT_READ, None)  # ends the wait: no timeout
            if self.socket_path:
                listener = stack.enter_context(_listen(Path(self.socket_path)))
                selector.register(listener, selectors.EVENT_READ, _Listener())
            with self._lock:
                self._wake = wake_write
            stack.callback(self._detach)
            clients: dict[socket.socket, _Client] = {}
            stack.callback(_close_all, clients)
            sink(self.health(True, "ready"))
            self._deliver(sink)
            while not stop.is_set():
                for key, _ in selector.select():
                    if key.fileobj is stop:
                        continue
                    if key.fileobj is wake_read:
                        with contextlib.suppress(BlockingIOError):
                            wake_read.recv(4096)
                    elif isinstance(key.data, _Listener):
                        self._accept(key.fileobj, selector, clients)  # type: ignore[arg-type]
                    else:
                        self._serve(key.fileobj, selector, clients)  # type: ignore[arg-type]
                self._deliver(sink)

    def _detach(self) -> None:
        with self._lock:
            self._wake = None

    def _deliver(self, sink: ReaderSink) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    return
                read = self._pending.popleft()
            sink(read)

    def _accept(
        self, listener: socket.socket, selector: selectors.BaseSelector, clients: dict[socket.socket, _Client]
    ) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        if len(clients) >= _MAX_CLIENTS:
            with contextlib.suppress(OSError):
                conn.sendall(b"error: too many connections\n")
            conn.close()
            return
        conn.setblocking(False)
        clients[conn] = _Client()
        selector.register(conn, selectors.EVENT_READ, clients[conn])

    def _serve(
        self, conn: socket.socket, selector: selectors.BaseSelector, clients: dict[socket.socket, _Client]
    ) -> None:
        client = clients[conn]
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        client.buffer += data
        replies: list[bytes] = []
        while b"\n" in client.buffer:
            line, _, client.buffer = client.buffer.partition(b"\n")
            replies.append(self._answer(line))
        too_long = len(client.buffer) > _MAX_LINE
        if too_long:
            replies.append(b"error: line too long\n")
        try:
            conn.sendall(b"".join(replies))
        except OSError:
            too_long = True
        if not data or too_long:
            selector.unregister(conn)
            del clients[conn]
            conn.close()

    def _answer(self, line: bytes) -> bytes:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return b""
        try:
            self.command(text)
        except ValueError as exc:
            return f"error: {exc}\n".encode()
        return b"ok\n"


class _Listener:
    """Marks the listening socket in the selector."""


class _Client:
    """The unfinished line of one socket connection."""

    def __init__(self) -> None:
        self.buffer = b""


def _close_all(clients: dict[socket.socket, _Client]) -> None:
    for conn in clients:
        conn.close()
    clients.clear()


@contextlib.contextmanager
def _listen(path: Path) -> Iterator[socket.socket]:
    """A listening Unix socket at ``path`` (mode 0600), removed again on exit."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ReaderError(f"{path} exists and is not a socket; not replacing it")
        path.unlink()  # left behind by a reader that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        path.chmod(0o600)
        listener.listen(_MAX_CLIENTS)
        listener.setblocking(False)
    except OSError as exc:
        listener.close()
        raise ReaderError(f"cannot listen on {path}: {exc}") from exc
    try:
        yield listener
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _parse_hex(text: str) -> bytes:
    digits = _HEX_SEPARATORS.sub("", text)
    if not digits:
        raise ValueError("no card number given")
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise ValueError("a card number is an even number of hex digits, like 04A1B2C3") from None


# -- registration --------------------------------------------------------------------------


def _open(section: ReaderSection) -> SimulatedReader:
    return SimulatedReader(socket_path=section.of(SimulatedSettings).simulated_socket)


def _attached(section: ReaderSection, found: Survey) -> bool:
    return True  # nothing to plug in


def _absent(section: ReaderSection) -> Absent:
    return Absent("the simulated reader needs nothing attached", "")  # never shown: always attached


DRIVER = ReaderDriver(SIMULATED, _open, _attached, _absent, auto=False)
