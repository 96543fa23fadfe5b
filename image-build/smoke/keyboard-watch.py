#!/usr/bin/python3
"""Boot test only: count the Ctrl-Alt-Del presses QEMU's virtio keyboard delivers (evdev).

    keyboard-watch.py PRESSES SECONDS

Prints "ready" once it reads the keyboard (the presses may come then), and at the end the
number of Delete presses made while Ctrl and Alt were held: proof that the keys reached the
kernel, whatever the console and systemd then did with them.
"""

import os
import select
import struct
import sys
import time
from pathlib import Path

EVENT = struct.Struct("llHHi")  # struct input_event on 64-bit: time, type, code, value
EV_KEY = 1
KEY_LEFTCTRL, KEY_LEFTALT, KEY_DELETE = 29, 56, 111
RIGHT = {97: KEY_LEFTCTRL, 100: KEY_LEFTALT}  # right Ctrl and Alt count as left


def keyboard() -> Path | None:
    for name in sorted(Path("/sys/class/input").glob("event*/device/name")):
        if "Virtio Keyboard" in name.read_text():
            return Path("/dev/input") / name.parent.parent.name
    return None


def main() -> int:
    presses, seconds = int(sys.argv[1]), float(sys.argv[2])
    device = keyboard()
    if device is None:
        print("ready\n0", flush=True)
        return 0
    fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK)
    print("ready", flush=True)
    held: set[int] = set()
    count = 0
    deadline = time.monotonic() + seconds
    while count < presses and (left := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            break
        data = os.read(fd, EVENT.size * 64)
        for offset in range(0, len(data) - EVENT.size + 1, EVENT.size):
            _, _, kind, code, value = EVENT.unpack_from(data, offset)
            if kind != EV_KEY:
                continue
            code = RIGHT.get(code, code)
            if value == 0:
                held.discard(code)
            elif value == 1:
                held.add(code)
                if code == KEY_DELETE and {KEY_LEFTCTRL, KEY_LEFTALT} <= held:
                    count += 1
    print(count, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
