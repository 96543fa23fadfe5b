"""Pairing codes, device bindings and token families: the emulator's OAuth server state.

A token family is every refresh token rotated from one pairing, with the access tokens issued
alongside. Rotation kills the previous refresh token at once. Revoking a refresh token kills
every refresh token of its family, as ezeep documents: only refresh tokens can be revoked (an
access token sent to revoke changes nothing) and the access tokens already issued live on until
they expire. With the ``reuse_detection`` fault, presenting a dead refresh token kills the
whole family, access tokens included. The same ``hardware_id`` always maps to the same device
principal and printer binding, and the device becomes the connector of the printer it is bound
to (its ``sub`` is that printer's ``connector_id``; inferred: ezeep's client-type note treats a
paired device with the ``tp_id`` claim as an embedded connector).

Which client id asks matters where ezeep enables things per client id (the
``refresh_token_clients`` and ``tp_id_claim_clients`` switches): a token answer to a client
without refresh tokens has none, and its refresh grant is ``unauthorized_client``; a device
token for a client without the claim has no ``tp_id``.
"""

from __future__ import annotations

import secrets
import string
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from station.emulator.faults import FaultSwitches
from station.emulator.model import ORG_ID, Settings, stable_id
from station.emulator.org import Org
from station.emulator.signing import InvalidToken, Signer

SCOPE = "printing"
SLOW_DOWN_STEP_S = 5
CODE_ALPHABET = string.ascii_letters + string.digits
Mode = Literal["device", "user"]
PairingState = Literal["pending", "approved", "denied", "used"]


class OAuthError(Exception):
    """An RFC 6749/8628 error answer: 400 ``{"error": <error>}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class Unauthorized(Exception):
    """A bearer token that is missing, not ours, expired or revoked: 401."""


class PairingError(ValueError):
    """An approval or denial that cannot apply (unknown, expired or already decided code)."""


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["device", "user"]
    sub: str
    tp_id: int | None = None


@dataclass(frozen=True, slots=True)
class PairingInfo:
    """What the approval page shows about a code."""

    code: str
    mode: Mode
    state: PairingState
    expired: bool
    bound_printer_id: str | None


@dataclass(slots=True)
class _Pairing:
    code: str
    mode: Mode
    device_key: str | None
    expires_at: float
    interval: float
    last_poll: float | None = None
    state: PairingState = "pending"
    user_id: str | None = None


@dataclass(slots=True)
class _Device:
    sub: str
    printer_id: str | None = None


@dataclass(slots=True)
class _Family:
    principal_kind: Literal["device", "user"]
    sub: str
    device_key: str | None
    refresh_token: str
    rotated: set[str] = field(default_factory=set)
    revoked: bool = False  # no refresh token of the family works any more
    access_dead: bool = False  # nor any access token (reuse detection, not revoke)


class AuthServer:
    def __init__(
        self, org: Org, signer: Signer, faults: FaultSwitches, settings: Settings, clock: Callable[[], float]
    ) -> None:
        self._lock = threading.Lock()
        self._org = org
        self._signer = signer
        self._faults = faults
        self._settings = settings
        self._clock = clock
        self._pairings: dict[str, _Pairing] = {}
        self._devices: dict[str, _Device] = {}
        self._families: dict[str, _Family] = {}
        self._connectors: dict[str, str] = {}  # printer id -> sub of the device last bound to it
        self._refresh_index: dict[str, str] = {}  # refresh token (live or rotated) -> family id
        self._access_index: dict[str, str] = {}  # access token jti -> family id
        self.auto_approve_device: str | None = None
        self.auto_approve_user: str | None = None

    # -- pairing -------------------------------------------------------------------------

    def set_auto_approve_device(self, printer_id: str | None) -> None:
        """Approve device pairings at once, binding new devices to ``printer_id`` (None: stop);
        an unknown printer is :class:`~station.emulator.org.NotFound`."""
        if printer_id is not None:
            self._org.printer(printer_id)
        self.auto_approve_device = printer_id

    def start_pairing(self, mode: str, hardware_id: str | None) -> str:
        if mode not in ("device", "user"):
            raise OAuthError("invalid_request")
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
        now = self._clock()
        with self._lock:
            self._forget_stale_pairings(now)
            device_key = None
            if mode == "device":
                device_key = f"hw:{hardware_id}" if hardware_id else f"anonymous:{code}"
                if device_key not in self._devices:
                    sub = stable_id("device", hardware_id) if hardware_id else str(uuid.uuid4())
                    self._devices[device_key] = _Device(sub)
            self._pairings[code] = _Pairing(
                code,
                "device" if mode == "device" else "user",
                device_key,
                now + self._settings.code_lifetime_s,
                self._settings.poll_interval_s,
            )
        return code

    def _forget_stale_pairings(self, now: float) -> None:
        stale = [c for c, p in self._pairings.items() if p.expires_at + self._settings.code_lifetime_s < now]
        for code in stale:
            del self._pairings[code]

    def poll(self, code: str, issuer: str, client_id: str) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            pairing = self._pairings.get(code)
            if pairing is None or pairing.state == "used":
                raise OAuthError("invalid_grant")
            if now >= pairing.expires_at:
                raise OAuthError("expired_token")
            if pairing.last_poll is not None and now - pairing.last_poll < pairing.interval:
                pairing.interval += SLOW_DOWN_STEP_S
                pairing.last_poll = now
                raise OAuthError("slow_down")
            pairing.last_poll = now
            if pairing.state == "pending" and self._faults.current.deny_pairing:
                raise OAuthError("access_denied")
            if pairing.state == "pending":
                self._auto_approve(pairing)
            if pairing.state == "denied":
                raise OAuthError("access_denied")
            if pairing.state == "pending":
                raise OAuthError("authorization_pending")
            pairing.state = "used"
            if pairing.mode == "device":
                assert pairing.device_key is not None
                family = _Family("device", self._devices[pairing.device_key].sub, pairing.device_key, "")
            else:
                assert pairing.user_id is not None
                family = _Family("user", pairing.user_id, None, "")
            family_id = str(uuid.uuid4())
            self._families[family_id] = family
            return self._issue(family_id, family, issuer, client_id)

    def _auto_approve(self, pairing: _Pairing) -> None:
        if pairing.mode == "device" and self.auto_approve_device:
            device = self._devices[pairing.device_key or ""]
            self._decide(
                pairing, approve=True, email=None, printer_id=device.printer_id or self.auto_approve_device
            )
        elif pairing.mode == "user" and self.auto_approve_user:
            self._decide(pairing, approve=True, email=self.auto_approve_user, printer_id=None)

    def approve(self, code: str, *, email: str, printer_id: str | None = None) -> None:
        with self._lock:
            self._decide(self._pending(code), approve=True, email=email, printer_id=printer_id)

    def deny(self, code: str) -> None:
        with self._lock:
            self._decide(self._pending(code), approve=False, email=None, printer_id=None)

    def _pending(self, code: str) -> _Pairing:
        pairing = self._pairings.get(code)
        if pairing is None:
            raise PairingError(f"unknown pairing code {code!r}")
        if self._clock() >= pairing.expires_at:
            raise PairingError(f"pairing code {code!r} has expired")
        if pairing.state != "pending":
            raise PairingError(f"pairing code {code!r} was already {pairing.state}")
        return pairing

    def _decide(self, pairing: _Pairing, *, approve: bool, email: str | None, printer_id: str | None) -> None:
        if not approve:
            pairing.state = "denied"
            return
        if pairing.mode == "user":
            if email is None:
                raise PairingError("a user pairing is approved by an org member")
            pairing.user_id = self._org.user_by_email(email).id
        else:
            device = self._devices[pairing.device_key or ""]
            chosen = printer_id or device.printer_id or next((p.id for p in self._org.printers), None)
            if chosen is None:
                raise PairingError("the organisation has no printer to bind the device to")
            device.printer_id = self._org.printer(chosen).id
            self._connectors[device.printer_id] = device.sub
        pairing.state = "approved"

    def pairing_info(self, code: str) -> PairingInfo:
        with self._lock:
            pairing = self._pairings.get(code)
            if pairing is None:
                raise PairingError(f"unknown pairing code {code!r}")
            bound = self._devices[pairing.device_key].printer_id if pairing.device_key else None
            return PairingInfo(code, pairing.mode, pairing.state, self._clock() >= pairing.expires_at, bound)

    def binding(self, hardware_id: str) -> int | None:
        with self._lock:
            device = self._devices.get(f"hw:{hardware_id}")
            printer_id = device.printer_id if device else None
        return self._org.printer(printer_id).tp_id if printer_id else None

    def connector_of(self, printer_id: str) -> str | None:
        """The ``sub`` of the device last bound to a printer (its connector), if any."""
        with self._lock:
            return self._connectors.get(printer_id)

    # -- tokens --------------------------------------------------------------------------

    def _issue(self, family_id: str, family: _Family, issuer: str, client_id: str) -> dict[str, Any]:
        now = int(self._clock())
        lifetime = self._settings.access_token_lifetime_s
        jti = str(uuid.uuid4())
        claims: dict[str, Any] = {
            "iss": issuer,
            "iat": now,
            "exp": now + lifetime,
            "scopes": SCOPE,
            "sub": family.sub,
            "org": ORG_ID,
            "jti": jti,
        }
        faults = self._faults.current
        if family.principal_kind == "device":
            claims["pty"] = "dev"
            if faults.enabled(faults.tp_id_claim_clients, client_id):
                claims["tp_id"] = self._tp_id(family.device_key)
        self._access_index[jti] = family_id
        answer: dict[str, Any] = {
            "access_token": self._signer.sign(claims),
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": SCOPE,
        }
        if faults.enabled(faults.refresh_token_clients, client_id):
            family.refresh_token = secrets.token_hex(16)
            self._refresh_index[family.refresh_token] = family_id
            answer["refresh_token"] = family.refresh_token
        return answer

    def _tp_id(self, device_key: str | None) -> int | None:
        printer_id = self._devices[device_key].printer_id if device_key else None
        return self._org.printer(printer_id).tp_id if printer_id else None

    def refresh(self, refresh_token: str, issuer: str, client_id: str) -> dict[str, Any]:
        faults = self._faults.current
        if not faults.enabled(faults.refresh_token_clients, client_id):
            raise OAuthError("unauthorized_client")  # RFC 6749 5.2: this client may not use the grant
        with self._lock:
            family_id = self._refresh_index.get(refresh_token)
            family = self._families.get(family_id) if family_id else None
            if family is None or family_id is None or family.revoked:
                raise OAuthError("invalid_grant")
            if refresh_token != family.refresh_token:
                if self._faults.current.reuse_detection:
                    family.revoked = family.access_dead = True
                raise OAuthError("invalid_grant")
            family.rotated.add(refresh_token)
            return self._issue(family_id, family, issuer, client_id)

    def revoke(self, token: str) -> None:
        """Revoke the family of a refresh token; anything else is ignored (RFC 7009)."""
        with self._lock:
            family_id = self._refresh_index.get(token)
            if family_id is not None:
                self._families[family_id].revoked = True

    def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a bearer token is required")
        try:
            claims = self._signer.verify(token.strip())
        except InvalidToken:
            raise Unauthorized("the token is not valid") from None
        with self._lock:
            family_id = self._access_index.get(str(claims.get("jti")))
            family = self._families.get(family_id) if family_id else None
            if family is None or family.access_dead:
                raise Unauthorized("the token was revoked")
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= self._clock():
            raise Unauthorized("the token has expired")
        return Principal(family.principal_kind, family.sub, claims.get("tp_id"))
