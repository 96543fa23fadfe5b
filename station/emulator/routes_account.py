"""The account host's users list: ``GET /v1/users/``, where ezeep keeps members' e-mail and names.

As ezeep documents it (apidocs ``ezeepblue/api/rest_api/users/README.html``): paged with
``page`` (from 1) and ``per_page``, each user with ``id``, ``email``, ``first_name``,
``last_name``, ``display_name`` and ``roles``; an administrator sees the organisation, an
ordinary user only themself. The envelope is api2's ``{count, next, previous, results}`` (assumed:
the page shows none). A device token is answered like an administrator, unless the fault switch
``refuse_device_users`` makes it a 403 (whether ezeep lets a device token read the list is not
documented).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from station.emulator.auth import Unauthorized
from station.emulator.model import EmuUser
from station.emulator.services import Services, unauthorized

MAX_PER_PAGE = 100


def _number(request: Request, name: str, default: int, high: int) -> int | None:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    return int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= high else None


def _user(user: EmuUser) -> dict[str, Any]:
    return {
        **user.as_json(),
        "display_name": user.name,
        "roles": ["admin"] if user.admin else ["user"],
    }


def routes(services: Services) -> list[Route]:
    async def users(request: Request) -> Response:
        services.counters.bump("api")
        try:
            principal = services.auth.authenticate(request.headers.get("authorization"))
        except Unauthorized as exc:
            return unauthorized(exc)
        if principal.kind == "device" and services.faults.current.refuse_device_users:
            return JSONResponse({"detail": "You do not have permission to perform this action."}, 403)
        page, per_page = _number(request, "page", 1, 2**31), _number(request, "per_page", 20, MAX_PER_PAGE)
        if page is None or per_page is None:
            return JSONResponse({"detail": f"page must be 1 or more, per_page 1..{MAX_PER_PAGE}"}, 400)
        members = services.org.users
        if principal.kind == "user" and not services.org.user(principal.sub).admin:
            members = [services.org.user(principal.sub)]  # "an ordinary user only gets their own"
        start = (page - 1) * per_page
        following = start + per_page < len(members)
        return JSONResponse(
            {
                "count": len(members),
                "next": str(request.url.include_query_params(page=page + 1, per_page=per_page))
                if following
                else None,
                "previous": str(request.url.include_query_params(page=page - 1, per_page=per_page))
                if page > 1
                else None,
                "results": [_user(u) for u in members[start : start + per_page]],
            }
        )

    return [Route("/v1/users/", users, methods=["GET"])]
