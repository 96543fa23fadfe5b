"""The emulator's ASGI application (Starlette): every host's paths on one port, behind the fault
middleware; :mod:`.server` runs it."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from station.emulator import routes_account, routes_admin, routes_approval, routes_oauth, routes_rest
from station.emulator.faults import FaultMiddleware
from station.emulator.services import Services


def build_app(services: Services) -> Starlette:
    return Starlette(
        routes=[
            *routes_oauth.routes(services),
            *routes_account.routes(services),
            *routes_rest.routes(services),
            *routes_approval.routes(services),
            *routes_admin.routes(services),
        ],
        middleware=[Middleware(FaultMiddleware, switches=services.faults, counters=services.counters)],
    )
