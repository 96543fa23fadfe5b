"""Raw OAuth calls to the ezeep emulator, for the tests that check its HTTP contract directly.

The station's own client (``station.cloud``) is tested separately; these helpers speak the wire
protocol with plain httpx so that the emulator is checked independently of that client.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from station.emulator import Emulator

HW = "hw-0001"


def oauth(emu: Emulator) -> httpx.Client:
    """A client that authenticates as a public OAuth client (HTTP Basic, no secret)."""
    return httpx.Client(base_url=emu.url, auth=("station-client", ""), timeout=10)


def start_pairing(emu: Emulator, mode: str = "device", hardware_id: str | None = HW) -> dict[str, str]:
    """``POST /oauth/pair/``: the answer, ``{pairing_code, auth_url, verification_uri}``."""
    data = {"mode": mode, "scope": "printing"}
    if hardware_id:
        data["hardware_id"] = hardware_id
    answer = oauth(emu).post("/oauth/pair/", data=data)
    assert answer.status_code == 200, answer.text
    pairing: dict[str, str] = answer.json()
    return pairing


def pair(emu: Emulator, mode: str = "device", hardware_id: str | None = HW) -> str:
    """Start a pairing and return its code."""
    return start_pairing(emu, mode, hardware_id)["pairing_code"]


def poll(emu: Emulator, code: str) -> httpx.Response:
    return oauth(emu).post(
        "/oauth/access_token/", data={"grant_type": "pairing_code", "scope": "printing", "pairing_code": code}
    )


def refresh(emu: Emulator, refresh_token: str) -> httpx.Response:
    return oauth(emu).post(
        "/oauth/access_token/",
        data={"grant_type": "refresh_token", "scope": "printing", "refresh_token": refresh_token},
    )


def device_tokens(emu: Emulator, hardware_id: str = HW, printer: int = 0) -> dict[str, Any]:
    """Pair a device, approved by the first member on the given seeded printer: the token answer."""
    code = pair(emu, hardware_id=hardware_id)
    emu.approve(code, email=emu.users[0].email, printer_id=emu.printers[printer].id)
    answer = poll(emu, code)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def wait_for_slow_done(emu: Emulator, count: int, *, held: bool = False, within_s: float = 10.0) -> None:
    """Wait until the ``slow_done_s`` fault has carried out ``count`` requests in all (``held``:
    has begun to hold them, so they are in flight)."""
    wait_for_count(emu, "slow_held" if held else "slow_done", count, within_s=within_s)


def wait_for_count(emu: Emulator, counter: str, count: int, *, within_s: float = 10.0) -> None:
    """Wait until the emulator's ``counter`` (:meth:`Emulator.stats`) has reached ``count``.

    The emulator has no event to wait on from outside, so its counter is read every 20 ms,
    bounded by ``within_s``.
    """
    pause = threading.Event()
    deadline = time.monotonic() + within_s
    while emu.stats()[counter] < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"the emulator counted {emu.stats()[counter]} of {count} {counter}")
        pause.wait(0.02)
