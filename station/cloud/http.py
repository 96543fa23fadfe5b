"""The one HTTP connection pool a station keeps to ezeep, and the boundary where failures get types.

:class:`CloudHttp` owns an :class:`httpx.Client` with per-phase timeouts and TLS verification
that is always on (``ca_file`` only *adds* a CA). Every request ends either in decoded JSON or in
one of the errors of :mod:`station.cloud.errors`; nothing from httpx, ssl or json escapes::

    the request's total deadline passed       -> DeadlineError (an OfflineError)
    timeout, connection refused/reset/closed  -> OfflineError
    401, 403                                  -> UnauthorisedError
    404                                       -> NotFoundError
    429, 5xx                                  -> ServerError (with Retry-After)
    OAuth 4xx carrying {"error": ...}         -> GrantError (code kept)
    other 4xx carrying {"code": N}            -> RefusedError (code kept)
    anything else, non-JSON, too big, broken  -> BadAnswerError

Answers are read in chunks and refused once they pass ``max_answer_bytes``, so a hostile or
broken server cannot make the station buffer an endless body. The bytes counted are the bytes
kept: answers are read raw and never decompressed. The station asks for ``identity`` and refuses
an answer with any other ``Content-Encoding`` (:class:`BadAnswerError`) before reading its body,
because a few hundred bytes of ``gzip, gzip`` unpack to hundreds of megabytes in one chunk, long
before a cap on the decoded size could act; small JSON answers gain nothing from compression.
:meth:`CloudHttp.close` may come from another thread while requests are in flight (a stop): it
cuts their connections, so they end at once in :class:`ClosedError`, and so does every later
request.
Every request has a total ``deadline_s`` besides httpx's per-wait timeouts (see
:mod:`station.cloud.deadline`), or less when the caller's ``until`` comes first (a whole list's
deadline, :mod:`station.cloud.api`): an answer that trickles in one byte at a time ends in
:class:`DeadlineError` once the deadline passes.
``on_answer`` hears of every HTTP answer, whatever its status (the station's "last contact with
ezeep"). Request paths (never queries, headers or bodies) are logged at DEBUG.

A corporate network's forward proxy is ``proxy`` (``cloud.proxy``) for every request, or else
the environment's ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` with ``NO_PROXY``, read as httpx
reads them (``trust_env``). TLS to ezeep runs inside the proxy's CONNECT tunnel and is verified
exactly as without one.

:meth:`CloudHttp.warm` opens connections to a host before the requests that will use them
(:mod:`station.cloud.warm`): the print host's, while the job list is on its way.

The pool, httpx itself and the TLS context (one, shared by every connection) are made at the
first request, not when the station is wired: here they cost the start tens of milliseconds (a
Pi several times that), and the first request (usually the health probe) goes out once the
ready screen shows.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from station import __version__
from station.cloud.contract import error_code, grant_error
from station.cloud.errors import (
    BadAnswerError,
    ClosedError,
    CloudError,
    DeadlineError,
    GrantError,
    NotFoundError,
    OfflineError,
    RefusedError,
    ServerError,
    UnauthorisedError,
)
from station.config import CloudSection
from station.errors import ConfigError

if TYPE_CHECKING:
    import ssl

    import httpx

    from station.cloud.deadline import Budget

log = logging.getLogger(__name__)

Host = Literal["account", "api", "print"]
MAX_ANSWER_BYTES = 1024 * 1024  # a page of 100 jobs is about 30 kB
DEADLINE_S = 20.0
MAX_RETRY_AFTER_S = 3600.0


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), clamped to an hour."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also accepts "²", which float() refuses
        return min(float(value[:6]), MAX_RETRY_AFTER_S)
    import email.utils  # only for a date in the header: not on every start's path

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER_S)


def _routes(proxy: str) -> dict[str, str | None]:
    """URL pattern → the proxy for it (None: direct), as an :class:`httpx.Client` mounts them."""
    if proxy:
        return {"all://": proxy}
    # httpx's own reading of the environment (trust_env), which it skips for a client given its
    # own transport, as ours is: same variables, same NO_PROXY rules.
    from httpx._utils import get_environment_proxies

    return get_environment_proxies()


def _proxies(proxy: str) -> dict[str, str | None]:
    """:func:`_routes`, each proxy logged (without its credentials) as the client mounts it."""
    routes = _routes(proxy)
    for pattern, url in routes.items():
        if url is not None:
            log.info("requests to %s go through the proxy %s", pattern, without_credentials(url))
    return routes


def proxy_for(url: str, proxy: str) -> str | None:
    """The proxy a request to ``url`` goes through, picked as the client picks it (``proxy``:
    ``cloud.proxy``; "" reads the environment); None: straight to the host. Used by
    ``release-station doctor``, so that it checks the way the station goes."""
    return _via(url, _routes(proxy))


def _via(url: str, routes: Mapping[str, str | None]) -> str | None:
    """The proxy of ``routes`` (:func:`_routes`) a request to ``url`` goes through; None: direct."""
    import httpx
    from httpx._utils import URLPattern

    target = httpx.URL(url)
    # httpx tries its mounts most specific first: URLPattern orders them so.
    patterns = sorted(((URLPattern(key), via) for key, via in routes.items()), key=lambda kv: kv[0])
    return next((via for pattern, via in patterns if pattern.matches(target)), None)


def without_credentials(url: str) -> str:
    """``url`` without a user name or password (a proxy from ``HTTPS_PROXY`` may carry them)."""
    import httpx

    return str(httpx.URL(url).copy_with(username=None, password=None))


def trust(ca_file: str) -> ssl.SSLContext:
    """The trust store ezeep's certificates are checked against: certifi's CAs, plus ``ca_file``
    (PEM) if set. Raises :class:`OSError` or :class:`ssl.SSLError` when ``ca_file`` cannot be loaded."""
    import ssl  # here: loading OpenSSL costs every start ~10 ms, and most stations add no CA

    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def _tls(ca_file: str) -> ssl.SSLContext | bool:
    """What the client verifies with: :func:`trust` when a CA is added, else httpx's default."""
    if not ca_file:
        return True
    import ssl

    try:
        return trust(ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("cloud", "cloud.ca_file", f"cannot load the CA file {ca_file}: {exc}") from exc


class CloudHttp:
    """HTTP to the three ezeep hosts (or the emulator, which serves all three on one port).

    Args:
        account_url, api_url, print_url: base URLs of the OAuth, REST and print hosts.
        client_id: the public OAuth client id sent as HTTP Basic on OAuth calls.
        timeout_s: read/write/pool timeout of every request.
        connect_timeout_s: how long to wait for a connection (a dead network fails fast).
        deadline_s: how long a whole request may take, answer included (:class:`DeadlineError`).
        ca_file: a PEM bundle to trust in addition to the usual CAs; "" for none.
        proxy: a forward proxy URL for every request; "": the environment's, as httpx reads it
            (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``). Unused with ``transport``.
        transport: an httpx transport (tests pass ``httpx.MockTransport``); None: the network.
        max_answer_bytes: answers larger than this are refused as :class:`BadAnswerError`.
        on_answer: called (on the requesting thread; it must not block) whenever an HTTP answer
            arrives, error statuses included.

    Example::

        with CloudHttp.from_config(config.cloud) as http:
            data = http.request("GET", "api", "/printing/v1/printers/", token=token)
    """

    def __init__(
        self,
        *,
        account_url: str,
        api_url: str,
        print_url: str,
        client_id: str,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 1.5,
        deadline_s: float = DEADLINE_S,
        ca_file: str = "",
        proxy: str = "",
        transport: httpx.BaseTransport | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        on_answer: Callable[[], None] | None = None,
    ) -> None:
        self._client: httpx.Client | None = None  # made at the first request (see the module docstring)
        self._closed = False
        self._lock = threading.Lock()  # guards _client and _closed against a close from another thread
        self.client_id = client_id
        self._bases: dict[Host, str] = {
            "account": account_url.rstrip("/"),
            "api": api_url.rstrip("/"),
            "print": print_url.rstrip("/"),
        }
        self._max_bytes = max_answer_bytes
        self._deadline_s = deadline_s
        self._timeouts = (timeout_s, connect_timeout_s)
        self._verify = _tls(ca_file)  # a broken CA file stops the start, not the first request
        self._proxy = proxy
        self._transport = transport
        self._transports: list[httpx.BaseTransport] = []  # every one the client uses, once made
        self._direct: frozenset[Host] = frozenset()  # hosts reached without a proxy, once made
        self._on_answer = on_answer

    @classmethod
    def from_config(
        cls,
        cloud: CloudSection,
        *,
        transport: httpx.BaseTransport | None = None,
        on_answer: Callable[[], None] | None = None,
    ) -> CloudHttp:
        return cls(
            account_url=cloud.account_url,
            api_url=cloud.api_url,
            print_url=cloud.print_url,
            client_id=cloud.client_id,
            timeout_s=cloud.request_timeout_s,
            connect_timeout_s=cloud.connect_timeout_s,
            deadline_s=cloud.request_deadline_s,
            ca_file=cloud.ca_file,
            proxy=cloud.proxy,
            max_answer_bytes=cloud.max_answer_bytes,
            transport=transport,
            on_answer=on_answer,
        )

    @classmethod
    def single_host(cls, url: str, *, client_id: str, timeout_s: float = 10.0) -> CloudHttp:
        """All three hosts at one base URL, as the ezeep emulator serves them."""
        return cls(account_url=url, api_url=url, print_url=url, client_id=client_id, timeout_s=timeout_s)

    def close(self) -> None:
        """Close the pool; safe from any thread, at any time, more than once. Requests in flight
        are cut and end in :class:`ClosedError`, as does every later one."""
        with self._lock:
            client, self._client, self._closed = self._client, None, True
        if client is None:
            return
        from station.cloud.deadline import DeadlineTransport

        for transport in self._transports:
            if isinstance(transport, DeadlineTransport):
                transport.abort()  # wakes the threads blocked reading, before the pool goes
        client.close()

    def _opened(self, method: str, path: str) -> httpx.Client:
        """The client, made now if this is the first request; :class:`ClosedError` once closed."""
        with self._lock:
            if self._closed:
                raise ClosedError(f"the connection to ezeep is closed ({method} {path} not sent)", sent=False)
            if self._client is None:
                self._client = self._open()
            return self._client

    def _open(self) -> httpx.Client:
        import httpx

        from station.cloud.deadline import DeadlineTransport

        # One TLS context for the transport and the client: httpx would load the CA bundle twice.
        verify = httpx.create_ssl_context() if self._verify is True else self._verify
        transport = self._transport
        mounts: dict[str, httpx.BaseTransport | None] = {}
        if transport is None:
            # A form POST goes out as two writes (head, body); without TCP_NODELAY, Nagle's
            # algorithm holds the body until the server's delayed ACK, about 40 ms per call.
            nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            transport = DeadlineTransport(verify=verify, socket_options=nodelay)
            routes = _proxies(self._proxy)
            # Decided with the mounts, not at each tap's warm-up: the same reading of the environment.
            self._direct = frozenset(host for host, base in self._bases.items() if _via(base, routes) is None)
            for pattern, url in routes.items():
                via = (
                    None
                    if url is None
                    else DeadlineTransport(verify=verify, socket_options=nodelay, proxy=url)
                )
                mounts[pattern] = via
        self._transports = [transport, *(t for t in mounts.values() if t is not None)]
        on_answer = self._on_answer
        hooks = {"response": [_answer_hook(on_answer)]} if on_answer is not None else {}
        timeout_s, connect_timeout_s = self._timeouts
        return httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            event_hooks=hooks,
            verify=verify,
            transport=transport,
            mounts=mounts,
            follow_redirects=False,
            headers={
                "User-Agent": f"release-station/{__version__}",
                "Accept": "application/json",
                # Any other Content-Encoding is refused (see the module docstring).
                "Accept-Encoding": "identity",
            },
        )

    def warm(self, host: Host, requests: int) -> None:
        """Open connections to ``host`` for ``requests`` requests about to be made, in the
        background, less the ones the pool holds to it already (:mod:`station.cloud.warm`): the release engine
        opens the print host's while the job list is on its way, so the releases that follow it
        pay no handshake. Returns at once; nothing through a proxy, with a transport of the
        caller's (tests), or once closed."""
        import httpx

        from station.cloud.deadline import DeadlineTransport

        try:
            self._opened("CONNECT", host)  # the transports are made with the client
        except ClosedError:
            return
        direct = self._transports[0] if self._transport is None else None
        if not isinstance(direct, DeadlineTransport) or host not in self._direct:
            return
        started = direct.warm(httpx.URL(self._bases[host]), requests, timeout=self._timeouts[1])
        if started:
            log.debug("opening %d connection(s) to the %s host ahead of its requests", started, host)

    def __enter__(self) -> CloudHttp:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def oauth(self, path: str, form: Mapping[str, str], *, client_id: str | None = None) -> object:
        """POST a form to the account host with the client id as HTTP Basic; the decoded answer.

        A 4xx answer with an OAuth ``error`` field raises :class:`GrantError` with that code.
        """
        basic = base64.b64encode(f"{client_id or self.client_id}:".encode()).decode("ascii")
        return self._send(
            "POST", "account", path, headers={"Authorization": f"Basic {basic}"}, data=dict(form), oauth=True
        )

    def request(
        self,
        method: str,
        host: Host,
        path: str,
        *,
        token: str,
        params: Mapping[str, str | int] | None = None,
        json_body: Mapping[str, object] | None = None,
        until: float | None = None,
    ) -> object:
        """Send an API request with a bearer token; the decoded JSON answer (None when empty).

        ``until``: a :func:`time.monotonic` time by which the request must end even if its own
        deadline is later (:class:`DeadlineError`, also when it has passed already).
        """
        return self._send(
            method,
            host,
            path,
            headers={"Authorization": f"Bearer {token}"},
            params=dict(params) if params else None,
            json_body=json_body,
            until=until,
        )

    def _send(
        self,
        method: str,
        host: Host,
        path: str,
        *,
        headers: dict[str, str],
        params: dict[str, str | int] | None = None,
        data: dict[str, str] | None = None,
        json_body: Mapping[str, object] | None = None,
        oauth: bool = False,
        until: float | None = None,
    ) -> object:
        import httpx

        from station.cloud.deadline import budget

        client = self._opened(method, path)
        url = self._bases[host] + path
        started = time.monotonic()
        seconds = self._deadline_s if until is None else min(self._deadline_s, until - started)
        try:
            with (
                budget(seconds) as spent,
                client.stream(
                    method, url, headers=headers, params=params, data=data, json=json_body
                ) as response,
            ):
                body = self._read(response, spent, seconds)
        except CloudError:
            raise
        except (httpx.HTTPError, RuntimeError) as exc:
            if self._closed:  # closed under the request (httpx: RuntimeError once closed)
                closed = f"the connection to ezeep was closed during {method} {path}"
                raise ClosedError(closed, sent=True) from exc
            if isinstance(exc, RuntimeError):
                raise
            raise _failure(method, path, exc, spent, seconds) from exc
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("%s %s %s -> %d in %.0f ms", method, host, path, response.status_code, elapsed_ms)
        return _interpret(method, path, response, body, oauth=oauth)

    def _read(self, response: httpx.Response, spent: Budget, seconds: float) -> bytes:
        what = f"{response.request.method} {response.request.url.path}"
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise BadAnswerError(f"ezeep's answer is too large ({declared} bytes)")
        encodings = [e.strip().lower() for e in response.headers.get("Content-Encoding", "").split(",")]
        if any(e not in ("", "identity") for e in encodings):
            raise BadAnswerError(
                f"ezeep's answer to {what} is compressed ({', '.join(filter(None, encodings))})"
                " although the station asked for none; refused unread"
            )
        chunks: list[bytes] = []
        size = 0
        # Raw, never decoded: the cap counts the bytes kept. A transport may hand over an answer
        # it has read already (tests' MockTransport); uncompressed, its content is those bytes.
        raw = [response.content] if response.is_stream_consumed else response.iter_raw()
        for chunk in raw:
            size += len(chunk)
            if size > self._max_bytes:
                raise BadAnswerError(f"ezeep's answer is larger than {self._max_bytes} bytes")
            if spent.expired:  # a transport that ignores the budget (tests' MockTransport)
                raise _late(what, seconds)
            chunks.append(chunk)
        return b"".join(chunks)


def _failure(method: str, path: str, exc: httpx.HTTPError, spent: Budget, seconds: float) -> CloudError:
    """The cloud error an httpx failure of ``method path`` means."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        if spent.explains_a_timeout:
            return _late(f"{method} {path}", seconds)
        return OfflineError(f"ezeep did not answer in time ({method} {path})")
    if isinstance(exc, httpx.TooManyRedirects):
        return BadAnswerError(f"ezeep's answer to {method} {path} could not be read: {exc}")
    return OfflineError(f"ezeep cannot be reached ({method} {path}): {type(exc).__name__}")


def _late(what: str, seconds: float) -> DeadlineError:
    return DeadlineError(f"ezeep's answer to {what} took longer than {max(seconds, 0):.3g} s")


def _answer_hook(on_answer: Callable[[], None]) -> Callable[[httpx.Response], None]:
    def hook(response: httpx.Response) -> None:
        try:
            on_answer()
        except Exception:  # bookkeeping must never fail a request
            log.exception("the answer callback failed")

    return hook


def _decode(body: bytes, what: str) -> object:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadAnswerError(f"{what}: the answer is not JSON") from exc


def _interpret(method: str, path: str, response: httpx.Response, body: bytes, *, oauth: bool) -> object:
    status = response.status_code
    what = f"{method} {path}"
    if 200 <= status < 300:
        return _decode(body, what)
    if oauth and 400 <= status < 500:
        try:
            code = grant_error(_decode(body, what))
        except BadAnswerError:
            code = None
        if code is not None:
            raise GrantError(f"{what}: ezeep answered {code!r}", code=code, status=status)
    if status in (401, 403):
        raise UnauthorisedError(f"{what}: not authorised (HTTP {status})", status=status)
    if status == 404:
        raise NotFoundError(f"{what}: not found")
    if status == 429 or status >= 500:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        raise ServerError(
            f"{what}: ezeep is unavailable (HTTP {status})", status=status, retry_after=retry_after
        )
    try:
        refusal = error_code(_decode(body, what)) if 400 <= status < 500 else None
    except BadAnswerError:
        refusal = None
    if refusal is not None:
        raise RefusedError(
            f"{what}: ezeep refused it with code {refusal} (HTTP {status})", code=refusal, status=status
        )
    raise BadAnswerError(f"{what}: unexpected HTTP {status}")
