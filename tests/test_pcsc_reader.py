"""The PC/SC reader through pyscard, a real pcscd and vpcd virtual cards (tests/support/vpcd_card.py).

pcscd is system-wide and vpcd's ports are fixed: the module holds the machine-wide vpcd lock
(:func:`tests.support.vpcd_card.vpcd_session`), starts pcscd when it is not running, stops and restarts
it to test recovery, and always leaves it running with both vpcd readers attached.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from smartcard import scard

from drivers.readers.base import ReaderThread
from drivers.readers.pcsc import (
    GET_UID,
    PcscReader,
    ReaderLedFeedback,
    acr122_led_command,
)
from station.feedback import Pattern
from tests.support.reader_helpers import Sink
from tests.support.vpcd_card import (
    VPCD_PORTS,
    VPCD_READERS,
    VirtualCard,
    start_pcscd,
    stop_pcscd,
    vpcd_session,
    wait_for_pcscd,
)

pytestmark = pytest.mark.pcscd

READER_0 = "Virtual PCD 00 00"
READER_1 = "Virtual PCD 00 01"
UID7 = bytes.fromhex("04A1B2C3D4E5F6")
UID4 = bytes.fromhex("946EBD28")
RECOVERY_S = 5.0  # the promise: the reader works again within 5 s of pcscd being back


@pytest.fixture(scope="module")
def pcscd() -> Iterator[None]:
    with vpcd_session():
        yield


@pytest.fixture
def reader(pcscd: None) -> Iterator[tuple[PcscReader, Sink]]:
    for name in VPCD_READERS.values():  # no card left over from an earlier test
        wait_for_pcscd(name, scard.SCARD_STATE_EMPTY)
    sink = Sink()
    pcsc = PcscReader(poll_s=0.2, retry_s=0.1)
    with ReaderThread(pcsc, sink):
        health = sink.next_health()
        assert health.ok, health.detail
        yield pcsc, sink


def test_insert_reads_the_uid_once(reader: tuple[PcscReader, Sink]) -> None:
    _, sink = reader
    with VirtualCard(UID7) as resting:
        read = sink.next_read()
        assert (read.uid, read.reader_kind, read.reader_name) == (UID7, "pcsc", READER_0)
        assert read.raw == UID7.hex().upper()
        # While the first card rests, a card on the other reader is read; the first is not again.
        with VirtualCard(UID4, port=VPCD_PORTS[1]):
            assert sink.next_read().reader_name == READER_1
        assert resting.apdus == [GET_UID]
    sink.drain()
    assert [r.uid for r in sink.reads] == [UID7, UID4]


def test_remove_and_insert_again_is_a_new_read(reader: tuple[PcscReader, Sink]) -> None:
    _, sink = reader
    card = VirtualCard(UID7)
    for _ in range(3):
        card.insert()
        assert sink.next_read().uid == UID7
        card.remove()
    assert card.apdus == [GET_UID] * 3


def test_two_readers_at_once(reader: tuple[PcscReader, Sink]) -> None:
    _, sink = reader
    with VirtualCard(UID7), VirtualCard(UID4, port=VPCD_PORTS[1]):
        reads = [sink.next_read() for _ in range(2)]
    assert {read.reader_name: read.uid for read in reads} == {READER_0: UID7, READER_1: UID4}


def test_garbage_answers_are_logged_and_skipped(
    reader: tuple[PcscReader, Sink], caplog: pytest.LogCaptureFixture
) -> None:
    _, sink = reader
    with caplog.at_level(logging.WARNING), VirtualCard(UID7, status=b"\x6a\x81") as bad:
        with VirtualCard(UID4, port=VPCD_PORTS[1]):
            assert sink.next_read().uid == UID4
        assert bad.apdus == [GET_UID]
    assert "status 6A81" in caplog.text
    assert UID7.hex() not in caplog.text.lower()
    sink.drain()
    assert [r.uid for r in sink.reads] == [UID4]


def test_only_the_named_readers_are_used(pcscd: None) -> None:
    sink = Sink()
    with ReaderThread(PcscReader(readers=["pcd 00 01"], poll_s=0.2), sink):
        health = sink.next_health()
        assert (health.ok, health.detail) == (True, f"readers: {READER_1}")
        with VirtualCard(UID7) as ignored, VirtualCard(UID4, port=VPCD_PORTS[1]):
            assert sink.next_read().uid == UID4
        assert ignored.apdus == []
    with ReaderThread(PcscReader(readers=["ACR122"], poll_s=0.2), sink):
        health = sink.next_health()
    assert (health.ok, health.detail) == (False, "no PC/SC reader named ACR122")


def test_survives_pcscd_restart_while_running(pcscd: None) -> None:
    sink = Sink()
    with ReaderThread(PcscReader(), sink):  # the station's own poll and retry times
        assert sink.next_health().ok
        with VirtualCard(UID7):
            assert sink.next_read().uid == UID7
        for _ in range(3):
            stop_pcscd()
            down = sink.next_health()
            assert not down.ok
            assert "pcscd is not available" in down.detail
            start_pcscd()  # returns once pcscd is back with its readers
            with VirtualCard(UID4, port=VPCD_PORTS[1]):
                # Not a speed test: the bound is the promise "works again within 5 s".
                assert sink.next_read(timeout=RECOVERY_S).uid == UID4
            assert sink.health[-1].ok


def test_starts_before_pcscd(pcscd: None) -> None:
    stop_pcscd()
    sink = Sink()
    try:
        with ReaderThread(PcscReader(poll_s=0.2, retry_s=0.1), sink):
            down = sink.next_health()
            assert not down.ok
            start_pcscd()
            assert sink.next_health().ok
            with VirtualCard(UID7):
                assert sink.next_read().uid == UID7
    finally:
        start_pcscd()


def test_reader_led_feedback_is_harmless_without_an_acr122(pcscd: None) -> None:
    def led_threads() -> int:
        return sum(thread.name == "reader-led" for thread in threading.enumerate())

    before = led_threads()
    feedback = ReaderLedFeedback()
    for pattern in Pattern:
        feedback.play(pattern)
    feedback.close()
    feedback.close()
    assert led_threads() == before  # closed twice without error, and its thread is gone


@pytest.mark.parametrize(
    ("pattern", "apdu"),
    [
        (Pattern.READY, "FF 00 40 0E 04 01 01 01 00"),
        (Pattern.READ, "FF 00 40 AE 04 01 01 01 01"),
        (Pattern.RELEASED, "FF 00 40 AE 04 02 02 03 01"),
        (Pattern.NOTHING_TO_PRINT, "FF 00 40 FE 04 03 03 01 01"),
        (Pattern.UNKNOWN_CARD, "FF 00 40 5E 04 02 02 02 01"),
        (Pattern.ERROR, "FF 00 40 5D 04 03 02 03 01"),
        (Pattern.NEEDS_PAIRING, "FF 00 40 0F 04 01 01 01 00"),
        (Pattern.TECHNICIAN, "FF 00 40 DF 04 05 05 02 00"),
    ],
)
def test_acr122_led_commands(pattern: Pattern, apdu: str) -> None:
    assert acr122_led_command(pattern) == bytes.fromhex(apdu)
