"""A forward proxy on loopback that speaks CONNECT, and TLS in front of the plain-HTTP emulator.

Together they are a corporate network in miniature: the station reaches ``https://`` ezeep only
through the proxy, and verifies the server's certificate inside the tunnel::

    cert, key = self_signed(tmp_path)
    with TlsFront(emulator.url, cert, key) as front, ConnectProxy() as proxy:
        http = CloudHttp(..., account_url=front.url, ca_file=str(cert), proxy=proxy.url)
        ...
        assert proxy.tunnels == [front.authority]
"""

from __future__ import annotations

import selectors
import socket
import socketserver
import ssl
import threading
from pathlib import Path
from typing import Self


def pump(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until either side closes (TLS sockets included: their buffered
    bytes are drained, which ``select`` cannot see)."""
    with selectors.DefaultSelector() as selector:
        selector.register(one, selectors.EVENT_READ, other)
        selector.register(other, selectors.EVENT_READ, one)
        while True:
            for key, _ in selector.select(timeout=30):
                source, target = key.fileobj, key.data
                assert isinstance(source, socket.socket)
                try:
                    data = source.recv(65536)
                    while isinstance(source, ssl.SSLSocket) and source.pending():
                        data += source.recv(source.pending())
                    if not data:
                        return
                    target.sendall(data)
                except OSError:
                    return


class _Loopback(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, handler: type[socketserver.BaseRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


class ConnectProxy:
    """An HTTP forward proxy on 127.0.0.1 that opens CONNECT tunnels (nothing else: any other
    method is answered 501) and records each tunnel's ``host:port`` in :attr:`tunnels`.

    ``hosts`` maps names only the proxy can resolve to addresses, as on a network where only
    the proxy reaches the outside world (``{"ezeep.test": "127.0.0.1"}``). A host it cannot
    reach is answered 502, as a real proxy answers.
    """

    def __init__(self, hosts: dict[str, str] | None = None) -> None:
        self.tunnels: list[str] = []
        names = dict(hosts or {})
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                method, target, _ = head.split(b"\r\n", 1)[0].decode("ascii").split(" ", 2)
                if method != "CONNECT":
                    self.request.sendall(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n")
                    return
                host, _, port = target.rpartition(":")
                owner.tunnels.append(target)
                try:
                    upstream = socket.create_connection((names.get(host, host), int(port)), timeout=10)
                except OSError:
                    self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    return
                with upstream:
                    self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    pump(self.request, upstream)

        self._server = _Loopback(Handler)
        self.url = f"http://127.0.0.1:{self._server.port}"

    def __enter__(self) -> Self:
        self._server.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()


class TlsFront:
    """``https://127.0.0.1:PORT`` (certificate ``cert``, for 127.0.0.1) in front of a plain
    ``http://`` server on loopback such as the emulator: TLS ends here, bytes go on as they are."""

    def __init__(self, target_url: str, cert: Path, key: Path) -> None:
        host, port = target_url.removeprefix("http://").rstrip("/").split(":")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.create_connection((host, int(port)), timeout=10) as upstream:
                    pump(self.request, upstream)

        self._server = _Loopback(Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.authority = f"127.0.0.1:{self._server.port}"
        self.url = f"https://{self.authority}"

    def __enter__(self) -> Self:
        self._server.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()
