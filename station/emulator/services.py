"""The emulator's shared parts, handed to every group of routes."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse

from station.emulator.auth import AuthServer
from station.emulator.counters import Counters
from station.emulator.faults import FaultSwitches
from station.emulator.org import Org
from station.emulator.signing import Signer


@dataclass(frozen=True, slots=True)
class Services:
    org: Org
    auth: AuthServer
    faults: FaultSwitches
    counters: Counters
    signer: Signer


def base_url(request: Request) -> str:
    """The URL the client used to reach us, so links work behind any host name."""
    return str(request.base_url).rstrip("/")


def unauthorized(exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
