"""NFC readers driven directly by nfcpy: USB readers and serial PN532 boards.

Supported: every reader nfcpy drives, among them PN533 boards and the SCM SCL3711 (``usb``),
the ACS ACR122U when pcscd does not own it (``usb:072f:2200``), the Sony RC-S380 (``usb``) and a
PN532 on a serial port or the Pi's UART (``tty:AMA0:pn532``, ``tty:USB0:pn532``). Cards:
ISO 14443-A (4-, 7- and 10-byte UIDs: MIFARE Classic, Ultralight, NTAG, DESFire), ISO 14443-B
(the PUPI) and FeliCa (the IDm).

The reader only needs the card's identifier, which every card gives away while being selected,
so it never activates the card's application layer: a MIFARE Classic (which nfcpy cannot read)
works as well as an NTAG. A card lying on the reader is read once: after a read the reader
checks every ``presence_interval_s`` whether that same card still answers (an NFC-A card is
selected by its UID, so a second card nearby does not keep it "present") and only then looks
for cards again.

The kernel's own NFC drivers (``pn533_usb``, ``pn533``, ``nfc``) claim PN533 and ACR122U
readers before nfcpy can; they must be blacklisted (``config/modprobe.d``). When the reader
cannot be opened the error says so if one of them is loaded.

nfcpy itself is imported when a reader runs: most stations have none, and it costs the start
of every station about 20 ms here (several times that on a Pi).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from drivers.readers.base import Absent, Reader, ReaderDriver, ReaderError, StopEvent
from station.events import BadgeRead, ReaderKind, ReaderSink
from station.findings import Finding
from station.reader_kinds import NFC, NfcSettings

if TYPE_CHECKING:
    from drivers.readers.auto import Survey
    from station.config import ReaderSection

log = logging.getLogger(__name__)

TECHNOLOGIES = ("106A", "106B", "212F")
"""What the reader looks for: ISO 14443-A and -B at 106 kbit/s, FeliCa at 212 kbit/s."""

KERNEL_NFC_MODULES = ("pn533_usb", "pn533", "nfc")
"""Kernel modules that take PN533 and ACR122U readers away from nfcpy and pcscd."""


def loaded_kernel_nfc_modules(proc_modules: Path = Path("/proc/modules")) -> tuple[str, ...]:
    """The kernel NFC modules from :data:`KERNEL_NFC_MODULES` that are loaded now."""
    try:
        text = proc_modules.read_text(encoding="ascii", errors="replace")
    except OSError:
        return ()
    loaded = {line.split(" ", 1)[0] for line in text.splitlines()}
    return tuple(name for name in KERNEL_NFC_MODULES if name in loaded)


class NfcReader(Reader):
    """A contactless reader driven by nfcpy.

    :param device: the nfcpy device path: ``usb`` (the first supported USB reader),
        ``usb:VVVV:PPPP`` (a vendor and product id), ``usb:BUS:DEV``, ``tty:AMA0:pn532`` (a PN532
        on a serial port) or, for tests, ``udp:127.0.0.1:PORT``.
    :param name: how the reader is shown; empty: ``nfc <device>``.
    :param technologies: the nfcpy bitrate-and-type strings to look for (see :data:`TECHNOLOGIES`).
    :param poll_interval_s: pause between two looks for a card while none is there.
    :param presence_interval_s: pause between two checks that a card read is still there.
    :param proc_modules: where loaded kernel modules are listed (for the error hint).

    Example::

        reader = NfcReader(device="tty:AMA0:pn532")
        ReaderThread(reader, sink).start()
    """

    kind: ClassVar[ReaderKind] = NFC.name
    detects_removal: ClassVar[bool] = True

    def __init__(
        self,
        *,
        device: str = "usb",
        name: str = "",
        technologies: Sequence[str] = TECHNOLOGIES,
        poll_interval_s: float = 0.1,
        presence_interval_s: float = 0.2,
        proc_modules: Path = Path("/proc/modules"),
    ) -> None:
        super().__init__(name=name or f"nfc {device}")
        unknown = set(technologies) - set(TECHNOLOGIES)
        if unknown or not technologies:
            raise ValueError(f"technologies: choose from {', '.join(TECHNOLOGIES)}, not {sorted(unknown)}")
        self.device = device
        self._technologies = tuple(technologies)
        self._poll_interval_s = poll_interval_s
        self._presence_interval_s = presence_interval_s
        self._proc_modules = proc_modules

    def run(self, sink: ReaderSink, stop: StopEvent) -> None:
        import nfc.clf

        clf = self._open()
        try:
            sink(self.health(True, f"ready: {clf}"))
            targets = [nfc.clf.RemoteTarget(brty) for brty in self._technologies]
            while not stop.is_set():
                target = self._sense(clf, targets)
                uid = _uid(target)
                if uid is None:
                    if target is not None:
                        log.debug("%s: a card without a usable identifier (%s)", self.name, target.brty)
                    stop.wait(self._poll_interval_s)
                    continue
                sink(BadgeRead(uid, self.kind, self.name, time.monotonic(), uid.hex().upper()))
                self._wait_for_removal(clf, target, uid, stop)
        finally:
            clf.close()

    def _open(self) -> Any:
        import nfc

        clf = nfc.ContactlessFrontend()
        try:
            opened = clf.open(self.device)
        except OSError as exc:
            raise ReaderError(f"cannot open the NFC reader {self.device}: {exc}{self._hint()}") from exc
        if not opened:
            raise ReaderError(f"no NFC reader found at {self.device}{self._hint()}")
        return clf

    def _hint(self) -> str:
        modules = loaded_kernel_nfc_modules(self._proc_modules)
        if not modules:
            return ""
        return f" (the kernel's NFC driver {', '.join(modules)} may hold it; see release-station doctor)"

    def _sense(self, clf: Any, targets: list[Any]) -> Any:
        try:
            return clf.sense(*targets, iterations=1)
        except OSError as exc:  # the reader was unplugged or stopped answering
            raise ReaderError(f"the NFC reader {self.device} failed: {exc}") from exc

    def _wait_for_removal(self, clf: Any, target: Any, uid: bytes, stop: StopEvent) -> None:
        import nfc.clf

        # Selecting by UID makes only this card answer; any other answer means a different card.
        if target.brty.endswith("A"):
            probe = nfc.clf.RemoteTarget(target.brty, sel_req=bytearray(uid))
        else:
            probe = nfc.clf.RemoteTarget(target.brty)
        while not stop.wait(self._presence_interval_s):
            if _uid(self._sense(clf, [probe])) != uid:
                return


def _uid(target: Any) -> bytes | None:
    """The card's identifier from its answer to the look-up, or None for no or an odd card."""
    if target is None:
        return None
    if target.brty.endswith("A") and target.sdd_res:  # Type 1 (Topaz) cards have no sdd_res
        return bytes(target.sdd_res)
    if target.brty.endswith("B") and target.sensb_res and len(target.sensb_res) >= 5:
        return bytes(target.sensb_res[1:5])
    if target.brty.endswith("F") and target.sensf_res and len(target.sensf_res) >= 9:
        return bytes(target.sensf_res[1:9])
    return None


# -- registration --------------------------------------------------------------------------


def _open(section: ReaderSection) -> NfcReader:
    return NfcReader(device=section.of(NfcSettings).nfc_device)


def _attached(section: ReaderSection, found: Survey) -> bool:
    return bool(found.nfcpy_usb) or section.of(NfcSettings).nfc_device.startswith("tty:")


def _absent(section: ReaderSection) -> Absent:
    return Absent(
        f"no USB reader nfcpy supports for nfc_device = {section.of(NfcSettings).nfc_device!r}",
        'plug it in, or for a PN532 on the serial port set reader.nfc_device = "tty:AMA0:pn532"',
    )


def _kernel_finding(section: ReaderSection, found: Survey) -> list[Finding]:
    if not found.kernel_modules:
        return [Finding("ok", "kernel NFC driver", "none loaded")]
    return [
        Finding(
            "fail" if found.nfcpy_usb else "warn",
            "kernel NFC driver",
            f"{', '.join(found.kernel_modules)} loaded: it takes PN533 and ACR122U readers away from "
            "pcscd and nfcpy",
            f"sudo modprobe -r {' '.join(found.kernel_modules)}, and keep it out for good with "
            "/etc/modprobe.d/release-station-nfc.conf (from config/modprobe.d; the image has it)",
        )
    ]


DRIVER = ReaderDriver(NFC, _open, _attached, _absent, _kernel_finding, usb=True)
