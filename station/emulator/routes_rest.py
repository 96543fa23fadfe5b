"""The REST and print hosts: printers, users, a user's waiting jobs, release, status, delete.

The job list obeys the content faults (:class:`~station.emulator.model.Faults`): it may ignore
``user=``, leave out the owner field, or never end. So do the printer lists (a twin with the same
``tp_id`` on another connector, an AnyPrinter queue: both listed only, a release to either is
answered 404), the users list (no e-mail or name) and the release (``{"code": N}``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from station.emulator.auth import Principal, Unauthorized
from station.emulator.model import (
    BRANCH_CONNECTOR,
    OFFICE_CONNECTOR,
    QUEUE_CONNECTOR,
    EmuPrinter,
    EmuUser,
    Faults,
    stable_id,
)
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


def _listed_printers(services: Services, faults: Faults) -> list[tuple[EmuPrinter, str]]:
    """The printers a list shows, each with its connector, as the faults shape them."""
    real = services.org.printers
    listed: list[tuple[EmuPrinter, str]] = []
    if faults.queue_printers and real:
        queue_id = stable_id("printer", "anyprinter")
        queue = EmuPrinter(queue_id, "AnyPrinter", "", real[0].tp_id, "Online", is_queue=True)
        listed.append((queue, QUEUE_CONNECTOR))
    for n in range(faults.more_printers):
        site = f"site-{n // 10}"  # ten printers a site, each site its own connector
        other = EmuPrinter(stable_id("printer", f"other:{n}"), f"Printer {n}", site, 5000 + n, "Online")
        listed.append((other, stable_id("connector", site)))
    for printer in real:
        if faults.shared_tp_id:  # listed first: a client that takes the first tp_id match is caught
            twin = EmuPrinter(
                stable_id("printer", f"twin:{printer.id}"),
                f"{printer.name} (branch)",
                "Branch office",
                printer.tp_id,
                printer.status,
            )
            listed.append((twin, BRANCH_CONNECTOR))
        listed.append((printer, services.auth.connector_of(printer.id) or OFFICE_CONNECTOR))
    return listed


def _printer_json(printer: EmuPrinter, connector: str, faults: Faults) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": printer.id,
        "name": printer.name,
        "tp_id": printer.tp_id,
        "status": printer.status,
        "location": printer.location,
        "connector_id": connector,
        "vendor_name": "Emulated",
        "model_name": "AnyModel 9000",
        "supported_formats": ["PDF"],
    }
    if faults.queue_printers:
        row["is_queue"] = printer.is_queue
    return row


def _print_api_printer(printer: EmuPrinter, faults: Faults) -> dict[str, Any]:
    row: dict[str, Any] = {"id": printer.id, "name": printer.name, "location": printer.location}
    if faults.queue_printers:
        row["is_queue"] = printer.is_queue
    return row


def _users(org: Org, faults: Faults, request: Request) -> list[EmuUser]:
    if faults.users_without_email:
        return org.users  # api2 documents no e-mail or search filter
    return org.find_users(email=request.query_params.get("email"), search=request.query_params.get("search"))


def _user_json(user: EmuUser, faults: Faults) -> dict[str, Any]:
    if not faults.users_without_email:
        return user.as_json()
    # As ezeep's pages show api2's users: flags and groups, no e-mail or name.
    flags = {"local_printing_enabled": True, "self_service_enabled": True, "myprinters_enabled": False}
    return {"id": user.id, **flags, "groups": []}


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
        faults = services.faults.current
        rows = [_printer_json(p, connector, faults) for p, connector in _listed_printers(services, faults)]
        return JSONResponse(_page(request, rows))

    async def get_printer(request: Request, principal: Principal) -> Response:
        faults = services.faults.current
        return JSONResponse([_print_api_printer(p, faults) for p, _ in _listed_printers(services, faults)])

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
        faults = services.faults.current
        return JSONResponse(_page(request, [_user_json(u, faults) for u in _users(org, faults, request)]))

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
        code = services.faults.current.print_error_code
        if code and org.printer_fails(printer_id):
            # ezeep's JS client reads a failed print as {"code": 804} and looks at nothing else
            # (not the status), so the emulator answers it with 200: the hostile reading.
            return JSONResponse({"code": code})
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
