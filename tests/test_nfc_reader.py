"""The nfcpy reader through nfcpy's real ``udp`` driver against emulated cards (tests/support/nfc_tag.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nfc
import pytest

from drivers.readers.base import ReaderError, ReaderThread, StopEvent
from drivers.readers.nfc import TECHNOLOGIES, NfcReader, loaded_kernel_nfc_modules
from station.events import BadgeRead, ReaderEvent
from tests.support.nfc_tag import Card, TagField
from tests.support.reader_helpers import Sink

UID7 = bytes.fromhex("04A1B2C3D4E5F6")
UID4 = bytes.fromhex("946EBD28")
UID10 = bytes.fromhex("04112233445566778899")
FELICA_IDM = bytes.fromhex("0102030405060708")


@pytest.fixture
def field() -> Iterator[TagField]:
    with TagField() as tag_field:
        yield tag_field


@contextlib.contextmanager
def reading(field: TagField, card: Card | None = None, **options: Any) -> Iterator[Sink]:
    """An NfcReader on ``field`` (with ``card`` in it) running on its thread; stopped on exit."""
    options.setdefault("technologies", ("106A",))  # a missing technology costs 1 s per look on udp
    if card is not None:
        field.insert(card)
    sink = Sink()
    with ReaderThread(NfcReader(device=field.device, **options), sink):
        yield sink


@pytest.mark.parametrize(
    "card",
    [Card(UID7), Card(UID4), Card(UID7, "type4"), Card(UID10, "type4"), Card(UID4, "type4")],
    ids=["type2-7", "type2-4", "type4-7", "type4-10", "type4-4"],
)
def test_reads_the_uid_of_nfc_a_cards(field: TagField, card: Card) -> None:
    with reading(field, card) as sink:
        read = sink.next_read()
    assert read.uid == card.uid
    assert read.reader_kind == "nfc"
    assert read.reader_name == f"nfc {field.device}"
    assert read.raw == card.uid.hex().upper()
    assert sink.health[0].ok


def test_the_emulated_cards_are_what_nfcpy_says(field: TagField) -> None:
    # The reader does not need the card's application layer, but the emulator must be a card
    # that nfcpy's own activation recognises, or the tests above prove little.
    clf = nfc.ContactlessFrontend(field.device)
    try:
        for card, expected in ((Card(UID7), "NTAG213"), (Card(UID10, "type4"), "Type4ATag")):
            field.insert(card)
            tag = clf.connect(rdwr={"targets": ["106A"], "on-connect": lambda tag: False})
            assert expected in str(tag)
            assert bytes(tag.identifier) == card.uid
            assert tag.is_present
    finally:
        clf.close()


def test_a_resting_card_is_one_read_and_removal_is_noticed(field: TagField) -> None:
    with reading(field, Card(UID7)) as sink:
        assert sink.next_read().uid == UID7
        selects = field.frames["SELECT"]
        # The reader keeps checking that the card is there, and reads it no more.
        field.wait_for(lambda frames: frames["SELECT"] >= selects + 4)
        sink.drain()
        assert len(sink.reads) == 1
        field.remove()
        field.wait_for(lambda frames: frames["REQA-empty"] >= 2)
        field.insert(Card(UID7))
        assert sink.next_read().uid == UID7


def test_a_card_swapped_for_another_is_read(field: TagField) -> None:
    with reading(field, Card(UID7)) as sink:
        assert sink.next_read().uid == UID7
        field.insert(Card(UID4, "type4"))  # no field-off in between: a quick swap
        assert sink.next_read().uid == UID4


@pytest.mark.parametrize(
    ("card", "request_name"),
    [(Card(bytes.fromhex("11223344"), "b"), "SENSB_REQ"), (Card(FELICA_IDM, "felica"), "SENSF_REQ")],
    ids=["iso14443b", "felica"],
)
def test_reads_iso14443b_and_felica(field: TagField, card: Card, request_name: str) -> None:
    with reading(field, card, technologies=TECHNOLOGIES) as sink:
        assert sink.next_read().uid == card.uid
        seen = field.frames[request_name]
        field.wait_for(lambda frames: frames[request_name] >= seen + 2)  # presence checks only
        sink.drain()
        assert len(sink.reads) == 1


def test_stop_closes_the_device(field: TagField) -> None:
    with reading(field, Card(UID7)) as sink:
        sink.next_read()
        field.wait_for(lambda frames: frames["SELECT"] >= 3)
        rf_off = field.frames["RFOFF"]
    # Closing nfcpy's device switches the field off.
    field.wait_for(lambda frames: frames["RFOFF"] > rf_off)
    assert field.frames["RFOFF"] > rf_off


def test_a_failure_while_reading_closes_the_device(field: TagField) -> None:
    field.insert(Card(UID7))
    rf_off: list[int] = []

    def failing_sink(event: ReaderEvent) -> None:
        if isinstance(event, BadgeRead):
            rf_off.append(field.frames["RFOFF"])
            raise RuntimeError("the core's queue is gone")

    reader = NfcReader(device=field.device, technologies=("106A",))
    with pytest.raises(RuntimeError, match="queue is gone"):
        reader.run(failing_sink, StopEvent())
    field.wait_for(lambda frames: frames["RFOFF"] > rf_off[0])


def test_stop_while_no_card_is_there(field: TagField) -> None:
    with reading(field) as sink:
        assert sink.next_health().ok
        field.wait_for(lambda frames: frames["REQA-empty"] >= 1)


def test_a_missing_reader_is_unhealthy_with_the_kernel_hint(tmp_path: Path) -> None:
    modules = tmp_path / "modules"
    modules.write_text("pn533_usb 20480 0 - Live 0x0\npn533 45056 1 pn533_usb, Live 0x0\nsnd 1 0 - Live 0\n")
    reader = NfcReader(device="usb:ffff:fffe", proc_modules=modules)
    with pytest.raises(ReaderError, match=r"no NFC reader found at usb:ffff:fffe .*pn533_usb, pn533"):
        reader.run(Sink(), StopEvent())
    sink = Sink()
    with ReaderThread(NfcReader(device="usb:ffff:fffe"), sink, restart_delay_s=0.05):
        health = sink.next_health()
    assert not health.ok
    assert "no NFC reader found at usb:ffff:fffe" in health.detail


def test_kernel_modules_are_read_from_proc(tmp_path: Path) -> None:
    modules = tmp_path / "modules"
    modules.write_text("nfc 155648 2 pn533,pn533_usb, Live 0x0\nbluetooth 1 0 - Live 0\n")
    assert loaded_kernel_nfc_modules(modules) == ("nfc",)
    assert loaded_kernel_nfc_modules(tmp_path / "missing") == ()


def test_rejects_unknown_technologies() -> None:
    with pytest.raises(ValueError, match="technologies"):
        NfcReader(technologies=("106C",))
