"""The ezeep Blue emulator: a real HTTP server implementing the station's working contract.

``Emulator`` (:mod:`.server`) serves, on one loopback port, the account host (pairing, tokens,
revoke, ``/v1/users/me``, JWKS), the REST and print hosts (printers, users, waiting jobs,
release, status, delete), the approval web page behind ``auth_url`` (and ``/device``, its
short address where the code is typed) and a JSON admin API
(``/_emulator/...``) with fault switches. The contract is Part 1 of docs/ezeep-api.md; the
``strict`` profile (:func:`~station.emulator.faults.profile_faults`) answers instead as ezeep's
own pages describe it ("What ezeep's own pages say, 2026-12"), each point a switch of its own.
"""

from typing import TYPE_CHECKING

PROFILES = ("default", "strict")  # see station.emulator.faults.profile_faults

if TYPE_CHECKING:
    from station.emulator.model import EmuPrinter, EmuUser, Faults
    from station.emulator.server import Emulator

__all__ = ["PROFILES", "EmuPrinter", "EmuUser", "Emulator", "Faults"]


def __getattr__(name: str) -> object:
    # The values and the server (uvicorn, starlette) load when first asked for: every start of
    # the station builds its command line, which names the emulator's profiles (above) only.
    if name == "Emulator":
        from station.emulator.server import Emulator

        return Emulator
    if name in ("EmuPrinter", "EmuUser", "Faults"):
        from station.emulator import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
