"""Which input devices SDL reads itself under KMSDRM: touchscreens, mice and keyboards.

Without a window system SDL opens ``/dev/input/event*`` and reads touches and keys there (its
evdev layer). The kiosk's loop waits on the same devices (see :mod:`ui.sdlwait`) so that a
touch wakes it; this module finds them from what the kernel publishes in sysfs, so no input
library is needed. Each ``/sys/class/input/eventN/device/capabilities/<type>`` file is a bitmap
in hex, printed as words with the highest first; words after the first are zero-padded to full
width, so joining them gives the bitmap whatever the kernel's word size.

Example::

    from ui.inputdevices import input_devices

    print(input_devices())  # e.g. ['/dev/input/event0'] for a touchscreen
"""

from __future__ import annotations

from pathlib import Path

SYS_INPUT = Path("/sys/class/input")
DEV_INPUT = Path("/dev/input")

# From linux/input-event-codes.h.
EV_KEY, EV_REL, EV_ABS = 0x01, 0x02, 0x03
REL_X = 0x00
ABS_X, ABS_MT_POSITION_X = 0x00, 0x35
KEY_Q = 16  # first letter key: a keyboard has it, a power button or a remote does not


def _bitmap(capabilities: Path, kind: str) -> int:
    try:
        words = (capabilities / kind).read_text().split()
    except (OSError, UnicodeDecodeError):
        return 0
    try:
        return int("".join(words), 16) if words else 0
    except ValueError:
        return 0


def _bit(bitmap: int, bit: int) -> bool:
    return bool(bitmap >> bit & 1)


def wakes_sdl(capabilities: Path) -> bool:
    """Whether a device with these capabilities gives SDL touches, pointer motion or keys."""
    events = _bitmap(capabilities, "ev")
    absolute = _bitmap(capabilities, "abs")
    if _bit(events, EV_ABS) and (_bit(absolute, ABS_X) or _bit(absolute, ABS_MT_POSITION_X)):
        return True  # touchscreen, tablet
    if _bit(events, EV_REL) and _bit(_bitmap(capabilities, "rel"), REL_X):
        return True  # mouse
    return _bit(events, EV_KEY) and _bit(_bitmap(capabilities, "key"), KEY_Q)  # keyboard


def input_devices(sys_input: Path = SYS_INPUT, dev_input: Path = DEV_INPUT) -> list[str]:
    """Device paths of the touchscreens, mice and keyboards present now, sorted.

    A keyboard-wedge badge reader is among them, but while its reader runs it is grabbed, and
    a grabbed device sends nothing to anyone else: it does not wake the loop.
    """
    try:
        entries = sorted(sys_input.glob("event*"))
    except OSError:
        return []
    return [str(dev_input / e.name) for e in entries if wakes_sdl(e / "device" / "capabilities")]
