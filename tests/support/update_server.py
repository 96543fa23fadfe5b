"""An update server on loopback HTTPS: a manifest and bundles, with the faults a field sees.

It serves ``files`` (path → bytes) with ``Range`` requests answered by 206, as any web server
does; ``ignore_range`` answers them with the whole file instead, ``cut_after`` closes the
connection after that many bytes of a body (a dropped link, or the power gone at the station),
``stall`` holds every answer until the event is set (a server that does not answer). Every
request is kept in ``requests`` as (path, Range header).

Example::

    >>> import httpx, ssl, tempfile
    >>> from pathlib import Path
    >>> from tests.support.tls_files import self_signed
    >>> cert, key = self_signed(Path(tempfile.mkdtemp()))
    >>> with UpdateServer(cert, key) as server:
    ...     server.files["/b.raucb"] = b"0123456789"
    ...     answer = httpx.get(server.url("/b.raucb"), headers={"Range": "bytes=4-"},
    ...                        verify=ssl.create_default_context(cafile=cert))
    >>> answer.status_code, answer.content, server.requests
    (206, b'456789', [('/b.raucb', 'bytes=4-')])
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.support.tls_files import LoopbackHttps


class UpdateServer(LoopbackHttps):
    """Serves :attr:`files` over HTTPS on 127.0.0.1, with Range and the faults above."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.ignore_range = False
        self.cut_after: int | None = None
        self.stall: threading.Event | None = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Range", "")))
                if owner.stall is not None:
                    owner.stall.wait()
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = owner.range_start(self.headers.get("Range", ""))
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                sent = body[start:]
                if owner.cut_after is not None:
                    sent = sent[: owner.cut_after]
                self.wfile.write(sent)
                if owner.cut_after is not None:
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        super().__init__(Handler, cert, key)

    def range_start(self, header: str) -> int:
        """Where an answer to ``Range: header`` starts (0: the whole file)."""
        match = re.fullmatch(r"bytes=(\d+)-", header)
        return int(match.group(1)) if match and not self.ignore_range else 0

    def url(self, path: str) -> str:
        return self.base_url + path

    def publish(self, bundle: bytes, *, version: str, channel: str = "stable", **entry: object) -> str:
        """Serve ``bundle`` and a manifest offering it on ``channel``; the manifest's URL.
        ``entry`` overrides or adds manifest keys (``share``, ``size``, ``allow_older``…)."""
        name = f"/release-station-{version}.raucb"
        self.files[name] = bundle
        offer = {
            "version": version,
            "bundle": name.lstrip("/"),
            "sha256": hashlib.sha256(bundle).hexdigest(),
            "size": len(bundle),
            "share": 100,
        }
        self.files["/manifest.json"] = json.dumps(
            {"format": 1, "channels": {channel: offer | entry}}
        ).encode()
        return self.url("/manifest.json")
