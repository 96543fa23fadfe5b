"""Writes the keyboard-wedge captures in this directory: ``python tests/data/wedge/make_captures.py``.

Each ``.bin`` file is a stream of Linux ``struct input_event`` records as a 64-bit kernel
writes them to ``/dev/input/eventN`` (``long sec, long usec, u16 type, u16 code, s32 value``,
24 bytes), in the order a USB HID keyboard produces them: for every key an ``EV_MSC/MSC_SCAN``
with the HID usage, the ``EV_KEY`` change and an ``EV_SYN/SYN_REPORT``. The machines this
project is built on have no input devices, so these are written from the readers' documented
behaviour rather than recorded; a recording from a real reader (``cat /dev/input/by-id/…-event-kbd
> capture.bin`` while tapping cards) has the same format and can be added beside them.
"""

from __future__ import annotations

import struct
from pathlib import Path

FORMAT = "llHHi"
EV_SYN, EV_KEY, EV_MSC, MSC_SCAN = 0, 1, 4, 4
KEY_LEFTSHIFT, KEY_ENTER, KEY_KPENTER = 42, 28, 96
KEYPAD_CODES = (82, 79, 80, 81, 75, 76, 77, 71, 72, 73)  # KEY_KP0 .. KEY_KP9
# evdev key code and HID usage (keyboard page) of each key the readers here press
KEYS = {
    **{str(d): (2 + (d - 1) % 10, 0x1E + (d - 1) % 10) for d in range(10)},  # number row
    "A": (30, 0x04), "B": (48, 0x05), "C": (46, 0x06), "D": (32, 0x07), "E": (18, 0x08),
    "F": (33, 0x09), "Q": (16, 0x14),
    **{f"KP{d}": (code, 0x59 + (d - 1) % 10) for d, code in zip(range(10), KEYPAD_CODES, strict=True)},
}  # fmt: skip
SHIFT_USAGE, ENTER_USAGE, KPENTER_USAGE = 0xE1, 0x28, 0x58


class Capture:
    def __init__(self, start: float) -> None:
        self.now = start
        self.data = b""

    def event(self, type_: int, code: int, value: int) -> None:
        sec, usec = int(self.now), round((self.now % 1) * 1_000_000)
        self.data += struct.pack(FORMAT, sec, usec, type_, code, value)

    def key(self, code: int, usage: int, value: int, step_s: float = 0.004) -> None:
        self.event(EV_MSC, MSC_SCAN, 0x70000 + usage)
        self.event(EV_KEY, code, value)
        self.event(EV_SYN, 0, 0)
        self.now += step_s

    def press(self, name: str, *, shift: bool = False) -> None:
        code, usage = KEYS[name]
        if shift:
            self.key(KEY_LEFTSHIFT, SHIFT_USAGE, 1)
        self.key(code, usage, 1)
        self.key(code, usage, 0)
        if shift:
            self.key(KEY_LEFTSHIFT, SHIFT_USAGE, 0)

    def enter(self, *, keypad: bool = False) -> None:
        code, usage = (KEY_KPENTER, KPENTER_USAGE) if keypad else (KEY_ENTER, ENTER_USAGE)
        self.key(code, usage, 1)
        self.key(code, usage, 0)

    def pause(self, seconds: float) -> None:
        self.now += seconds


def decimal_us() -> bytes:
    """A decimal reader (US layout) taps two cards, each ended by Enter; the second twice."""
    capture = Capture(1_767_225_600.0)
    for number in ("3536403172", "2490285352", "2490285352"):
        for digit in number:
            capture.press(digit)
        capture.enter()
        capture.pause(0.7)
    return capture.data


def hex_shifted() -> bytes:
    """A hex reader that holds Shift for each letter (upper-case hex), 7-byte UID, keypad Enter."""
    capture = Capture(1_767_225_700.25)
    for char in "04A1B2C3D4E5F6":
        capture.press(char, shift=char.isalpha())
    capture.enter(keypad=True)
    return capture.data


def azerty_hex() -> bytes:
    """A hex reader set to a French (AZERTY) layout: Shift for digits, A at the Q position."""
    capture = Capture(1_767_225_800.5)
    for char in "946EBD28":
        capture.press("Q" if char == "A" else char, shift=True)
    capture.pause(0.5)
    for char in "0A1B":  # a short, garbled second read: Shift+Q is the A
        capture.press("Q" if char == "A" else char, shift=True)
    capture.enter()
    return capture.data


def keypad_no_enter() -> bytes:
    """A decimal reader typing on the keypad and never pressing Enter: reads end on the timeout."""
    capture = Capture(1_767_225_900.0)
    for number in ("0012345678", "3536403172"):
        for digit in number:
            capture.press(f"KP{digit}")
        capture.pause(0.5)
    return capture.data


def main() -> None:
    here = Path(__file__).parent
    for name, make in (
        ("decimal-us.bin", decimal_us),
        ("hex-shifted.bin", hex_shifted),
        ("azerty-hex.bin", azerty_hex),
        ("keypad-no-enter.bin", keypad_no_enter),
    ):
        (here / name).write_bytes(make())


if __name__ == "__main__":
    main()
