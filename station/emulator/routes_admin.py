"""``/_emulator/...``: the JSON admin API that tests, the demo and ``release-station emulator add-job`` use.

Faults never touch these paths (see :mod:`station.emulator.faults`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from station.emulator.org import NotFound
from station.emulator.services import Services

Handler = Callable[[dict[str, Any], Request], Any]


def routes(services: Services) -> list[Route]:
    org, auth = services.org, services.auth

    def admin(handler: Handler, *, body: bool = True) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            data: Any = {}
            if body:
                raw = await request.body()
                try:
                    data = json.loads(raw) if raw.strip() else {}
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return JSONResponse({"detail": "the body must be JSON"}, status_code=400)
                if not isinstance(data, dict):
                    return JSONResponse({"detail": "the body must be a JSON object"}, status_code=400)
            try:
                return JSONResponse(handler(data, request))
            except NotFound as exc:
                return JSONResponse({"detail": str(exc)}, status_code=404)
            except (ValueError, TypeError) as exc:  # auth.PairingError is a ValueError
                return JSONResponse({"detail": str(exc)}, status_code=400)

        return endpoint

    def faults(data: dict[str, Any], request: Request) -> Any:
        if request.method == "POST":
            services.faults.set(**data)
        return dataclasses.asdict(services.faults.current)

    def add_job(data: dict[str, Any], request: Request) -> Any:
        pages = data.get("pages", 1)
        if not isinstance(pages, int) or isinstance(pages, bool):
            raise ValueError("pages must be an integer")
        job_id = org.add_job(str(data.get("email", "")), str(data.get("name") or "Report.pdf"), pages)
        return {"id": job_id}

    def approve(data: dict[str, Any], request: Request) -> Any:
        printer_id = data.get("printer_id")
        auth.approve(
            str(data.get("code", "")),
            email=str(data.get("email", "")),
            printer_id=str(printer_id) if printer_id else None,
        )
        return {"ok": True}

    def auto_approve(data: dict[str, Any], request: Request) -> Any:
        if "printer_id" not in data:
            raise ValueError('auto-approve needs "printer_id": a printer id, or null to stop')
        printer_id = data["printer_id"]
        if printer_id is not None and not isinstance(printer_id, str):
            raise ValueError("printer_id must be a string or null")
        auth.set_auto_approve_device(printer_id)  # an unknown printer: 404
        return {"printer_id": auth.auto_approve_device}

    def deny(data: dict[str, Any], request: Request) -> Any:
        auth.deny(str(data.get("code", "")))
        return {"ok": True}

    def printer(data: dict[str, Any], request: Request) -> Any:
        printer_id = request.path_params["printer_id"]
        org.printer(printer_id)
        if "status" in data:
            org.set_printer_status(printer_id, str(data["status"]))
        if "fails" in data:
            if not isinstance(data["fails"], bool):
                raise ValueError("fails must be true or false")
            org.set_printer_fails(printer_id, data["fails"])
        return dataclasses.asdict(org.printer(printer_id))

    def stats(data: dict[str, Any], request: Request) -> Any:
        return services.counters.snapshot()

    def release_counts(data: dict[str, Any], request: Request) -> Any:
        return org.release_counts()

    return [
        Route("/_emulator/faults", admin(faults), methods=["GET", "POST"]),
        Route("/_emulator/jobs", admin(add_job), methods=["POST"]),
        Route("/_emulator/approve", admin(approve), methods=["POST"]),
        Route("/_emulator/auto-approve", admin(auto_approve), methods=["POST"]),
        Route("/_emulator/deny", admin(deny), methods=["POST"]),
        Route("/_emulator/printers/{printer_id}", admin(printer), methods=["POST"]),
        Route("/_emulator/stats", admin(stats, body=False), methods=["GET"]),
        Route("/_emulator/release-counts", admin(release_counts, body=False), methods=["GET"]),
    ]
