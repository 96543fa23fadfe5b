"""The technician PIN from the first-boot files: written by first boot, imported once by the station.

First boot runs as root before the station and must not touch the station's database (it
belongs to the station's user). A ``[technician]`` section in ``system.toml`` therefore becomes
:data:`HANDOFF_FILE` next to the station's configuration on the data partition
(``/data/config/technician-pin.json``, mode 0640, group ``release-station``), with a new random
``id`` each time. The station reads it at start (:func:`import_handoff`): a ``pin_hash``
replaces the technician PIN (and lifts any lockout), ``unlock`` lifts a lockout; the ``id`` is
remembered in the database (``pin.technician.imported``), so the file acts once and stays
harmless afterwards, and a station that crashes half-way imports it again.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

HANDOFF_FILE = "technician-pin.json"
MAX_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Handoff:
    """What first boot passes on: a new hash (``""``: none) and whether to lift a lockout."""

    pin_hash: str = ""
    unlock: bool = False

    def to_bytes(self) -> bytes:
        data = {"id": secrets.token_hex(16), "pin_hash": self.pin_hash, "unlock": self.unlock}
        return json.dumps(data).encode() + b"\n"


class Target(Protocol):
    """What the import changes (:class:`station.pin.Pins` and a remembered id)."""

    def install_technician_hash(self, text: str) -> None: ...

    def unlock_technician(self) -> bool: ...

    def imported_handoff(self) -> str: ...

    def remember_handoff(self, handoff_id: str) -> None: ...


def handoff_path(config_source: str) -> Path | None:
    """Where the file is for the configuration file ``config_source`` (its real directory)."""
    if config_source.startswith("("):  # "(defaults)", "(text)": no file, no first boot
        return None
    return Path(config_source).resolve().parent / HANDOFF_FILE


def import_handoff(path: Path, target: Target) -> str:
    """Apply the file at ``path`` unless it was applied before; says what it did (for the log).

    A damaged file changes nothing and is reported (first boot checked it; this only guards).
    """
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return "none"
    except OSError as exc:
        log.error("cannot read the first-boot PIN file %s: %s", path, exc)
        return "unreadable"
    try:
        if len(raw) > MAX_BYTES:
            raise ValueError("too large")
        data = json.loads(raw)
        handoff_id, pin_hash, unlock = data["id"], data["pin_hash"], data["unlock"]
        if not (isinstance(handoff_id, str) and isinstance(pin_hash, str) and isinstance(unlock, bool)):
            raise ValueError("wrong types")
    except (ValueError, KeyError, TypeError) as exc:
        log.error("ignoring the damaged first-boot PIN file %s (%s)", path, type(exc).__name__)
        return "damaged"
    if handoff_id == target.imported_handoff():
        return "already imported"
    done = "nothing to do"
    try:
        if pin_hash:
            target.install_technician_hash(pin_hash)
            done = "technician PIN set"
        elif unlock:
            target.unlock_technician()
            done = "technician PIN unlocked"
    except ValueError as exc:
        log.error("ignoring the first-boot PIN file %s: %s", path, exc)
        return "damaged"
    target.remember_handoff(handoff_id)
    log.info("first-boot PIN file: %s", done)
    return done
