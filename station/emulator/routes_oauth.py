"""The account host: pairing, the token endpoint, revoke, ``/v1/users/me`` and the JWKS."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from station.emulator.auth import OAuthError, Unauthorized
from station.emulator.connection import DropResponse
from station.emulator.routes_approval import DEVICE_PATH
from station.emulator.services import Services, base_url, unauthorized


def _client_id(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, _secret = decoded.partition(":")
    return client_id or None


def _oauth_error(error: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status)


def routes(services: Services) -> list[Route]:
    auth = services.auth
    counters = services.counters

    async def pair(request: Request) -> Response:
        counters.bump("pair")
        if _client_id(request) is None:
            return _oauth_error("invalid_client", 401)
        form = await request.form()
        hardware_id = str(form.get("hardware_id") or "") or None
        try:
            code = auth.start_pairing(str(form.get("mode", "")), hardware_id)
        except OAuthError as exc:
            return _oauth_error(exc.error)
        # Percent-encode the whole inner path, as ezeep's auth_url does.
        inner = f"/oauth/authorize/pairing/?pairing_code={code}&device=generic"
        auth_url = f"{base_url(request)}/auth/signin/?next={quote(inner, safe='')}"
        # A short address to type, then the code (RFC 8628's verification_uri; ezeep sends none).
        short_url = f"{base_url(request)}{DEVICE_PATH}"
        return JSONResponse({"pairing_code": code, "auth_url": auth_url, "verification_uri": short_url})

    async def access_token(request: Request) -> Response:
        client_id = _client_id(request)
        if client_id is None:
            return _oauth_error("invalid_client", 401)
        form = await request.form()
        grant = form.get("grant_type")
        try:
            if grant == "pairing_code":
                counters.bump("poll")
                code = str(form.get("pairing_code", ""))
                return JSONResponse(auth.poll(code, base_url(request), client_id))
            if grant == "refresh_token":
                counters.bump("refresh")
                answer = auth.refresh(str(form.get("refresh_token", "")), base_url(request), client_id)
                if services.faults.take("drop_after_rotation"):
                    return DropResponse()
                return JSONResponse(answer)
        except OAuthError as exc:
            return _oauth_error(exc.error)
        return _oauth_error("unsupported_grant_type")

    async def revoke(request: Request) -> Response:
        counters.bump("revoke")
        if _client_id(request) is None:
            return _oauth_error("invalid_client", 401)
        form = await request.form()
        auth.revoke(str(form.get("token", "")))
        # Documented: a success status without content (which one, the pages do not say).
        return Response(status_code=204 if services.faults.current.revoke_no_content else 200)

    async def me(request: Request) -> Response:
        counters.bump("api")
        try:
            principal = auth.authenticate(request.headers.get("authorization"))
        except Unauthorized as exc:
            return unauthorized(exc)
        if principal.kind != "user":
            return JSONResponse({"detail": "a device token has no user"}, status_code=403)
        return JSONResponse(services.org.user(principal.sub).as_json())

    async def jwks(request: Request) -> Response:
        return JSONResponse(services.signer.jwks())

    return [
        Route("/oauth/pair/", pair, methods=["POST"]),
        Route("/oauth/access_token/", access_token, methods=["POST"]),
        Route("/oauth/revoke/", revoke, methods=["POST"]),
        Route("/v1/users/me", me, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    ]
