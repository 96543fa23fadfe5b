#!/usr/bin/python3
"""Boot test only: write the frame the display shows, read back from the DRM framebuffer, as PPM.

    frame-grab.py OUT.ppm

Reads the framebuffer on the first CRTC that shows one (``DRM_IOCTL_MODE_GETCRTC``), gets a
handle to it (``GETFB``: root may, beside the station that is DRM master) and maps it as a dumb
buffer: what the station's frame holds in the guest's memory, whatever QEMU's display does with
it. Prints ``WIDTHxHEIGHT`` and the framebuffer's id, or why it could not.
"""

import ctypes
import fcntl
import mmap
import os
import struct
import sys

CARD = "/dev/dri/card0"


def _iowr(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord("d") << 8) | nr


CARD_RES = struct.Struct("4Q8I")  # drm_mode_card_res
CRTC = struct.Struct("QIIIIIII68s")  # drm_mode_crtc (set_connectors_ptr .. mode_valid, mode)
FB = struct.Struct("7I")  # drm_mode_fb_cmd: fb_id width height pitch bpp depth handle
MAP_DUMB = struct.Struct("IIQ")  # drm_mode_map_dumb: handle pad offset
GETRESOURCES, GETCRTC = _iowr(0xA0, CARD_RES.size), _iowr(0xA1, CRTC.size)
GETFB, MAP = _iowr(0xAD, FB.size), _iowr(0xB3, MAP_DUMB.size)


def crtc_ids(fd: int) -> list[int]:
    counts = CARD_RES.unpack(fcntl.ioctl(fd, GETRESOURCES, bytes(CARD_RES.size)))
    ids = (ctypes.c_uint32 * max(1, counts[5]))()
    request = bytearray(CARD_RES.size)
    CARD_RES.pack_into(request, 0, 0, ctypes.addressof(ids), 0, 0, 0, counts[5], 0, 0, 0, 0, 0, 0)
    fcntl.ioctl(fd, GETRESOURCES, request)
    return list(ids)[: counts[5]]


def main() -> int:
    out = sys.argv[1]
    fd = os.open(CARD, os.O_RDWR)
    for crtc in crtc_ids(fd):
        fb_id = CRTC.unpack(fcntl.ioctl(fd, GETCRTC, CRTC.pack(0, 0, crtc, 0, 0, 0, 0, 0, bytes(68))))[3]
        if fb_id:
            break
    else:
        print("no framebuffer on any CRTC")
        return 1
    _, width, height, pitch, bpp, _, handle = FB.unpack(
        fcntl.ioctl(fd, GETFB, FB.pack(fb_id, 0, 0, 0, 0, 0, 0))
    )
    if bpp != 32 or not handle:
        print(f"framebuffer {fb_id}: bpp {bpp}, handle {handle}: cannot read it")
        return 1
    offset = MAP_DUMB.unpack(fcntl.ioctl(fd, MAP, MAP_DUMB.pack(handle, 0, 0)))[2]
    with mmap.mmap(fd, pitch * height, mmap.MAP_SHARED, mmap.PROT_READ, offset=offset) as pixels:
        rows = b"".join(pixels[y * pitch : y * pitch + width * 4] for y in range(height))
    rgb = bytearray(width * height * 3)
    for channel, byte in ((0, 2), (1, 1), (2, 0)):  # XRGB8888 is B, G, R, X in memory
        rgb[channel::3] = rows[byte::4]
    with open(out, "wb") as file:
        file.write(b"P6\n%d %d\n255\n" % (width, height) + rgb)
    print(f"{width}x{height} fb={fb_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
