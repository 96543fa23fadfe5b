"""Fault switches settable at run time, and the ASGI middleware that applies them.

Admin paths (``/_emulator/...``) are never slowed, failed or dropped, so a test can always
reach the switches.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from station.emulator.connection import drop_connection
from station.emulator.model import Faults

ADMIN_PREFIX = "/_emulator/"
_FIELDS = {f.name: f.type for f in dataclasses.fields(Faults)}
_TYPES: dict[str, type | tuple[type, ...]] = {
    "latency_s": (int, float),
    "error_5xx": int,
    "retry_after_s": int,
    "drop_after_rotation": int,
    "reuse_detection": bool,
    "deny_pairing": bool,
    "offline": bool,
}


def _checked(name: str, value: object) -> object:
    if name not in _TYPES:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(_TYPES)}")
    expected = _TYPES[name]
    if isinstance(value, bool):
        if expected is not bool:
            raise ValueError(f"fault {name} must be {_FIELDS[name]}, not {value!r}")
        return value
    if expected is bool or not isinstance(value, int | float) or not isinstance(value, expected):
        raise ValueError(f"fault {name} must be {_FIELDS[name]}, not {value!r}")
    if value < 0:
        raise ValueError(f"fault {name} must not be negative")
    return float(value) if name == "latency_s" else value


class FaultSwitches:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()

    @property
    def current(self) -> Faults:
        with self._lock:
            return self._faults

    def set(self, **changes: object) -> Faults:
        checked: dict[str, Any] = {name: _checked(name, value) for name, value in changes.items()}
        with self._lock:
            self._faults = dataclasses.replace(self._faults, **checked)
            return self._faults

    def take(self, counter: str) -> bool:
        """Use up one unit of a counting fault (``error_5xx``, ``drop_after_rotation``)."""
        with self._lock:
            left: int = getattr(self._faults, counter)
            if left <= 0:
                return False
            changes: dict[str, Any] = {counter: left - 1}
            self._faults = dataclasses.replace(self._faults, **changes)
            return True


class FaultMiddleware:
    def __init__(self, app: ASGIApp, switches: FaultSwitches) -> None:
        self.app = app
        self.switches = switches

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        faults = self.switches.current
        if faults.offline:
            await drop_connection(scope, receive)
            return
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        if self.switches.take("error_5xx"):
            answer = JSONResponse(
                {"detail": "Service temporarily unavailable (emulated)"},
                status_code=503,
                headers={"Retry-After": str(self.switches.current.retry_after_s)},
            )
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)
