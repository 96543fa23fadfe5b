"""Which badge reader to run: the configured kind, or for ``kind = "auto"`` what is attached.

:func:`survey` looks at the machine without opening any reader: the readers pcscd sees, the USB
devices nfcpy has a driver for (from sysfs), USB smart-card (CCID) devices, the kernel NFC
modules that would take a reader away, and keyboard-wedge readers. ``release-station doctor``
prints the same survey.

:func:`open_readers` turns the ``[reader]`` section into the readers to run, through the
kind's registered driver (``drivers.readers.registry``). For ``auto`` it takes the first kind
that the survey shows attached, in the order of ``station.reader_kinds.KINDS``:

1. PC/SC, when pcscd answers and sees a reader (matching ``pcsc_readers`` if set);
2. nfcpy, when a USB reader it supports is plugged in, or ``nfc_device`` names a serial port;
3. the keyboard-wedge reader, when one is configured (``wedge_device`` or ``wedge_usb_id``)
   and attached;
4. otherwise PC/SC anyway (:data:`~drivers.readers.registry.AUTO_FALLBACK`): it reports "no
   reader attached" and picks up a reader plugged in later (pcscd is usually socket-activated,
   so it may well answer then).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drivers.readers.base import Reader, ReaderDriver
from drivers.readers.nfc import loaded_kernel_nfc_modules
from drivers.readers.pcsc import PcscUnavailable, list_pcsc_readers
from drivers.readers.registry import AUTO_FALLBACK, DRIVERS
from station.config import ReaderSection
from station.reader_kinds import WedgeSettings

log = logging.getLogger(__name__)

SYSFS_USB = Path("/sys/bus/usb/devices")
_CCID_CLASS = 0x0B  # USB interface class "smart card"


@dataclass(frozen=True)
class UsbDevice:
    """A USB device: its ids, its name, and whether it has a smart-card (CCID) interface."""

    vendor_id: int
    product_id: int
    product: str
    ccid: bool

    @property
    def usb_id(self) -> str:
        return f"{self.vendor_id:04x}:{self.product_id:04x}"


@dataclass(frozen=True)
class UsbReader:
    """A USB device that is a contactless reader nfcpy can drive, or a smart-card (CCID) reader."""

    vendor_id: int
    product_id: int
    product: str
    nfcpy_driver: str  # the nfcpy driver module ("acr122", "pn533", ...); empty: none
    ccid: bool  # has a smart-card interface, so pcscd's CCID driver can own it

    @property
    def usb_id(self) -> str:
        return f"{self.vendor_id:04x}:{self.product_id:04x}"

    def __str__(self) -> str:
        stacks = [f"nfcpy ({self.nfcpy_driver})"] if self.nfcpy_driver else []
        stacks += ["pcscd (CCID)"] if self.ccid else []
        return f"{self.product or 'USB device'} [{self.usb_id}], usable by {' or '.join(stacks)}"


@dataclass(frozen=True)
class PcscdState:
    """Whether pcscd answers, the readers it sees, and the error if it does not."""

    running: bool
    readers: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class Survey:
    """What is attached, as far as can be seen without opening a reader.

    ``wedge`` describes the configured keyboard-wedge reader when it is attached (its device
    path exists, or a USB device has its id), and is empty otherwise: an unconfigured wedge
    reader cannot be told from a keyboard.
    """

    pcscd: PcscdState
    usb: tuple[UsbReader, ...]
    kernel_modules: tuple[str, ...]
    wedge: str = ""

    @property
    def nfcpy_usb(self) -> tuple[UsbReader, ...]:
        return tuple(device for device in self.usb if device.nfcpy_driver)


def pcscd_state() -> PcscdState:
    """Ask pcscd for its readers (this starts a socket-activated pcscd)."""
    try:
        return PcscdState(True, tuple(list_pcsc_readers()))
    except PcscUnavailable as exc:
        return PcscdState(False, error=str(exc))


def usb_devices(sysfs: Path = SYSFS_USB) -> tuple[UsbDevice, ...]:
    """Every USB device in sysfs (interfaces and hub ports skipped)."""
    found: list[UsbDevice] = []
    for device in sorted(sysfs.glob("*")) if sysfs.is_dir() else ():
        try:
            vendor_id, product_id = (int(_read(device / name), 16) for name in ("idVendor", "idProduct"))
        except ValueError:
            continue  # an interface or a hub port, not a device
        interfaces = device.glob(f"{device.name}:*")
        ccid = any(_read(i / "bInterfaceClass") == f"{_CCID_CLASS:02x}" for i in interfaces)
        product = " ".join(filter(None, (_read(device / "manufacturer"), _read(device / "product"))))
        found.append(UsbDevice(vendor_id, product_id, product, ccid))
    return tuple(found)


def usb_readers(devices: tuple[UsbDevice, ...]) -> tuple[UsbReader, ...]:
    """The ``devices`` that nfcpy supports or that have a smart-card interface."""
    import nfc.clf.device  # here, not at the start of every station: see drivers.readers.nfc

    found: list[UsbReader] = []
    for device in devices:
        driver = str(nfc.clf.device.usb_device_map.get((device.vendor_id, device.product_id), ""))
        if driver or device.ccid:
            found.append(UsbReader(device.vendor_id, device.product_id, device.product, driver, device.ccid))
    return tuple(found)


def configured_wedge(section: ReaderSection, devices: tuple[UsbDevice, ...]) -> str:
    """The configured keyboard-wedge reader if it is attached, else an empty string."""
    settings = section.of(WedgeSettings)
    if settings.wedge_device:
        return settings.wedge_device if Path(settings.wedge_device).exists() else ""
    wanted = settings.wedge_usb_id.lower()
    return next((f"{d.product or 'USB device'} [{d.usb_id}]" for d in devices if d.usb_id == wanted), "")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def survey(
    section: ReaderSection, *, sysfs: Path = SYSFS_USB, proc_modules: Path = Path("/proc/modules")
) -> Survey:
    """Look at pcscd, the USB bus, the kernel modules and the configured wedge reader."""
    devices = usb_devices(sysfs)
    return Survey(
        pcscd_state(),
        usb_readers(devices),
        loaded_kernel_nfc_modules(proc_modules),
        configured_wedge(section, devices),
    )


def open_readers(section: ReaderSection, *, look: Callable[[ReaderSection], Survey] = survey) -> list[Reader]:
    """The readers to run for ``section``; for ``auto``, ``look(section)`` says what is attached."""
    if section.kind != "auto":
        return [DRIVERS[section.kind].open(section)]
    readers = [chosen(section, look(section)).open(section)]
    log.info("reader auto-detection chose %s", ", ".join(f"{r.kind} ({r.name})" for r in readers))
    return readers


def chosen(section: ReaderSection, found: Survey) -> ReaderDriver:
    """The driver for ``section``: the configured kind, or the first attached one for ``auto``."""
    if section.kind != "auto":
        return DRIVERS[section.kind]
    for driver in DRIVERS.values():
        if driver.auto and driver.attached(section, found):
            return driver
    log.warning("no badge reader found; waiting for a PC/SC reader (release-station doctor tells more)")
    return AUTO_FALLBACK
