"""Keyboard-wedge readers: decoding recorded evdev streams, text to UID, and the reader loop."""

from __future__ import annotations

from pathlib import Path

import pytest
from evdev import InputEvent, ecodes

from drivers.badges import BadgeFilter
from drivers.readers.base import ReaderError, ReaderThread
from drivers.readers.keymap import WedgeDecoder, WedgeFormat, text_to_uid
from drivers.readers.wedge import WedgeReader, open_wedge_device
from station.events import BadgeRead, ReaderHealth
from tests.support.reader_helpers import EVENT, ReplayDevice, Sink, events_of, keys, tap

DATA = Path(__file__).parent / "data" / "wedge"


def decode(events: list[InputEvent], fmt: WedgeFormat, timeout_s: float = 0.1) -> list[str]:
    decoder = WedgeDecoder(fmt=fmt, key_timeout_s=timeout_s)
    texts = [text for event in events for text in decoder.feed(event)]
    return texts + decoder.flush()


# -- recorded streams ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capture", "fmt", "expected"),
    [
        ("decimal-us.bin", "decimal", ["3536403172", "2490285352", "2490285352"]),
        ("hex-shifted.bin", "hex", ["04A1B2C3D4E5F6"]),
        ("azerty-hex.bin", "hex", ["946EBD28", "0A1B"]),  # ended by the inter-key gap, then Enter
        ("keypad-no-enter.bin", "decimal", ["0012345678", "3536403172"]),  # no Enter: timeouts
    ],
)
def test_recorded_streams(capture: str, fmt: WedgeFormat, expected: list[str]) -> None:
    assert EVENT.size == 24
    assert decode(events_of((DATA / capture).read_bytes()), fmt) == expected


def test_recorded_streams_give_the_cards_uids() -> None:
    texts = decode(events_of((DATA / "decimal-us.bin").read_bytes()), "decimal")
    assert [text_to_uid(t, "decimal").hex().upper() for t in texts] == ["D2C93AE4", "946EBD28", "946EBD28"]
    (hex_text,) = decode(events_of((DATA / "hex-shifted.bin").read_bytes()), "hex")
    assert text_to_uid(hex_text, "hex") == bytes.fromhex("04A1B2C3D4E5F6")


# -- events built here ---------------------------------------------------------------------


def test_letters_keep_case_in_decimal_mode_and_are_upper_in_hex() -> None:
    presses = [*tap(ecodes.KEY_A, ecodes.KEY_Q), (ecodes.KEY_LEFTSHIFT, 1), *tap(ecodes.KEY_B)]
    presses += [(ecodes.KEY_LEFTSHIFT, 0), *tap(ecodes.KEY_ENTER)]
    assert decode(keys(*presses), "decimal") == ["aqB"]
    assert decode(keys(*presses), "hex") == ["AAB"]


def test_auto_repeat_and_other_event_types_are_ignored() -> None:
    events = keys(
        (ecodes.KEY_1, 1), (ecodes.KEY_1, 2), (ecodes.KEY_1, 2), (ecodes.KEY_1, 0), *tap(ecodes.KEY_TAB)
    )
    events.insert(1, InputEvent(100, 5000, ecodes.EV_MSC, ecodes.MSC_SCAN, 0x7001E))
    assert decode(events, "decimal") == ["1"]


def test_a_stuck_key_cannot_grow_the_read_for_ever() -> None:
    decoder = WedgeDecoder(fmt="decimal", key_timeout_s=1.0)
    for event in keys(*tap(*[ecodes.KEY_5] * 200), step=0.001):
        assert decoder.feed(event) == []
    assert decoder.overflows == 3
    assert len(decoder.flush()[0]) < 64


def test_enter_alone_is_no_read() -> None:
    assert decode(keys(*tap(ecodes.KEY_ENTER, ecodes.KEY_KPENTER)), "decimal") == []


# -- typed text to UID bytes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt", "uid"),
    [
        ("3536403172", "decimal", "D2C93AE4"),
        ("0000000001", "decimal", "00000001"),
        ("12345678", "decimal", "00BC614E"),  # 8 digits (facility + card) still fill 4 bytes
        ("9999999999", "decimal", "02540BE3FF"),  # too big for 4 bytes: as many as it needs
        ("00000000000000001", "decimal", "00000000000001"),  # 17 digits: 7 bytes
        ("1" + "0" * 19, "decimal", "008AC7230489E80000"),  # 20 digits: 9 bytes
        ("04a1b2c3", "hex", "04A1B2C3"),
        ("ABC", "hex", "0ABC"),
        ("04:A1-B2 C3", "hex", "04A1B2C3"),
    ],
)
def test_text_to_uid(text: str, fmt: WedgeFormat, uid: str) -> None:
    assert text_to_uid(text, fmt).hex().upper() == uid


@pytest.mark.parametrize(("text", "fmt"), [("12AB34", "decimal"), ("XYZ123", "hex"), ("", "hex")])
def test_garbage_text_is_refused_without_repeating_it(text: str, fmt: WedgeFormat) -> None:
    with pytest.raises(ValueError) as info:
        text_to_uid(text, fmt)
    assert not text or text not in str(info.value)


# -- the reader loop, replaying a recording through a pipe ---------------------------------


def test_reader_grabs_decodes_filters_and_releases(caplog: pytest.LogCaptureFixture) -> None:
    device = ReplayDevice()
    reader = WedgeReader(device_path="/dev/input/by-id/test", opener=lambda path, usb: device)
    sink = Sink()
    badge_filter = BadgeFilter(sink, repeat_s=3.0, min_uid_bytes=4, detects_removal=reader.detects_removal)
    with ReaderThread(reader, badge_filter):
        health = sink.next()
        assert isinstance(health, ReaderHealth) and health.ok
        for capture in ("decimal-us.bin", "hex-shifted.bin", "keypad-no-enter.bin"):
            device.send((DATA / capture).read_bytes())
        reads = [sink.next() for _ in range(4)]
    assert all(isinstance(r, BadgeRead) and r.reader_kind == "wedge" for r in reads)
    # the second card's repeat is filtered out, the hex typed into a decimal reader discarded,
    # and the last read, with no Enter after it, ended by the inter-key timeout
    assert [r.canonical_id for r in reads if isinstance(r, BadgeRead)] == [
        "D2C93AE4",
        "946EBD28",
        "00BC614E",
        "D2C93AE4",
    ]
    assert isinstance(reads[0], BadgeRead) and reads[0].raw == "3536403172"
    assert "discarded a read from /dev/input/by-id/test: a decimal reader typed 14 characters" in caplog.text
    assert device.calls == ["grab", "ungrab", "close"]
    assert sink.events.empty()


def test_an_unplugged_reader_is_reported_and_retried() -> None:
    devices: list[ReplayDevice] = []

    def opener(path: str, usb: str) -> ReplayDevice:
        if devices:
            raise ReaderError("no keyboard-wedge reader with USB id 08ff:0009 is attached")
        devices.append(ReplayDevice())
        return devices[0]

    sink = Sink()
    thread = ReaderThread(WedgeReader(usb_id="08ff:0009", opener=opener), sink, restart_delay_s=0.01)
    with thread:
        assert isinstance(sink.next(), ReaderHealth)
        devices[0].unplug()
        went = sink.next()
        assert isinstance(went, ReaderHealth) and not went.ok and "went away" in went.detail
        again = sink.next()
        assert isinstance(again, ReaderHealth) and not again.ok and "08ff:0009" in again.detail
    assert devices[0].calls == ["grab", "ungrab", "close"]


def test_opening_by_path_or_usb_id_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="cannot open the keyboard-wedge reader"):
        open_wedge_device(str(tmp_path / "usb-reader-event-kbd"))
    with pytest.raises(ReaderError, match="no keyboard-wedge reader with USB id ffff:fffe"):
        open_wedge_device("", "ffff:fffe")  # no /dev/input on the test machines: nothing matches
    with pytest.raises(ReaderError, match="no keyboard-wedge reader configured"):
        open_wedge_device()


def test_stop_is_noticed_while_idle() -> None:
    device = ReplayDevice()
    thread = ReaderThread(WedgeReader(opener=lambda path, usb: device), Sink())
    thread.start()
    thread.stop()
    assert not thread.alive
    assert device.calls == ["grab", "ungrab", "close"]
