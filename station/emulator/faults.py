"""Fault switches settable at run time, and the ASGI middleware that applies them.

The middleware applies the faults of the transport (latency, 5xx, dropped connections, a
trickling, huge or compressed body, a request carried out after its client gave up); the routes
apply the ones about content (the job list's, and the points where ezeep's own pages contradict
the working contract). :func:`profile_faults` gives the switches a profile starts with.
Admin paths (``/_emulator/...``) are never slowed, failed or dropped, so a test can always
reach the switches.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gzip
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from station.emulator import PROFILES
from station.emulator.connection import ACCEPTED_EXTENSION, drop_connection
from station.emulator.counters import Counters
from station.emulator.model import ALL_CLIENTS, HOLD_MAX_S, Faults

ADMIN_PREFIX = "/_emulator/"
_FIELDS = {f.name: f.type for f in dataclasses.fields(Faults)}
_FLOAT_FAULTS = ("latency_s", "handshake_s", "trickle_s", "slow_done_s")
_FLOOD_CHUNK = 64 * 1024
_MOST_PRINTERS = 10_000  # more_printers: a large organisation, not a flood of the emulator's memory
_TYPES: dict[str, type | tuple[type, ...]] = {
    "latency_s": (int, float),
    "handshake_s": (int, float),
    "trickle_s": (int, float),
    "trickle_path": str,
    "huge_body_bytes": int,
    "endless_jobs": bool,
    "ignore_user_filter": bool,
    "hide_job_owner": bool,
    "refuse_device_users": bool,
    "gzip_bomb_bytes": int,
    "error_5xx": int,
    "retry_after_s": int,
    "drop_after_rotation": int,
    "reuse_detection": bool,
    "deny_pairing": bool,
    "offline": bool,
    "slow_done_s": (int, float),
    "slow_path": str,
    "held_path": str,
    "revoke_no_content": bool,
    "refresh_token_clients": str,
    "tp_id_claim_clients": str,
    "shared_tp_id": bool,
    "users_without_email": bool,
    "print_error_code": int,
    "queue_printers": bool,
    "more_printers": int,
}


def _checked(name: str, value: object) -> object:
    if name not in _TYPES:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(_TYPES)}")
    expected = _TYPES[name]
    if expected is str:
        if not isinstance(value, str):
            raise ValueError(f"fault {name} must be a string, not {value!r}")
        return value
    if isinstance(value, bool):
        if expected is not bool:
            raise ValueError(f"fault {name} must be {_FIELDS[name]}, not {value!r}")
        return value
    if expected is bool or not isinstance(value, int | float) or not isinstance(value, expected):
        raise ValueError(f"fault {name} must be {_FIELDS[name]}, not {value!r}")
    if value < 0:
        raise ValueError(f"fault {name} must not be negative")
    if name == "more_printers" and value > _MOST_PRINTERS:
        raise ValueError(f"fault {name} must be at most {_MOST_PRINTERS}")
    return float(value) if name in _FLOAT_FAULTS else value


def profile_faults(profile: str, *, client_ids: Sequence[str] = ()) -> dict[str, object]:
    """The fault switches an emulator of ``profile`` starts with.

    ``default``: none, the working contract (Part 1 of ``shared/docs/ezeep-api.md``).
    ``strict``: ezeep as its own pages describe it ("2026-12"): every switch of that list on,
    refresh tokens and the ``tp_id`` claim enabled for ``client_ids`` only (the station's, so it
    can still pair), print failures answered ``{"code": 804}``, the job list's ``user=`` ignored.

    Example::

        assert profile_faults("default") == {}
        assert profile_faults("strict", client_ids=["kiosk"])["tp_id_claim_clients"] == "kiosk"
    """
    if profile == "default":
        return {}
    if profile != "strict":
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    if not client_ids or any(not c or "," in c or c == ALL_CLIENTS for c in client_ids):
        raise ValueError("the strict profile needs the station's client id(s), without commas")
    enabled = ",".join(client_ids)
    return {
        "revoke_no_content": True,
        "refresh_token_clients": enabled,
        "tp_id_claim_clients": enabled,
        "shared_tp_id": True,
        "users_without_email": True,
        "print_error_code": 804,
        "queue_printers": True,
        "ignore_user_filter": True,
    }


class FaultSwitches:
    def __init__(self, **initial: object) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()
        self.set(**initial)

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
    def __init__(self, app: ASGIApp, switches: FaultSwitches, counters: Counters) -> None:
        self.app = app
        self.switches = switches
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        faults = self.switches.current
        if faults.offline:
            await drop_connection(scope, receive)
            return
        if faults.handshake_s:
            await _handshake(scope, faults.handshake_s)
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
        if faults.gzip_bomb_bytes:
            await self._bomb(faults.gzip_bomb_bytes, scope, receive, send)
            return
        if faults.huge_body_bytes:
            await self._flood(faults.huge_body_bytes, receive, send)
            return
        if faults.trickle_s and scope["path"].startswith(faults.trickle_path):
            await self._trickle(faults.trickle_s, scope, receive, send)
        elif faults.slow_done_s and scope["path"].startswith(faults.slow_path):
            await self._slow_done(functools.partial(asyncio.sleep, faults.slow_done_s), scope, receive, send)
        elif faults.held_path and scope["path"].startswith(faults.held_path):
            await self._slow_done(self._held, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _held(self) -> None:
        """Until ``held_path`` is set back to "" (checked every 10 ms), or :data:`HOLD_MAX_S`."""
        loop = asyncio.get_running_loop()
        end = loop.time() + HOLD_MAX_S
        while self.switches.current.held_path and loop.time() < end:
            await asyncio.sleep(0.01)

    async def _slow_done(
        self, pause: Callable[[], Awaitable[None]], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Read the whole request, wait for ``pause()``, then let the app carry it out in any case.

        The app reads the body kept here; its answer goes nowhere if the client has left (uvicorn
        drops what is sent on a closed connection), but what it did stays done.
        """
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body was complete: nothing to carry out
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body", False))
        self.counters.bump("slow_held")
        await pause()
        self.counters.bump("slow_done")
        kept: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            return kept.pop() if kept else await receive()

        await self.app(scope, replay, send)

    async def _flood(self, size: int, receive: Receive, send: Send) -> None:
        """A 200 JSON answer of ``size`` blanks, sent chunked until done or the client hangs up.

        A client that stops reading holds this up (uvicorn's flow control), so ``flood_bytes``
        is what the client read plus what the socket buffers held.
        """
        async with _hang_up(receive) as gone:
            start = {"type": "http.response.start", "status": 200}
            await send({**start, "headers": [(b"content-type", b"application/json")]})
            sent = 0
            while sent < size and not gone.is_set():
                chunk = b" " * min(_FLOOD_CHUNK, size - sent)
                sent += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": sent < size})
                self.counters.bump("flood_bytes", len(chunk))
                await asyncio.sleep(0)  # let the loop notice a hang-up (uvicorn's send may not yield)

    async def _bomb(self, size: int, scope: Scope, receive: Receive, send: Send) -> None:
        """A 200 JSON answer of ``size`` zero bytes, compressed twice with gzip (a decompression bomb)."""
        body = await asyncio.to_thread(gzip_bomb, size)
        headers = {"Content-Encoding": "gzip, gzip", "Content-Type": "application/json"}
        await Response(body, headers=headers)(scope, receive, send)

    async def _trickle(self, pause_s: float, scope: Scope, receive: Receive, send: Send) -> None:
        """The app's answer, its body passed on one byte at a time, ``pause_s`` apart."""
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)  # done with ``receive`` before the watch takes it
        async with _hang_up(receive) as gone:
            for message in answer:
                if message["type"] != "http.response.body":
                    await send(message)
                    continue
                body: bytes = message.get("body", b"")
                for i in range(len(body)):
                    if gone.is_set():
                        return
                    await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": True})
                    await asyncio.sleep(pause_s)
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _handshake(scope: Scope, seconds: float) -> None:
    """Until ``seconds`` after the request's connection was accepted (see ``Faults.handshake_s``)."""
    accepted_at: float | None = scope.get("extensions", {}).get(ACCEPTED_EXTENSION)
    if accepted_at is not None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, accepted_at + seconds - loop.time()))


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes gzipped twice, made without holding them (200 MB: 481 bytes)."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    zeros = bytes(_FLOOD_CHUNK)
    parts = [inner.compress(zeros) for _ in range(size // _FLOOD_CHUNK)]
    parts += [inner.compress(bytes(size % _FLOOD_CHUNK)), inner.flush()]
    return gzip.compress(b"".join(parts), 9)


@contextlib.asynccontextmanager
async def _hang_up(receive: Receive) -> AsyncIterator[asyncio.Event]:
    """An event set once the client has hung up (read from ``receive`` meanwhile)."""
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.create_task(watch())
    try:
        yield gone
    finally:
        watcher.cancel()
