"""The badge reader kinds the station knows: each kind's name, what it is, and its own keys.

This is the station's half of a reader kind's registration; the other half, in the kind's
driver module, says how to open, find and check such a reader (``drivers.readers.registry``).
Everything else comes from :data:`KINDS`: :data:`READER_KINDS` (what a
:class:`~station.events.BadgeRead` names as its ``reader_kind``), the choices of ``reader.kind``,
the kind's keys in the ``[reader]`` section and its chain in ``[transforms]``.

A kind's keys live in one frozen dataclass, its *settings*, whose fields start with the kind's
name (``wedge_usb_id``) and which checks its own values in ``__post_init__`` (raising
``ValueError("key: what is allowed")``). In ``station.toml`` they are plain keys of ``[reader]``::

    [reader]
    kind = "wedge"
    wedge_usb_id = "08ff:0009"

Adding a kind: a settings dataclass and a :class:`ReaderKindSpec` here, in the order ``auto``
tries kinds; a driver module with its registration; its keys in ``config/station.toml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Literal


@dataclass(frozen=True)
class KindSettings:
    """Base of every kind's settings: the keys of ``[reader]`` that belong to one kind."""


@dataclass(frozen=True)
class PcscSettings(KindSettings):
    """PC/SC reader names (substrings) to use; empty: every reader pcscd sees."""

    pcsc_readers: tuple[str, ...] = ()


@dataclass(frozen=True)
class NfcSettings(KindSettings):
    """The nfcpy device: ``usb``, ``usb:072f:2200``, ``tty:AMA0:pn532``, ``tty:USB0:pn532``."""

    nfc_device: str = "usb"


@dataclass(frozen=True)
class WedgeSettings(KindSettings):
    """The keyboard-wedge reader: where it is, what it types, when a read ends."""

    wedge_device: str = ""
    wedge_usb_id: str = ""
    wedge_format: Literal["decimal", "hex"] = "decimal"
    wedge_key_timeout_ms: int = 100

    def __post_init__(self) -> None:
        if self.wedge_usb_id and not re.fullmatch(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}", self.wedge_usb_id):
            raise ValueError("wedge_usb_id: must be vendor:product in hex, like 08ff:0009")
        if not 10 <= self.wedge_key_timeout_ms <= 2000:
            raise ValueError(
                f"wedge_key_timeout_ms: must be between 10 and 2000, not {self.wedge_key_timeout_ms}"
            )


@dataclass(frozen=True)
class SimulatedSettings(KindSettings):
    """The simulated reader's Unix socket for injecting badges; empty: none."""

    simulated_socket: str = ""


@dataclass(frozen=True)
class ReaderKindSpec:
    """One reader kind: its name, a one-line description and its settings dataclass."""

    name: str
    summary: str
    settings: type[KindSettings]

    def __post_init__(self) -> None:
        stray = [f.name for f in fields(self.settings) if not f.name.startswith(self.name + "_")]
        if stray:
            raise ValueError(f"{self.name}: settings keys must start with {self.name}_, not {stray}")


PCSC = ReaderKindSpec("pcsc", "a contactless reader pcscd drives (ACR122U, most USB readers)", PcscSettings)
NFC = ReaderKindSpec("nfc", "a reader nfcpy drives (USB, or a PN532 on a serial port)", NfcSettings)
WEDGE = ReaderKindSpec("wedge", "a keyboard-wedge reader that types the card number", WedgeSettings)
SIMULATED = ReaderKindSpec("simulated", "no hardware: badges from code, keys or a socket", SimulatedSettings)

KINDS: tuple[ReaderKindSpec, ...] = (PCSC, NFC, WEDGE, SIMULATED)
"""Every kind, in the order ``reader.kind = "auto"`` looks for them (if it may choose them)."""

READER_KINDS: tuple[str, ...] = tuple(spec.name for spec in KINDS)
