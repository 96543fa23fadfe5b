"""A throw-away CA and certificate for 127.0.0.1, an app registration's certificate, an HTTPS
server of one file on loopback, and a kept-alive JSON answer that counts its connections.

Example::

    cert, key = self_signed(tmp_path)
    with FileServer(cert, key) as server:
        server.body = b"badge,email\\n"
        url = server.url  # https://127.0.0.1:PORT/badges.csv, trusted with ca_file=str(cert)
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A CA certificate that is also the server's certificate for ``host`` (an address or a
    name); (cert, key) PEM paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        name = x509.DNSName(host)
    cert = (
        _builder("release-station test CA", key, days=1)
        .add_extension(x509.SubjectAlternativeName([name]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _save(cert, key, directory / "cert.pem", directory / "key.pem")


def app_certificate(directory: Path, name: str = "app") -> tuple[Path, Path]:
    """An app registration's certificate as Entra ID takes it (RSA 2048, self-signed); (cert, key)
    PEM paths named after ``name``, the key mode 0600."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _builder(f"release-station {name}", key, days=365).sign(key, hashes.SHA256())
    return _save(cert, key, directory / f"{name}-cert.pem", directory / f"{name}-key.pem")


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _builder(common_name: str, key: PrivateKey, *, days: int) -> x509.CertificateBuilder:
    """A self-signed certificate's builder: valid from yesterday for ``days``."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _save(
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    cert_path: Path,
    key_path: Path,
) -> tuple[Path, Path]:
    """Write ``cert`` and ``key`` as PEM, the key mode 0600; the two paths."""
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class LoopbackHttps:
    """An HTTPS server on 127.0.0.1 answering with ``handler`` on its own thread, in a ``with`` block."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], cert: Path, key: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.base_url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class FileServer(LoopbackHttps):
    """Serves ``body`` over HTTPS with a strong ETag and answers ``If-None-Match`` with 304."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.body = b""
        self.answers: list[int] = []  # status codes, in order
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = owner.body
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                status = 304 if self.headers.get("If-None-Match") == etag else 200
                owner.answers.append(status)
                self.send_response(status)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body) if status == 200 else 0))
                self.end_headers()
                if status == 200:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        super().__init__(Handler, cert, key)
        self.url = f"{self.base_url}/badges.csv"


def json_handler(
    accepted: list[int], *, closed: threading.Event | None = None
) -> type[BaseHTTPRequestHandler]:
    """Answers every GET with ``{"ok": true}`` on kept-alive connections, one ``1`` in
    ``accepted`` for each connection; ``closed``: closes the connection after each answer,
    without saying so in it (an idle timeout shorter than the client's), and sets the event."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a connection serves more than one request

        def setup(self) -> None:
            accepted.append(1)
            super().setup()

        def do_GET(self) -> None:
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            if closed is not None:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                closed.set()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    return Handler
