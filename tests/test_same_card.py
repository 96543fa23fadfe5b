"""One card on every kind of reader gives one badge id (design.md, "Card numbers").

Each card is read for real through every path: nfcpy's ``udp`` driver and the emulated tag,
pyscard through pcscd and a vpcd card, the simulated reader, and keyboard-wedge readers typing
it (hex, and decimal) through the wedge reader's own loop. Every path must give the same
canonical id, and the configured chains the same badge id. A decimal reader that types the UID
byte-reversed (common for 4-byte cards) gives a different canonical id, which its own chain in
``[transforms]`` brings to the same badge id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from drivers.readers.base import Reader, ReaderThread
from drivers.readers.keymap import WedgeFormat
from drivers.readers.nfc import NfcReader
from drivers.readers.pcsc import PcscReader
from drivers.readers.simulated import SimulatedReader
from drivers.readers.wedge import WedgeReader
from drivers.transforms import chains_from_config
from station.config import TransformsSection
from station.events import BadgeRead
from tests.support.nfc_tag import Card, TagField
from tests.support.reader_helpers import ReplayDevice, Sink, keys, to_bytes, typed
from tests.support.vpcd_card import VirtualCard, vpcd_session

pytestmark = pytest.mark.pcscd

CHAIN = "reverse | hex2dec | lpad(10)"  # e.g. what the directory has from an older reader


@pytest.fixture(scope="module")
def pcscd() -> Iterator[None]:
    with vpcd_session():
        yield


@contextlib.contextmanager
def running(reader: Reader) -> Iterator[Sink]:
    sink = Sink()
    with ReaderThread(reader, sink):
        assert sink.next_health().ok
        yield sink


def read_nfc(uid: bytes) -> BadgeRead:
    with TagField() as field:
        field.insert(Card(uid))
        with running(NfcReader(device=field.device, technologies=("106A",))) as sink:
            return sink.next_read()


def read_pcsc(uid: bytes) -> BadgeRead:
    with running(PcscReader()) as sink, VirtualCard(uid):
        return sink.next_read()


def read_simulated(uid: bytes) -> BadgeRead:
    reader = SimulatedReader()
    with running(reader) as sink:
        reader.tap(uid)
        return sink.next_read()


def read_wedge(fmt: WedgeFormat, text: str) -> BadgeRead:
    device = ReplayDevice()
    with running(WedgeReader(fmt=fmt, opener=lambda path, usb: device)) as sink:
        device.send(to_bytes(keys(*typed(text))))
        return sink.next_read()


PATHS: dict[str, Callable[[bytes], BadgeRead]] = {
    "nfc": read_nfc,
    "pcsc": read_pcsc,
    "simulated": read_simulated,
    "wedge-hex": lambda uid: read_wedge("hex", uid.hex().upper()),
    "wedge-decimal": lambda uid: read_wedge("decimal", str(int.from_bytes(uid, "big"))),
}


@pytest.mark.parametrize(
    ("uid", "badge_id"),
    [(bytes.fromhex("E43AC9D2"), "3536403172"), (bytes.fromhex("04A1B2C3D4E5F6"), "69495546249912580")],
    ids=["4-byte", "7-byte"],
)
def test_every_reader_gives_the_same_ids(pcscd: None, uid: bytes, badge_id: str) -> None:
    section = TransformsSection(nfc=CHAIN, pcsc=CHAIN, wedge=CHAIN, simulated=CHAIN)
    chains = chains_from_config(section, "test")
    reads = {path: read(uid) for path, read in PATHS.items()}
    assert {path: read.uid for path, read in reads.items()} == dict.fromkeys(PATHS, uid)
    canonical = {path: read.canonical_id for path, read in reads.items()}
    assert canonical == dict.fromkeys(PATHS, uid.hex().upper())
    ids = {path: chains[read.reader_kind].apply(read.canonical_id) for path, read in reads.items()}
    assert ids == dict.fromkeys(PATHS, badge_id)


def test_a_reversed_decimal_wedge_reader_needs_its_own_chain(pcscd: None) -> None:
    uid = bytes.fromhex("E43AC9D2")  # the vendor example: read in reverse, it types 3536403172
    section = TransformsSection(nfc=CHAIN, pcsc=CHAIN, simulated=CHAIN, wedge="hex2dec")
    chains = chains_from_config(section, "test")
    wedge = read_wedge("decimal", str(int.from_bytes(uid, "little")))
    assert wedge.raw == "3536403172"
    assert wedge.canonical_id == "D2C93AE4"
    others = [read_nfc(uid), read_pcsc(uid), read_simulated(uid)]
    expected = {chains[read.reader_kind].apply(read.canonical_id) for read in others}
    assert expected == {"3536403172"}
    assert chains["wedge"].apply(wedge.canonical_id) == "3536403172"
