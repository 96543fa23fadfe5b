"""Closing a connection without an answer, as a dead network or a crashed server would.

uvicorn answers 500 when an ASGI app raises or returns before starting a response, so a route
cannot "drop" a request on its own. :class:`DroppingH11Protocol` puts a callable that aborts the
socket into each request's ``scope["extensions"]``; :func:`drop_connection` calls it and then
waits for uvicorn to notice the disconnect, so that uvicorn neither logs nor answers anything.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

DROP_EXTENSION = "release-station.drop-connection"
_DISCONNECT_WAIT_S = 5.0


class DroppingH11Protocol(H11Protocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        app = self.app

        async def with_drop(scope: Scope, receive: Receive, send: Send) -> None:
            scope["extensions"] = {**scope.get("extensions", {}), DROP_EXTENSION: self._abort}
            await app(scope, receive, send)

        self.app = with_drop

    def _abort(self) -> None:
        self.transport.abort()


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
