"""The emulator's HTTP connections: an answer's head and start leave together, and a connection
can be closed without an answer, as a dead network or a crashed server would close it.

uvicorn answers 500 when an ASGI app raises or returns before starting a response, so a route
cannot "drop" a request on its own. :class:`DroppingProtocol` puts a callable that aborts the
socket into each request's ``scope["extensions"]``; :func:`drop_connection` calls it and then
waits for uvicorn to notice the disconnect, so that uvicorn neither logs nor answers anything.
Beside it goes the moment the connection was accepted (``handshake_s``, in the fault middleware).

uvicorn writes an answer's head and its body with two ``send`` calls, so a small JSON answer
left as two TCP segments: on loopback each costs the emulator's one event loop a wake-up of the
station's reading thread, and ten answers due at once queued behind twice the work a server that
writes them together (nginx's ``writev``) does. :class:`DroppingProtocol` corks the socket
(``TCP_CORK``) from the head until the first piece of the body is written: one segment for both.
Later pieces of a body (a trickled answer) are not held back.

The protocol is uvicorn's ``httptools`` one (the C parser uvicorn itself prefers when installed),
not its pure-Python ``h11`` one: the emulator answers every station request on one event loop, so
its CPU for each answer is what ten answers due at once queue behind (a release answer: 0.22 ms
of the emulator's CPU instead of 0.34 ms, measured here).

:func:`counting_protocol` gives one emulator its protocol class, which counts the connections
it accepts (the ``connections`` counter): how a test sees that requests went out on connections
opened ahead of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from station.emulator.counters import Counters

DROP_EXTENSION = "release-station.drop-connection"
ACCEPTED_EXTENSION = "release-station.accepted-at"  # the event loop's time the connection was accepted
_DISCONNECT_WAIT_S = 5.0


def counting_protocol(counters: Counters) -> type[DroppingProtocol]:
    """The protocol class of the emulator whose ``counters`` count the connections it accepts."""

    class CountingProtocol(DroppingProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            counters.bump("connections")
            super().connection_made(transport)

    return CountingProtocol


class DroppingProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        app = self.app
        self._accepted_at = 0.0

        async def with_drop(scope: Scope, receive: Receive, send: Send) -> None:
            ours = {DROP_EXTENSION: self._abort, ACCEPTED_EXTENSION: self._accepted_at}
            scope["extensions"] = {**scope.get("extensions", {}), **ours}
            await app(scope, receive, self._corked(send))

        self.app = with_drop

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._accepted_at = self.loop.time()
        super().connection_made(transport)

    def _abort(self) -> None:
        self.transport.abort()

    def _corked(self, send: Send) -> Send:
        """``send``, with the head of the answer held until the first piece of its body."""

        async def corked(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                self._cork(True)
            try:
                await send(message)
            finally:
                if kind == "http.response.body":
                    self._cork(False)

        return corked

    def _cork(self, on: bool) -> None:
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        cork = getattr(socket, "TCP_CORK", None)  # Linux; elsewhere the two segments stay
        if sock is not None and cork is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: nothing left to hold
                sock.setsockopt(socket.IPPROTO_TCP, cork, int(on))


async def drop_connection(scope: Scope, receive: Receive) -> None:
    scope["extensions"][DROP_EXTENSION]()

    async def until_disconnected() -> None:
        # Bounded: a request body is a handful of messages at most, then the disconnect.
        for _ in range(10_000):
            if (await receive())["type"] == "http.disconnect":
                return

    await asyncio.wait_for(until_disconnected(), _DISCONNECT_WAIT_S)


class DropResponse(Response):
    """Returned by a route that has done its work but must never answer."""

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await drop_connection(scope, receive)
