"""A contactless card for the vpcd virtual reader, so pyscard can be tested through a real pcscd.

vpcd (from vsmartcard, loaded by pcscd) listens on TCP 35963 for its first reader
(``Virtual PCD 00 00``) and 35964 for the second. A card connects to that port: connecting
inserts it, closing removes it. Every message either way is a 2-byte big-endian length and a
payload. A 1-byte payload from vpcd is a control code (``00`` power off, ``01`` power on,
``02`` reset: no answer; ``04``: answer with the ATR); anything longer is a command APDU,
answered with the response APDU.

:meth:`VirtualCard.insert` and :meth:`VirtualCard.remove` return once pcscd has seen the change,
so a quick remove-and-insert in a test is two presentations, as it is with a real hand.

:func:`start_pcscd` and :func:`stop_pcscd` control the system-wide pcscd for the tests and the
benchmark (whoever stops it starts it again).

vpcd's ports are fixed and pcscd is shared by everyone on the machine, so two test runs (or a
test run and the benchmark) must not use them at the same time: :func:`vpcd_session` takes a
machine-wide lock (``flock`` on :data:`LOCK_FILE`), starts pcscd, and leaves it running when it
ends. Every use of vpcd or of pcscd's life cycle goes inside one, and sessions never nest.

This card behaves like a contactless card seen through a PC/SC part-3 reader: a MIFARE Classic
1K ATR, and the pseudo-APDU ``FF CA 00 00 00`` (get data: UID) answered with the UID and
``90 00``. ``status`` overrides that answer's status word to test readers' error paths.

    with VirtualCard(bytes.fromhex("04A1B2C3D4E5F6")) as card:   # inserted
        ...
    # removed
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from smartcard import scard

VPCD_PORTS = (35963, 35964)
VPCD_READERS = {35963: "Virtual PCD 00 00", 35964: "Virtual PCD 00 01"}
# PC/SC part 3 ATR of a contactless MIFARE Classic 1K (RID A0 00 00 03 06, standard 03, card 00 01).
MIFARE_1K_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
GET_UID = bytes.fromhex("FFCA000000")
_POWER_OFF, _POWER_ON, _RESET, _GET_ATR = 0, 1, 2, 4
LOCK_FILE = Path("/tmp/release-station-vpcd.lock")
LOCK_WAIT_S = 270.0  # below pytest's 300 s timeout, so a waiting test says who holds the lock


class VirtualCard:
    """One card; :meth:`insert` puts it on the reader at ``port``, :meth:`remove` takes it away."""

    def __init__(
        self,
        uid: bytes,
        *,
        port: int = VPCD_PORTS[0],
        atr: bytes = MIFARE_1K_ATR,
        status: bytes = b"\x90\x00",
    ) -> None:
        self.uid = uid
        self.port = port
        self.atr = atr
        self.status = status
        self.apdus: list[bytes] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def insert(self, *, wait: bool = True) -> None:
        """Put the card on the reader; with ``wait``, return once pcscd has seen it."""
        if self._sock is not None:
            raise RuntimeError("card already inserted")
        self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=5.0)
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._serve, args=(self._sock,), name="vpcd-card", daemon=True)
        self._thread.start()
        if wait:
            wait_for_pcscd(self.reader, scard.SCARD_STATE_PRESENT)

    def remove(self, *, wait: bool = True) -> None:
        """Take the card away; with ``wait``, return once pcscd has seen it go."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):  # vpcd may have closed its end already
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if wait:
            wait_for_pcscd(self.reader, scard.SCARD_STATE_EMPTY)

    @property
    def reader(self) -> str:
        """The name pcscd gives the vpcd reader this card goes into."""
        return VPCD_READERS[self.port]

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def __enter__(self) -> VirtualCard:
        self.insert()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def answer(self, apdu: bytes) -> bytes:
        self.apdus.append(apdu)
        if apdu == GET_UID:
            return self.uid + self.status if self.status == b"\x90\x00" else self.status
        if apdu[:2] == b"\xff\xca":
            return b"\x6a\x81"  # function not supported (e.g. historical bytes)
        return b"\x6d\x00"  # instruction not supported

    def _serve(self, sock: socket.socket) -> None:
        while True:
            header = _recv_exactly(sock, 2)
            if header is None:
                return
            (length,) = struct.unpack(">H", header)
            payload = _recv_exactly(sock, length)
            if payload is None:
                return
            if len(payload) == 1:
                if payload[0] != _GET_ATR:
                    continue  # power off, power on and reset get no answer
                reply = self.atr
            else:
                reply = self.answer(payload)
            try:
                sock.sendall(struct.pack(">H", len(reply)) + reply)
            except OSError:
                return


def _recv_exactly(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        try:
            chunk = sock.recv(count - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def wait_for_pcscd(reader: str, state: int, polls: int = 40) -> None:
    """Wait until pcscd reports ``state`` for ``reader`` (at most ``polls`` half seconds)."""
    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if result != scard.SCARD_S_SUCCESS:
        raise RuntimeError(f"pcscd is not running: {scard.SCardGetErrorMessage(result)}")
    try:
        current = scard.SCARD_STATE_UNAWARE
        for _ in range(polls):
            result, states = scard.SCardGetStatusChange(context, 500, [(reader, current)])
            if result == scard.SCARD_S_SUCCESS:
                current = states[0][1]
                if current & state:
                    return
            elif result != scard.SCARD_E_TIMEOUT:
                raise RuntimeError(f"pcscd: {scard.SCardGetErrorMessage(result)}")
        raise TimeoutError(f"pcscd did not report state 0x{state:x} on {reader}")
    finally:
        scard.SCardReleaseContext(context)


# -- pcscd itself (system-wide: whoever stops it must start it again) ----------------------------

PID_FILE = Path("/run/pcscd/pcscd.pid")


def _pcscd_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_bytes().strip(b"\0\n \t"))
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has exited


def _readers_or_none() -> list[str] | None:
    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if result != scard.SCARD_S_SUCCESS:
        return None
    try:
        result, names = scard.SCardListReaders(context, [])
        return list(names) if result == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(context)


def _wait(predicate: Callable[[], bool], what: str, attempts: int = 200) -> None:
    pause = threading.Event()
    for _ in range(attempts):
        if predicate():
            return
        pause.wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_pcscd() -> None:
    """Start pcscd (as a daemon) unless it runs, and wait until it shows both vpcd readers."""
    if _pcscd_pid() is None:
        Path("/run/pcscd").mkdir(parents=True, exist_ok=True)
        subprocess.run(["pcscd"], check=True, timeout=30)
    _wait(lambda: (_readers_or_none() or []) == list(VPCD_READERS.values()), "pcscd and its vpcd readers")


def stop_pcscd() -> None:
    pid = _pcscd_pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        _wait(lambda: not _alive(pid), "pcscd to exit")


@contextlib.contextmanager
def vpcd_session(lock_file: Path = LOCK_FILE, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold the machine-wide vpcd lock, with pcscd running; pcscd is left running afterwards.

    :raises TimeoutError: another process held the lock for ``wait_s`` seconds (the message
        says which one).
    """
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _lock(fd, lock_file, wait_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {' '.join(sys.argv)}\n".encode(), 0)  # who holds it, for others
        try:
            start_pcscd()
            yield
        finally:
            start_pcscd()
    finally:
        os.close(fd)  # closing the file releases the lock


def _lock(fd: int, lock_file: Path, wait_s: float) -> None:
    pause = threading.Event()
    for _ in range(max(1, round(wait_s / 0.1))):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pause.wait(0.1)
    holder = os.pread(fd, 500, 0).decode(errors="replace").strip() or "unknown"
    raise TimeoutError(f"vpcd and pcscd are in use: {lock_file} held for {wait_s:g} s by {holder}")
