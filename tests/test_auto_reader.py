"""Reader choice: the configured kind, and ``auto`` from what a survey finds attached."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.readers.auto import (
    PcscdState,
    Survey,
    UsbReader,
    configured_wedge,
    open_readers,
    survey,
    usb_devices,
    usb_readers,
)
from drivers.readers.base import ReaderThread
from drivers.readers.nfc import NfcReader
from drivers.readers.pcsc import PcscReader
from drivers.readers.registry import DRIVERS
from drivers.readers.simulated import SimulatedReader
from drivers.readers.wedge import WedgeReader
from station.config import ReaderSection
from station.reader_kinds import (
    READER_KINDS,
    NfcSettings,
    PcscSettings,
    ReaderKindSpec,
    SimulatedSettings,
    WedgeSettings,
)
from tests.support.reader_helpers import Sink
from tests.support.vpcd_card import VirtualCard, vpcd_session

RC_S380 = UsbReader(0x054C, 0x06C3, "SONY RC-S380/P", "rcs380", False)


def _usb(
    sysfs: Path, name: str, vendor: str, product: str, text: str = "", interface_class: str = ""
) -> None:
    """One device as the kernel shows it in /sys/bus/usb/devices (real sysfs uses symlinks)."""
    device = sysfs / name
    device.mkdir(parents=True)
    (device / "idVendor").write_text(vendor + "\n")
    (device / "idProduct").write_text(product + "\n")
    if text:
        (device / "product").write_text(text + "\n")
    interface = device / f"{name}:1.0"  # interfaces live inside the device…
    interface.mkdir()
    (interface / "bInterfaceClass").write_text((interface_class or "ff") + "\n")
    (sysfs / interface.name).symlink_to(interface)  # …and are listed next to it, without ids


def test_usb_devices_and_readers_from_sysfs(tmp_path: Path) -> None:
    _usb(tmp_path, "1-1", "072f", "2200", "ACR122U PICC Interface", interface_class="0b")
    _usb(tmp_path, "1-2", "054c", "06c3", "RC-S380/P")
    _usb(tmp_path, "1-3", "046d", "c31c", "USB Keyboard", interface_class="03")
    _usb(tmp_path, "1-4", "08e6", "3437", "USB SmartCard Reader", interface_class="0b")
    (tmp_path / "usb1").mkdir()  # a root hub without ids here: skipped
    devices = usb_devices(tmp_path)
    assert [d.usb_id for d in devices] == ["072f:2200", "054c:06c3", "046d:c31c", "08e6:3437"]
    readers = usb_readers(devices)
    assert [(r.usb_id, r.nfcpy_driver, r.ccid) for r in readers] == [
        ("072f:2200", "acr122", True),
        ("054c:06c3", "rcs380", False),
        ("08e6:3437", "", True),
    ]
    assert str(readers[2]) == "USB SmartCard Reader [08e6:3437], usable by pcscd (CCID)"
    assert usb_devices(tmp_path / "missing") == ()


def test_configured_wedge_is_found_by_path_or_usb_id(tmp_path: Path) -> None:
    _usb(tmp_path, "1-3", "08ff", "0009", "RFID Reader", interface_class="03")
    devices = usb_devices(tmp_path)
    assert (
        configured_wedge(ReaderSection(settings=(WedgeSettings(wedge_usb_id="08FF:0009"),)), devices)
        == "RFID Reader [08ff:0009]"
    )
    assert configured_wedge(ReaderSection(settings=(WedgeSettings(wedge_usb_id="08ff:0001"),)), devices) == ""
    assert configured_wedge(ReaderSection(), devices) == ""
    event = tmp_path / "event-kbd"
    assert configured_wedge(ReaderSection(settings=(WedgeSettings(wedge_device=str(event)),)), devices) == ""
    event.write_text("")
    assert configured_wedge(
        ReaderSection(settings=(WedgeSettings(wedge_device=str(event)),)), devices
    ) == str(event)


def test_configured_kinds_need_no_survey() -> None:
    def no_look(section: ReaderSection) -> Survey:
        raise AssertionError("only auto looks")

    nfc = open_readers(
        ReaderSection(kind="nfc", settings=(NfcSettings(nfc_device="tty:AMA0:pn532"),)), look=no_look
    )
    assert isinstance(nfc[0], NfcReader) and nfc[0].device == "tty:AMA0:pn532"
    pcsc = open_readers(
        ReaderSection(kind="pcsc", settings=(PcscSettings(pcsc_readers=("ACR122",)),)), look=no_look
    )
    assert isinstance(pcsc[0], PcscReader) and pcsc[0].wanted == ("ACR122",)
    simulated = open_readers(
        ReaderSection(kind="simulated", settings=(SimulatedSettings(simulated_socket="/tmp/x.sock"),)),
        look=no_look,
    )
    assert isinstance(simulated[0], SimulatedReader) and simulated[0].socket_path == "/tmp/x.sock"
    wedge = open_readers(
        ReaderSection(kind="wedge", settings=(WedgeSettings(wedge_usb_id="08ff:0009"),)), look=no_look
    )
    assert isinstance(wedge[0], WedgeReader)


def test_every_reader_kind_has_one_driver_that_opens_its_kind() -> None:
    assert list(DRIVERS) == list(READER_KINDS)
    for name, driver in DRIVERS.items():
        assert driver.spec.name == name
        assert driver.open(ReaderSection(kind=name)).kind == name
        assert isinstance(driver.absent(ReaderSection(kind=name)).detail, str)


def test_a_kind_owns_only_keys_named_after_it() -> None:
    with pytest.raises(ValueError, match="must start with serial_"):
        ReaderKindSpec("serial", "a reader on a serial port", WedgeSettings)


@pytest.mark.parametrize(
    ("found", "section", "expected"),
    [
        # PC/SC first, even when nfcpy could drive a USB reader too.
        (Survey(PcscdState(True, ("ACS ACR122U 00 00",)), (RC_S380,), ()), ReaderSection(), PcscReader),
        # pcscd runs but sees only readers the configuration does not want: nfcpy.
        (
            Survey(PcscdState(True, ("Yubikey 00 00",)), (RC_S380,), ()),
            ReaderSection(settings=(PcscSettings(pcsc_readers=("ACR122",)),)),
            NfcReader,
        ),
        (Survey(PcscdState(False), (RC_S380,), ()), ReaderSection(), NfcReader),
        (
            Survey(PcscdState(False), (), ()),
            ReaderSection(settings=(NfcSettings(nfc_device="tty:AMA0:pn532"),)),
            NfcReader,
        ),
        (
            Survey(PcscdState(False), (), (), wedge="RFID [08ff:0009]"),
            ReaderSection(settings=(WedgeSettings(wedge_usb_id="08ff:0009"),)),
            WedgeReader,
        ),
        # Nothing: wait for a PC/SC reader to be plugged in.
        (Survey(PcscdState(False), (), ()), ReaderSection(), PcscReader),
    ],
    ids=["pcsc-first", "pcsc-unwanted", "nfcpy-usb", "nfcpy-serial", "wedge", "nothing"],
)
def test_auto_order(found: Survey, section: ReaderSection, expected: type) -> None:
    readers = open_readers(section, look=lambda _section: found)
    assert len(readers) == 1
    assert isinstance(readers[0], expected)


@pytest.mark.pcscd
def test_auto_finds_pcscd_readers_and_reads(tmp_path: Path) -> None:
    with vpcd_session():
        found = survey(ReaderSection(), sysfs=tmp_path, proc_modules=tmp_path / "modules")
        assert found.pcscd == PcscdState(True, ("Virtual PCD 00 00", "Virtual PCD 00 01"))
        (reader,) = open_readers(ReaderSection())
        assert isinstance(reader, PcscReader)
        sink = Sink()
        with ReaderThread(reader, sink):
            assert sink.next_health().ok
            with VirtualCard(bytes.fromhex("04A1B2C3D4E5F6")):
                assert sink.next_read().reader_name == "Virtual PCD 00 00"
