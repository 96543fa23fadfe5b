"""The ``graph`` directory source: Microsoft Entra ID through Microsoft Graph.

The station signs in as an app registration with the client-credentials grant, with the client
secret from ``secret_file`` (mode 0600) or with a certificate: a client assertion (a JWT signed
with ``key_file``, mode 0600, whose header names ``certificate_file`` by its SHA-256 and SHA-1
thumbprints, ``x5t#S256`` and ``x5t``; PS256, audience the token endpoint, issuer and subject the
client id, a fresh ``jti``, valid for 10 minutes), as the Microsoft identity platform documents
for certificate credentials; see :func:`client_assertion`. It reads users through ``/users/delta`` with
``$select`` of the id, ``mail``, ``displayName`` and the badge property only. The first round
pages through ``@odata.nextLink`` to the ``@odata.deltaLink``; later syncs ask that delta link
for the changes alone (users with ``@removed`` are gone) and merge them into the state kept in
memory, so each sync still hands over a whole snapshot. After a restart the first sync is a full
round again. A ``429`` answer ends the sync with a :class:`SourceError` carrying ``Retry-After``
(the sync loop waits at least that long); the round resumes at the page it stopped at.

Write-back finds the user by ``mail`` and PATCHes the badge property. A Graph property holds
one value, so a person has one badge in Entra ID: the newest enrolment replaces the one there,
and the older badge leaves every station at its next sync (a second badge stays local only on
``[directory] source = "local"``). Unlinking a badge clears the property only if it still holds
that badge, so an unlink never erases a newer enrolment made at another station.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from station.config import DirectoryGraphSection
from station.directory_sources import read_secret, tls_context
from station.directory_sync import NotInSourceError, Snapshot, SourceError, SourceRecord

MAX_PAGES = 10_000  # a broken server that links pages in a circle must end somewhere
SCOPE = "https://graph.microsoft.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_S = 600  # how long a client assertion is valid: short, as Microsoft advises


@dataclass(frozen=True, slots=True)
class _Person:
    badge: str
    email: str
    name: str


def _badge_of(user: Mapping[str, Any], prop: str) -> str | None:
    """The badge property's value, ``None`` when the answer does not carry it (delta: unchanged)."""
    head, _, tail = prop.partition(".")
    if head not in user:
        return None
    value = user[head]
    if tail:
        value = (value or {}).get(tail) if isinstance(value, dict) else None
    return value.strip() if isinstance(value, str) else ""


def client_assertion(section: DirectoryGraphSection, audience: str, now: float) -> str:
    """The signed JWT that proves the app's identity with its certificate (``private_key_jwt``)."""
    certificate = _certificate(section.certificate_file)
    try:
        key = serialization.load_pem_private_key(
            read_secret(section.key_file, "private key").encode(), password=None
        )
    except (ValueError, TypeError) as exc:
        raise SourceError(f"{section.key_file} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SourceError(f"{section.key_file}: Entra ID takes RSA certificates only")
    headers = {
        "x5t#S256": _b64url(certificate.fingerprint(hashes.SHA256())),
        "x5t": _b64url(certificate.fingerprint(hashes.SHA1())),  # noqa: S303 (an identifier, as documented)
    }
    claims = {
        "aud": audience,
        "iss": section.client_id,
        "sub": section.client_id,
        "jti": str(uuid.uuid4()),
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + ASSERTION_S,
    }
    return jwt.encode(claims, key, algorithm="PS256", headers=headers)


def _certificate(path: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read the app's certificate {path}: {exc}") from exc


def _b64url(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class GraphSource:
    """Reads (and with write-back, writes) badges in Entra ID; ``transport`` is for tests only."""

    def __init__(
        self, section: DirectoryGraphSection, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._section = section
        self._client = httpx.Client(
            verify=tls_context(section.ca_file), timeout=section.timeout_s, transport=transport
        )
        self._token = ""
        self._token_until = 0.0
        self._people: dict[str, _Person] = {}  # by Graph user id, as of self._delta_link
        self._delta_link = ""
        self._round: dict[str, _Person] | None = None  # a full round in progress
        self._next = ""  # where the round in progress goes on

    def describe(self) -> str:
        return f"graph tenant {self._section.tenant_id}"

    def fetch(self, version: str) -> Snapshot | None:
        prop = self._section.badge_property
        select = ",".join(["id", "mail", "displayName", prop.partition(".")[0]])
        incremental = bool(self._delta_link) and version == self._delta_link and self._round is None
        if incremental:
            people = dict(self._people)
            url = self._delta_link
        else:
            if self._round is None:
                self._round, self._next = {}, f"{self._section.graph_url}/users/delta?$select={select}"
            people, url = self._round, self._next
        for _ in range(MAX_PAGES):
            page = self._get(url)
            for user in page.get("value") or []:
                self._merge(people, user, prop)
            if "@odata.nextLink" in page:
                url = str(page["@odata.nextLink"])
                if not incremental:
                    self._next = url  # a throttled round resumes here
                continue
            link = str(page.get("@odata.deltaLink") or "")
            if not link:
                raise SourceError("Graph ended the user list without a deltaLink")
            self._people, self._delta_link, self._round, self._next = people, link, None, ""
            records = tuple(
                SourceRecord(f"user {user_id}", person.badge, person.email, person.name)
                for user_id, person in sorted(people.items())
            )
            return Snapshot(records, link)
        raise SourceError(f"Graph linked more than {MAX_PAGES} pages of users")

    @staticmethod
    def _merge(people: dict[str, _Person], user: Mapping[str, Any], prop: str) -> None:
        user_id = str(user.get("id") or "")
        if not user_id:
            return
        if "@removed" in user:
            people.pop(user_id, None)
            return
        before = people.get(user_id)
        badge = _badge_of(user, prop)
        email = user.get("mail") if "mail" in user else (before.email if before else "")
        name = user.get("displayName") if "displayName" in user else (before.name if before else "")
        person = _Person(
            badge if badge is not None else (before.badge if before else ""),
            str(email or ""),
            str(name or ""),
        )
        if person.badge and person.email:
            people[user_id] = person
        else:
            people.pop(user_id, None)  # no badge, or no address to find the ezeep user by

    def write_badge(self, email: str, badge_id: str) -> None:
        self._patch(self._user(email), badge_id)

    def remove_badge(self, email: str, badge_id: str) -> None:
        user = self._user(email)
        if _badge_of(user, self._section.badge_property) == badge_id:  # not a newer badge
            self._patch(user, None)

    def _user(self, email: str) -> dict[str, Any]:
        """The one user whose ``mail`` is ``email``: the id and the badge property."""
        escaped = quote(email.replace("'", "''"))
        select = f"id,{self._section.badge_property.partition('.')[0]}"
        url = f"{self._section.graph_url}/users?$filter=mail eq '{escaped}'&$select={select}"
        found = self._get(url).get("value") or []
        if not found:
            raise NotInSourceError("nobody in Entra ID has this e-mail address")
        if len(found) > 1:
            raise SourceError("several users in Entra ID have this e-mail address")
        return dict(found[0])

    def _patch(self, user: Mapping[str, Any], badge_id: str | None) -> None:
        """Set the badge property (one value per person: it replaces the one there; ``None`` clears it)."""
        head, _, tail = self._section.badge_property.partition(".")
        body: dict[str, Any] = {head: {tail: badge_id}} if tail else {head: badge_id}
        self._send("PATCH", f"{self._section.graph_url}/users/{quote(str(user.get('id', '')))}", json=body)

    def close(self) -> None:
        self._client.close()

    def _get(self, url: str) -> dict[str, Any]:
        answer = self._send("GET", url)
        try:
            page = answer.json()
        except ValueError as exc:
            raise SourceError("Graph answered something that is not JSON") from exc
        if not isinstance(page, dict):
            raise SourceError("Graph answered JSON that is not an object")
        return page

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._access_token()}"}
        try:
            answer = self._client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot reach Microsoft Graph: {exc or type(exc).__name__}") from exc
        if answer.status_code == 429:
            wait = answer.headers.get("Retry-After", "")
            seconds = float(wait) if wait.isdigit() else 60.0
            raise SourceError(f"Microsoft Graph is throttling; it asked to wait {seconds:.0f} s", seconds)
        if answer.status_code == 401:
            self._token = ""  # perhaps revoked early: sign in again next time
        if answer.status_code >= 400:
            raise SourceError(f"Microsoft Graph answered HTTP {answer.status_code} to {method}")
        return answer

    def _access_token(self) -> str:
        if self._token and time.monotonic() < self._token_until:
            return self._token
        section = self._section
        url = f"{section.login_url}/{quote(section.tenant_id)}/oauth2/v2.0/token"
        form = {"client_id": section.client_id, "scope": SCOPE, "grant_type": "client_credentials"}
        if section.certificate_file:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = client_assertion(section, url, time.time())
        else:
            form["client_secret"] = read_secret(section.secret_file, "client secret")
        try:
            answer = self._client.post(url, data=form)
            body = answer.json() if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            raise SourceError(f"cannot sign in to Entra ID: {exc or type(exc).__name__}") from exc
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            error = f"HTTP {answer.status_code}"
            what = "the certificate registered with the app" if section.certificate_file else "the secret"
            raise SourceError(f"Entra ID refused the app's sign-in ({error}); check client_id and {what}")
        expires = body.get("expires_in", 3600)
        self._token = token
        self._token_until = time.monotonic() + max(
            60.0, float(expires if isinstance(expires, int) else 3600) - 60
        )
        return self._token
