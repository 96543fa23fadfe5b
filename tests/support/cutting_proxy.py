"""A loopback TCP proxy in front of the emulator that loses the server's answers on purpose.

The server did the work, the station never hears of it: the case that must never release a job
twice. ``with CuttingProxy(emulator.url, cut_after=b"/release") as proxy:`` and point the
station at ``proxy.url``.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    """TCP proxy on 127.0.0.1 in front of the emulator that can lose the server's answers.

    A request whose bytes contain ``cut_after`` reaches the server in full, but its answer is
    thrown away and the connection closed: the server did the work, the station never hears of
    it. With ``cut_lists`` the same happens to job-list requests.
    """

    def __init__(self, target_url: str, *, cut_after: bytes = b"", cut_lists: bool = False) -> None:
        host, port = target_url.removeprefix("http://").split(":")
        self._target = (host, int(port))
        self.cut_after = cut_after
        self.cut_lists = cut_lists
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def __enter__(self) -> CuttingProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._server.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            self._spawn(self._serve, client)

    def _cuts(self, request: bytes) -> bool:
        lists = self.cut_lists and b"GET /printing/v1/printjobs/" in request
        return lists or bool(self.cut_after and self.cut_after in request)

    def _serve(self, client: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(client)
            upstream = stack.enter_context(socket.create_connection(self._target, timeout=10))
            client.settimeout(0.2)
            while not self._stop.is_set():
                try:
                    request = self._read_request(client)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not request:
                    return
                upstream.sendall(request)
                if self._cuts(request):
                    self._swallow_answer(client, upstream)
                    return
                if not self._relay_answer(upstream, client):
                    return

    def _read_request(self, client: socket.socket) -> bytes:
        """One whole request (a form POST arrives as two writes); b"" when the client is gone."""
        data = client.recv(65536)
        while data and not self._stop.is_set():
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and len(body) >= _content_length(head):
                break
            with contextlib.suppress(TimeoutError):
                more = client.recv(65536)
                if not more:
                    return b""
                data += more
        return data

    @staticmethod
    def _swallow_answer(client: socket.socket, upstream: socket.socket) -> None:
        """Pass the rest of the request on until the server answers, then drop the answer."""
        upstream.settimeout(0.05)
        for _ in range(200):
            with contextlib.suppress(TimeoutError):
                upstream.recv(65536)
                return
            with contextlib.suppress(TimeoutError):
                more = client.recv(65536)
                if not more:
                    return
                upstream.sendall(more)

    @staticmethod
    def _relay_answer(upstream: socket.socket, client: socket.socket) -> bool:
        """Relay one answer (header + Content-Length body); False when the connection ended."""
        data = b""
        for _ in range(10_000):
            chunk = upstream.recv(65536)
            if not chunk:
                return False
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and len(body) >= _content_length(head):
                client.sendall(data)
                return True
        return False


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0
