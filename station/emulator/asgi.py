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
        # Starlette tries the routes in order and no two share a path: the ones a tap's requests
        # take come first, so their answers are not held behind a dozen failed matches each.
        routes=[
            *routes_rest.routes(services),
            *routes_oauth.routes(services),
            *routes_account.routes(services),
            *routes_approval.routes(services),
            *routes_admin.routes(services),
        ],
        middleware=[Middleware(FaultMiddleware, switches=services.faults, counters=services.counters)],
    )
