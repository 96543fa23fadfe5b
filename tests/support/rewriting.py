"""An httpx transport to the emulator that rewrites requests and answers on the way.

For an ezeep that speaks other names than the emulator (``[cloud.contract]`` overrides) or sends
what the emulator cannot be made to send (``{"code": 804}``), while everything else is the
emulator's real answer over loopback::

    def answer(request: httpx.Request) -> httpx.Response | None:
        return httpx.Response(412, json={"code": 804}) if request.url.path == "/sfapi/Print/" else None

    http = CloudHttp(..., transport=RewritingTransport(answer=answer))

``request`` maps each request before it is sent (None: as it is), ``answer`` may answer it
instead of the emulator (None: the emulator answers), ``reply`` maps the emulator's answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx


def json_request(request: httpx.Request, *, path: str | None = None, params: dict[str, str] | None = None,
                 body: object = None) -> httpx.Request:  # fmt: skip
    """``request`` with another path, query or JSON body (the rest kept)."""
    url = request.url.copy_with(path=path or request.url.path)
    if params is not None:
        url = url.copy_with(params=params)
    headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
    content = request.content if body is None else json.dumps(body).encode()
    return httpx.Request(request.method, url, headers=headers, content=content)


def json_reply(response: httpx.Response, data: object) -> httpx.Response:
    """An answer like ``response`` (status, headers) with ``data`` as its JSON body."""
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in ("content-length",)]
    return httpx.Response(response.status_code, headers=headers, content=json.dumps(data).encode())


class RewritingTransport(httpx.BaseTransport):
    """Loopback HTTP to the emulator through three optional hooks (see the module docstring)."""

    def __init__(
        self,
        *,
        request: Callable[[httpx.Request], httpx.Request | None] | None = None,
        answer: Callable[[httpx.Request], httpx.Response | None] | None = None,
        reply: Callable[[httpx.Request, httpx.Response], httpx.Response | None] | None = None,
    ) -> None:
        self._inner = httpx.HTTPTransport()
        self._request, self._answer, self._reply = request, answer, reply

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        sent = (self._request(request) if self._request else None) or request
        own = self._answer(sent) if self._answer else None
        if own is not None:
            return own
        response = self._inner.handle_request(sent)
        if self._reply is None:
            return response
        response.read()
        return self._reply(sent, response) or response

    def close(self) -> None:
        self._inner.close()
