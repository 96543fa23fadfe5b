"""A total deadline for each request, however slowly the answer arrives.

httpx's timeouts bound each *wait*: connecting, one write, one read. A server that trickles one
byte every few seconds never lets a read wait that long, so it could hold a request (and the
worker thread behind it) for hours. Here every wait on the socket is cut to the time left before
the request's deadline, so the request ends by then whatever the server does.

The deadline travels in a context variable: :func:`budget` opens one around a request, and the
network streams of :class:`DeadlineTransport` (httpx's own transport with a network backend that
clamps every connect, TLS handshake, write and read) consult it on the requesting thread. Outside
a budget the streams behave exactly like httpcore's. The one wait this cannot cut is the name
lookup inside ``socket.getaddrinfo``, which no timeout reaches (the resolver's own limits apply).

:meth:`DeadlineTransport.abort` cuts every connection at once (``shutdown``, which wakes a thread
blocked reading it) and refuses new ones: how a stopping station ends requests ezeep holds.

Example::

    with httpx.Client(transport=DeadlineTransport(verify=True)) as client, budget(20.0) as spent:
        client.get("https://api2.ezeep.com/")  # httpx.TimeoutException at the latest after 20 s
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import socket
import ssl
import threading
import time
import typing
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpcore
import httpx

from station.cloud.quiet import QuietWatch
from station.cloud.warm import Tls, Warmer

_DEFAULT_PORTS: typing.Final = {"http": 80, "https": 443}
MAX_CONNECTIONS: typing.Final = 100  # far above a station's requests at once (release_parallelism <= 16)
_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("cloud_request_budget", default=None)


@dataclass(slots=True)
class Budget:
    """The deadline of the request running on this thread (monotonic clock)."""

    deadline: float
    cut: bool = False  # some wait was shortened to the deadline: a timeout now is the deadline's

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    @property
    def explains_a_timeout(self) -> bool:
        """Whether a timeout now came from this deadline rather than from a per-wait timeout."""
        return self.cut or self.expired


@contextlib.contextmanager
def budget(seconds: float) -> Iterator[Budget]:
    """Give the requests made inside the block ``seconds`` in total (a nested budget replaces it)."""
    current = Budget(time.monotonic() + seconds)
    token = _BUDGET.set(current)
    try:
        yield current
    finally:
        _BUDGET.reset(token)


def _clamped(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    current = _BUDGET.get()
    if current is None:
        return timeout
    left = current.deadline - time.monotonic()
    if left <= 0:
        current.cut = True
        raise expired("the request's total deadline has passed")
    if timeout is None or left < timeout:
        current.cut = True
        return left
    return timeout


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, backend: _Backend) -> None:
        self._inner = inner
        self._backend = backend
        self._quiet = QuietWatch()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _clamped(timeout, httpcore.ConnectTimeout))
        return self._backend.opened(tls)  # the TLS socket replaces the plain one

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":  # httpcore's pool asks this of every idle connection, often
            inner = self._inner
            return self._quiet.readable(inner.get_extra_info("socket"), lambda: inner.get_extra_info(info))
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's sync backend with clamped waits; remembers its sockets so :meth:`abort` can cut
    them. A connect takes a connection its :attr:`warmer` opened ahead, if one is parked."""

    def __init__(self, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None) -> None:
        self._inner = httpcore.SyncBackend()
        self._lock = threading.Lock()
        self._open: weakref.WeakSet[_Stream] = weakref.WeakSet()
        self._aborted = False
        options = list(socket_options or ())
        self.warmer = Warmer(lambda host, port, timeout: self._connect(host, port, timeout, None, options))

    def abort(self) -> None:
        """Cut every connection (a blocked read returns at once) and refuse new ones."""
        self.warmer.close()
        with self._lock:
            self._aborted = True
            streams = list(self._open)
        for stream in streams:
            sock = stream.get_extra_info("socket")
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):  # closed meanwhile: nothing left to cut
                    sock.shutdown(socket.SHUT_RDWR)

    def opened(self, stream: httpcore.NetworkStream) -> _Stream:
        """``stream`` wrapped and remembered (refused and closed once aborted)."""
        wrapped = _Stream(stream, self)
        with self._lock:
            if not self._aborted:
                self._open.add(wrapped)
                return wrapped
        stream.close()
        raise httpcore.ConnectError("the connection was cut: the client is closing")

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamped(timeout, httpcore.ConnectTimeout)
        if local_address is None:
            waited_from = time.monotonic()
            warmed = self.warmer.take(host, port, timeout)
            if warmed is not None:
                return warmed
            if timeout is not None:  # the wait for a warm-up that failed is part of the connect's time
                timeout -= time.monotonic() - waited_from
                if timeout <= 0:
                    raise httpcore.ConnectTimeout("the connection opened ahead did not come in time")
            timeout = _clamped(timeout, httpcore.ConnectTimeout)
        return self._connect(host, port, timeout, local_address, socket_options)

    def _connect(
        self,
        host: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> _Stream:
        return self.opened(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamped(timeout, httpcore.ConnectTimeout)
        return self.opened(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's HTTP transport (same pool settings) whose socket waits respect :func:`budget`.

    Args:
        verify: as for :class:`httpx.HTTPTransport` (never False in the station).
        socket_options: options set on every new socket.
        proxy: an ``http://`` or ``https://`` forward proxy to send every request through (TLS to
            the server inside a CONNECT tunnel, verified as without one); None: direct.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
        proxy: str | None = None,
    ) -> None:
        context = httpx.create_ssl_context(verify=verify)  # loading the CA bundle once, not twice
        # What httpcore sets before each handshake (HTTP/2 is never on): a connection opened ahead
        # (warm) offers the same.
        context.set_alpn_protocols(["http/1.1"])
        super().__init__(verify=context, socket_options=socket_options)
        self._context = context
        self._proxied = proxy is not None
        self._backend = _Backend(socket_options)
        # httpx has no seam for the network backend: build its pool again, as httpx does, with ours.
        pool: Callable[..., httpcore.ConnectionPool] = httpcore.ConnectionPool
        if proxy is not None:  # an HTTPProxy is a ConnectionPool that tunnels through the proxy
            via = httpx.Proxy(proxy)
            address = httpcore.URL(
                scheme=via.url.raw_scheme, host=via.url.raw_host, port=via.url.port, target=via.url.raw_path
            )
            pool = functools.partial(httpcore.HTTPProxy, proxy_url=address, proxy_auth=via.raw_auth)
        self._pool = pool(
            ssl_context=context,
            max_connections=MAX_CONNECTIONS,
            # As many idle as it may open. httpcore 1.0 closes idle connections while the pool
            # holds more than this many of any kind, busy ones counted, and may close one it has
            # just given to a request that has not started (encode/httpcore#1110): a release sent
            # on it waits out its deadline for an answer that cannot come, and is in doubt. Idle
            # connections still close after ``keepalive_expiry``.
            max_keepalive_connections=MAX_CONNECTIONS,
            keepalive_expiry=5.0,
            socket_options=socket_options,
            network_backend=self._backend,
        )

    def abort(self) -> None:
        """Cut every connection, requests in flight included, and refuse new ones (for good)."""
        self._backend.abort()

    def warm(self, url: httpx.URL, requests: int, *, timeout: float | None) -> int:
        """Start opening connections (TCP, and TLS for ``https``) for ``requests`` requests to
        ``url``'s host, less the ones the pool holds to it (see :mod:`station.cloud.warm`); how
        many were started. None through a proxy: a tunnel is opened as usual.

        A connection busy now counts: on one host for every kind of request (the emulator, and a
        station pointed at one address) the printer check's and the list's are idle again by the
        time the releases they announce go out."""
        if self._proxied:
            return 0
        port = url.port or _DEFAULT_PORTS[url.scheme]
        origin = httpcore.Origin(url.raw_scheme, url.raw_host, port)
        held = sum(
            1
            for connection in self._pool.connections
            if connection.can_handle_request(origin)
            and not connection.is_closed()
            and not connection.has_expired()
        )
        host = url.raw_host.decode("ascii")
        tls = Tls(self._context, host) if url.scheme == "https" else None
        return self._backend.warmer.warm(host, port, requests - held, tls=tls, timeout=timeout)
