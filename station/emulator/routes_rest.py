"""The REST and print hosts: printers, users, a user's waiting jobs, release, status, delete.

The job list obeys the content faults (:class:`~station.emulator.model.Faults`): it may ignore
``user=``, leave out the owner field, or never end.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from station.emulator.auth import Principal, Unauthorized
from station.emulator.model import Faults
from station.emulator.org import NotFound, Org
from station.emulator.services import Services, unauthorized

MAX_LIMIT = 100

Handler = Callable[[Request, Principal], Awaitable[Response]]


class BadRequest(ValueError):
    pass


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _page(request: Request, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The api2 list envelope, with ``next``/``previous`` links that keep the other filters."""
    limit = _int_param(request, "limit", MAX_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 2**31)
    following = offset + limit
    previous = max(0, offset - limit)
    return {
        "count": len(rows),
        "next": str(request.url.include_query_params(limit=limit, offset=following))
        if following < len(rows)
        else None,
        "previous": str(request.url.include_query_params(limit=limit, offset=previous))
        if offset > 0
        else None,
        "results": rows[offset:following],
    }


def _jobs_page(
    org: Org, faults: Faults, request: Request, user_id: str | None, *, device: bool
) -> dict[str, Any]:
    """A page of the job list of ``user_id`` (None: everybody's), as the faults shape it."""
    order = request.query_params.get("o", "-created")
    if order not in ("created", "-created"):
        raise BadRequest("o must be created or -created")
    if faults.endless_jobs:
        return _endless_page(request, user_id or "nobody")
    if faults.ignore_user_filter and device:
        user_id = None
    rows = org.jobs(
        user_id=user_id, status=request.query_params.get("status") or None, newest_first=order == "-created"
    )
    if faults.hide_job_owner:
        rows = [{key: value for key, value in row.items() if key != "owner_id"} for row in rows]
    return _page(request, rows)


def _endless_page(request: Request, owner_id: str) -> dict[str, Any]:
    """A full page of made-up jobs of ``owner_id`` that always has a next page."""
    limit = _int_param(request, "limit", MAX_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 2**31)
    rows = [
        {"id": f"endless-{n}", "name": f"Endless {n}.pdf", "pages": 1, "owner_id": owner_id}
        for n in range(offset, offset + limit)
    ]
    following = str(request.url.include_query_params(limit=limit, offset=offset + limit))
    return {"count": 2**31, "next": following, "previous": None, "results": rows}


def _error(detail: str, status: int) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def routes(services: Services) -> list[Route]:
    org = services.org

    def api(counter: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            services.counters.bump(counter)
            try:
                principal = services.auth.authenticate(request.headers.get("authorization"))
            except Unauthorized as exc:
                return unauthorized(exc)
            try:
                return await handler(request, principal)
            except BadRequest as exc:
                return _error(str(exc), 400)
            except NotFound as exc:
                return _error(str(exc), 404)

        return endpoint

    async def printers(request: Request, principal: Principal) -> Response:
        rows = [
            {
                "id": p.id,
                "name": p.name,
                "tp_id": p.tp_id,
                "status": p.status,
                "location": p.location,
                "vendor_name": "Emulated",
                "model_name": "AnyModel 9000",
                "supported_formats": ["PDF"],
            }
            for p in org.printers
        ]
        return JSONResponse(_page(request, rows))

    async def get_printer(request: Request, principal: Principal) -> Response:
        return JSONResponse([{"id": p.id, "name": p.name, "location": p.location} for p in org.printers])

    def owner_filter(request: Request, principal: Principal) -> str | None:
        asked = request.query_params.get("user") or None
        if principal.kind == "device":
            return asked
        if asked not in (None, principal.sub):
            raise NotFound("a user token sees only its own jobs")
        return principal.sub

    async def jobs(request: Request, principal: Principal) -> Response:
        user_id = owner_filter(request, principal)
        device = principal.kind == "device"
        return JSONResponse(_jobs_page(org, services.faults.current, request, user_id, device=device))

    async def delete_job(request: Request, principal: Principal) -> Response:
        job_id = request.path_params["job_id"]
        own = owner_filter(request, principal)
        if own is not None and job_id not in {
            j["id"] for j in org.jobs(user_id=own, status=None, newest_first=True)
        }:
            raise NotFound(f"no job with id {job_id!r}")
        org.delete_job(job_id)
        return Response(status_code=204)

    async def users(request: Request, principal: Principal) -> Response:
        found = org.find_users(
            email=request.query_params.get("email"), search=request.query_params.get("search")
        )
        return JSONResponse(_page(request, [u.as_json() for u in found]))

    async def print_job(request: Request, principal: Principal) -> Response:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadRequest("the body must be JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        job_id, printer_id = body.get("jobid"), body.get("printerid")
        if not isinstance(job_id, str) or not isinstance(printer_id, str):
            raise BadRequest("jobid and printerid are required strings")
        return JSONResponse({"jobid": org.release(job_id, printer_id)})

    async def status(request: Request, principal: Principal) -> Response:
        spool_id = request.query_params.get("id")
        if not spool_id:
            raise BadRequest("id is required")
        return JSONResponse(org.spool_status(spool_id))

    return [
        Route("/printing/v1/printers/", api("api", printers), methods=["GET"]),
        Route("/printing/v1/printjobs/", api("api", jobs), methods=["GET"]),
        Route("/printing/v1/printjobs/{job_id}/", api("api", delete_job), methods=["DELETE"]),
        Route("/printing/v1/users/", api("api", users), methods=["GET"]),
        Route("/sfapi/GetPrinter/", api("api", get_printer), methods=["GET"]),
        Route("/sfapi/Print/", api("print", print_job), methods=["POST"]),
        Route("/sfapi/Status/", api("status", status), methods=["GET"]),
    ]
