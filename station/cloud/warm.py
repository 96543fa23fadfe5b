"""Connections opened before the requests that will use them (TCP, and TLS for ``https``).

ezeep lists a user's jobs on one host (``api``) and takes the releases on another (``print``).
By the time someone taps, the station's connections to the print host are gone (the pool keeps
an idle connection :data:`IDLE_S` seconds, servers close theirs too), so each release request
would first pay a TCP and a TLS handshake: two or three round trips instead of one, after the
list's. :meth:`Warmer.warm` opens connections to a host on threads of its own while the list is
on its way and parks them; the pool's next connect to that host and port takes a parked one
(waiting for it if its handshake is still under way: it is further along than a new connect).

A parked connection is used once, within :data:`IDLE_S` of being opened, and only while the
server has neither closed it nor sent anything but TLS session tickets; otherwise it is closed
and a new one made, as without warming. One nobody took is closed when it is that old. A
connect that waited for a warm-up that then failed gets only what is left of its own time. One
parked for TLS gives itself when the pool asks for TLS with the same context and server name;
any other ask (the station makes none) gets a new connection, never a failure. A port speaks
one protocol, so parked connections are told apart by host and port alone.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
import typing
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import httpcore

IDLE_S: Final = 5.0  # how long the pool keeps an idle connection (httpx's default, ours)
MAX_CONNECTIONS: Final = 16  # the most release requests at once (cloud.release_parallelism)

Connect = Callable[[str, int, float | None], httpcore.NetworkStream]


@dataclass(frozen=True, slots=True)
class Tls:
    """The TLS a connection is opened with: the pool's context and the name it checks."""

    context: ssl.SSLContext
    server_hostname: str


@dataclass(frozen=True, slots=True)
class _Parked:
    stream: Future[httpcore.NetworkStream]
    opened_at: float


class _TlsReady(httpcore.NetworkStream):
    """A parked connection whose TLS handshake is done: the pool's ``start_tls`` gets it as it is."""

    def __init__(
        self, inner: httpcore.NetworkStream, tls: Tls, reconnect: Callable[[], httpcore.NetworkStream]
    ):
        self._inner = inner
        self._tls = tls
        self._reconnect = reconnect

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        if ssl_context is self._tls.context and server_hostname == self._tls.server_hostname:
            return self._inner
        self._inner.close()  # opened for another TLS: a new connection, as without warming
        return self._reconnect().start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class Warmer:
    """Opens connections ahead and hands them to the next connects to the same host and port.

    ``connect(host, port, timeout)``: how a new connection is made (the backend's own connect).
    ``clock``: monotonic seconds; ``idle_s``: how long a parked connection may wait (its age
    counts from its warm-up), then it is closed even if nobody asks. Thread-safe. :meth:`close` closes what is
    parked and refuses to warm again.

    Example::

        warmer = Warmer(backend.connect_fresh)
        warmer.warm("printapi.ezeep.com", 443, 4, tls=Tls(context, "printapi.ezeep.com"), timeout=1.5)
        stream = warmer.take("printapi.ezeep.com", 443, timeout=1.5)  # None: connect as usual
    """

    def __init__(
        self, connect: Connect, *, clock: Callable[[], float] = time.monotonic, idle_s: float = IDLE_S
    ) -> None:
        self._connect = connect
        self._clock = clock
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._parked: dict[tuple[str, int], list[_Parked]] = {}
        self._threads: ThreadPoolExecutor | None = None  # started at the first warm-up
        self._sweeper: threading.Timer | None = None  # closes what nobody took in time
        self._closed = False

    def warm(self, host: str, port: int, connections: int, *, tls: Tls | None, timeout: float | None) -> int:
        """Start opening connections to ``host``:``port`` until ``connections`` are parked or being
        opened (at most :data:`MAX_CONNECTIONS`); returns how many were started. Never blocks on
        the network."""
        now = self._clock()
        with self._lock:
            if self._closed:
                return 0
            parked = self._fresh(self._parked.get((host, port), []), now)
            wanted = min(connections, MAX_CONNECTIONS) - len(parked)
            if wanted > 0 and self._threads is None:
                self._threads = ThreadPoolExecutor(MAX_CONNECTIONS, thread_name_prefix="cloud-warm")
            for _ in range(wanted):
                assert self._threads is not None
                parked.append(_Parked(self._threads.submit(self._open, host, port, tls, timeout), now))
            self._parked[(host, port)] = parked
            if parked:
                self._arm()
        return max(wanted, 0)

    def take(self, host: str, port: int, timeout: float | None) -> httpcore.NetworkStream | None:
        """A parked connection to ``host``:``port`` (waiting up to ``timeout`` for one still
        being opened), or None: none parked, or it failed, expired or was closed by the server."""
        now = self._clock()
        with self._lock:
            queue = self._fresh(self._parked.get((host, port), []), now)
            parked = queue.pop(0) if queue else None
            self._parked[(host, port)] = queue
        if parked is None:
            return None
        try:
            stream = parked.stream.result(timeout)
        except Exception:  # failed or still connecting: the caller connects as it would have
            parked.stream.add_done_callback(_close)
            return None
        if not _unused(stream):
            stream.close()
            return None
        return stream

    def close(self) -> None:
        """Close the parked connections and stop warming (for good). Safe more than once."""
        with self._lock:
            self._closed = True
            parked = [p for queue in self._parked.values() for p in queue]
            self._parked.clear()
            threads, self._threads = self._threads, None
            if self._sweeper is not None:
                self._sweeper.cancel()
        for each in parked:
            each.stream.add_done_callback(_close)
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)

    def _arm(self) -> None:
        """Sweep ``idle_s`` from now (lock held): a tap that released fewer jobs than were
        warmed for, or none, must not leave connections open until the next tap."""
        if self._sweeper is None and not self._closed:
            self._sweeper = threading.Timer(self._idle_s, self._sweep)
            self._sweeper.name = "cloud-warm-sweep"
            self._sweeper.daemon = True
            self._sweeper.start()

    def _sweep(self) -> None:
        """On the sweeper's thread: close the parked connections that are too old to use."""
        with self._lock:
            self._sweeper = None
            now = self._clock()
            for key, parked in self._parked.items():
                self._parked[key] = self._fresh(parked, now)
            if any(self._parked.values()):
                self._arm()

    def _fresh(self, parked: list[_Parked], now: float) -> list[_Parked]:
        """The parked connections still young enough to use; the others are closed. Lock held."""
        for old in [p for p in parked if now - p.opened_at >= self._idle_s]:
            old.stream.add_done_callback(_close)
        return [p for p in parked if now - p.opened_at < self._idle_s]

    def _open(self, host: str, port: int, tls: Tls | None, timeout: float | None) -> httpcore.NetworkStream:
        """On a warm-up thread: the connection, its TLS handshake done when ``tls`` is given."""
        stream = self._connect(host, port, timeout)
        if tls is None:
            return stream
        try:
            ready = stream.start_tls(tls.context, tls.server_hostname, timeout)
        except BaseException:
            stream.close()
            raise
        return _TlsReady(ready, tls, lambda: self._connect(host, port, timeout))


def _unused(stream: httpcore.NetworkStream) -> bool:
    """Whether the server has neither closed ``stream`` nor sent anything on it.

    A TLS 1.3 server sends its session tickets after the handshake: they make the socket readable
    but are no answer, so they are read (without waiting) before the connection is judged.
    """
    if not stream.get_extra_info("is_readable"):
        return True
    sock = stream.get_extra_info("socket")
    if not isinstance(sock, ssl.SSLSocket):
        return False  # closed by the server, or it spoke first
    timeout = sock.gettimeout()
    try:
        sock.setblocking(False)
        sock.recv(1)  # TLS records only: nothing for the application, or the end of the stream
    except ssl.SSLWantReadError:
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(timeout)
    return False  # the end of the stream, or bytes nobody asked for


def _close(future: Future[httpcore.NetworkStream]) -> None:
    """Close the connection a finished warm-up made (none if it failed or was cancelled)."""
    if future.cancelled() or future.exception() is not None:
        return
    with contextlib.suppress(Exception):  # already closed, or cut by an abort
        future.result().close()
