"""A stand-in for Microsoft Graph and the Entra ID token endpoint, over HTTPS on loopback.

Follows the documented shapes the ``graph`` directory source relies on: the client-credentials
token endpoint (``POST /{tenant}/oauth2/v2.0/token``) with a client secret, or with a client
assertion checked as Entra ID does for a certificate credential (the ``x5t#S256`` thumbprint
names the certificate registered as ``app_certificate``, its key signed the JWT, PS256 or RS256;
the audience is the token endpoint, issuer and subject the client id, the time window holds,
and a ``jti`` is taken once), ``GET /v1.0/users/delta`` with
``$select``, pages linked by ``@odata.nextLink`` and a last page with ``@odata.deltaLink``, whose
``$deltatoken`` later returns only the users changed since (removed ones as ``@removed``),
``GET /v1.0/users?$filter=mail eq '…'`` with ``$select``, ``PATCH /v1.0/users/{id}``, and ``429`` with
``Retry-After`` for the request that ``throttle`` names. Every request is recorded as
``(method, path?query)``.

Example::

    with GraphStandIn(cert, key, secret="s3cret") as graph:
        graph.put_user("id-1", mail="ann@example.com", employeeId="B1")
        graph.login_url, graph.graph_url  # for [directory.graph]
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.support.tls_files import LoopbackHttps

PAGE = 2
TENANT = "contoso"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"


class GraphStandIn(LoopbackHttps):
    """Users by id, a change log for delta tokens, and what was asked."""

    def __init__(self, cert: Path, key: Path, *, secret: str, app_certificate: Path | None = None) -> None:
        self.secret = secret
        self.app_certificate = (
            None if app_certificate is None else x509.load_pem_x509_certificate(app_certificate.read_bytes())
        )
        self.assertions_seen: set[str] = set()  # jti values: an assertion is good once
        self.users: dict[str, dict[str, Any]] = {}
        self.changed_at: dict[str, int] = {}  # user id -> sequence number of its last change
        self.removed_at: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self.throttle = ""  # the next Graph request whose path?query contains this gets a 429
        self.retry_after = "7"  # with this Retry-After
        self.tokens_issued = 0
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.handle(self, "GET")

            def do_POST(self) -> None:
                owner.handle(self, "POST")

            def do_PATCH(self) -> None:
                owner.handle(self, "PATCH")

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        super().__init__(Handler, cert, key)
        self.login_url, self.graph_url = self.base_url, f"{self.base_url}/v1.0"

    def put_user(self, user_id: str, **properties: Any) -> None:
        """Add or change a user (properties merged, one level of nesting)."""
        with self._lock:
            user = self.users.setdefault(user_id, {"id": user_id})
            for name, value in properties.items():
                if isinstance(value, dict):
                    user.setdefault(name, {}).update(value)
                else:
                    user[name] = value
            self.changed_at[user_id] = next(self._seq)

    def remove_user(self, user_id: str) -> None:
        with self._lock:
            del self.users[user_id]
            self.removed_at[user_id] = next(self._seq)

    # -- the answers ----------------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        """Answer one request (called by the HTTP server's handler thread)."""
        self.requests.append((method, handler.path))
        parts = urlsplit(handler.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if method == "POST" and parts.path == f"/{TENANT}/oauth2/v2.0/token":
            self._token(handler, {k: v[0] for k, v in parse_qs(body.decode()).items()})
            return
        if self.throttle and self.throttle in unquote(handler.path):
            self.throttle = ""
            wait = {"Retry-After": self.retry_after}
            self._send(handler, 429, {"error": {"code": "TooManyRequests"}}, wait)
            return
        if handler.headers.get("Authorization") != "Bearer token-1":
            self._send(handler, 401, {"error": {"code": "InvalidAuthenticationToken"}})
            return
        if method == "GET" and parts.path == "/v1.0/users/delta":
            self._delta(handler, query)
        elif method == "GET" and parts.path == "/v1.0/users":
            self._by_mail(handler, query)
        elif method == "PATCH" and parts.path.startswith("/v1.0/users/"):
            user_id = unquote(parts.path.rsplit("/", 1)[1])
            if user_id not in self.users:
                self._send(handler, 404, {"error": {"code": "Request_ResourceNotFound"}})
                return
            self.put_user(user_id, **json.loads(body))
            self._send(handler, 204, None)
        else:
            self._send(handler, 404, {"error": {"code": "NotFound"}})

    def _token(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        if "client_assertion" in form:
            proven = self._assertion_holds(form, f"{self.login_url}{handler.path}")
        else:
            proven = form.get("client_secret") == self.secret
        good = (
            proven
            and form.get("grant_type") == "client_credentials"
            and form.get("client_id") == CLIENT_ID
            and form.get("scope") == "https://graph.microsoft.com/.default"
        )
        if not good:
            self._send(handler, 401, {"error": "invalid_client"})
            return
        self.tokens_issued += 1
        self._send(handler, 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": "token-1"})

    def _assertion_holds(self, form: dict[str, str], audience: str) -> bool:
        registered = self.app_certificate
        if registered is None:
            return False
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return False
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            thumbprint = base64.urlsafe_b64encode(registered.fingerprint(hashes.SHA256())).rstrip(b"=")
            if header.get("x5t#S256", "").encode() != thumbprint:
                return False  # not the certificate registered with the app
            claims = jwt.decode(
                assertion,
                registered.public_key(),  # type: ignore[arg-type]
                algorithms=["PS256", "RS256"],
                audience=audience,
                issuer=CLIENT_ID,
                options={"require": ["exp", "nbf", "jti", "sub"]},
            )
        except jwt.PyJWTError:
            return False
        with self._lock:
            fresh = claims["sub"] == CLIENT_ID and claims["jti"] not in self.assertions_seen
            self.assertions_seen.add(claims["jti"])
        return bool(fresh)

    def _delta(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        select = query.get("$select", "")
        since = int(query.get("$deltatoken", "0"))
        with self._lock:
            rows: list[dict[str, Any]] = [
                self._selected(user, select)
                for uid, user in self.users.items()
                if self.changed_at[uid] > since
            ]
            if since:
                rows += [
                    {"id": uid, "@removed": {"reason": "deleted"}}
                    for uid, at in self.removed_at.items()
                    if at > since
                ]
            now = max([0, *self.changed_at.values(), *self.removed_at.values()])
        skip = int(query.get("$skiptoken", "0"))
        page: dict[str, Any] = {"value": rows[skip : skip + PAGE]}
        base = f"{self.graph_url}/users/delta?$select={select}"
        if skip + PAGE < len(rows):
            token = f"&$deltatoken={since}" if since else ""
            page["@odata.nextLink"] = f"{base}{token}&$skiptoken={skip + PAGE}"
        else:
            page["@odata.deltaLink"] = f"{base}&$deltatoken={now}"
        self._send(handler, 200, page)

    def _by_mail(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        wanted = query.get("$filter", "").removeprefix("mail eq '").removesuffix("'").replace("''", "'")
        select = query.get("$select", "id")
        found = [self._selected(user, select) for user in self.users.values() if user.get("mail") == wanted]
        self._send(handler, 200, {"value": found})

    @staticmethod
    def _selected(user: dict[str, Any], select: str) -> dict[str, Any]:
        names = select.split(",") if select else list(user)
        return {name: user.get(name) for name in names}

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, body: object, headers: dict[str, str] | None = None
    ) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
