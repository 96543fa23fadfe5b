"""Every reader kind's driver, by name: the one list of them on the drivers' side.

A kind is registered twice, once per layer: its :class:`~station.reader_kinds.ReaderKindSpec`
(name, summary, settings) in ``station.reader_kinds``, which the station and its configuration
read, and the ``DRIVER`` at the end of its driver module, listed here, which opens, finds and
checks such readers. A test keeps the two lists the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from drivers.readers import nfc, pcsc, simulated, wedge
from drivers.readers.base import ReaderDriver
from station.events import ReaderKind
from station.reader_kinds import KINDS

_REGISTERED = (
    pcsc.DRIVER,
    nfc.DRIVER,
    wedge.DRIVER,
    simulated.DRIVER,
)
_BY_NAME = {driver.name: driver for driver in _REGISTERED}

DRIVERS: Mapping[ReaderKind, ReaderDriver] = MappingProxyType(
    {spec.name: _BY_NAME[spec.name] for spec in KINDS}
)
"""Every kind's driver, in the order of ``station.reader_kinds.KINDS``; read-only."""

AUTO_FALLBACK: ReaderDriver = pcsc.DRIVER
"""What ``auto`` runs when nothing is attached: PC/SC picks up a reader plugged in later."""
