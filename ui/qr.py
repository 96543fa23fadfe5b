"""QR codes (segno) as pygame surfaces: whole pixels per module, quiet zone kept, dark on white."""

from __future__ import annotations

import functools

import pygame

from ui.theme import QR_DARK, QR_LIGHT

QUIET_ZONE = 4  # modules of white border the QR standard asks for


@functools.lru_cache(maxsize=16)
def qr_surface(data: str, max_side: int) -> pygame.Surface:
    """The QR code of ``data``, as large as fits ``max_side`` with a whole-pixel module size.

    Scanners need crisp modules, so the code is never scaled by a fraction; it may come out
    smaller than ``max_side`` (at least one pixel per module).
    """
    import segno  # here: a paired station shows no QR code, and segno costs its start ~5 ms

    code = segno.make(data, error="m", micro=False)
    modules = code.symbol_size(border=QUIET_ZONE)[0]
    small = pygame.Surface((modules, modules))
    small.fill(QR_LIGHT)
    for y, row in enumerate(code.matrix_iter(border=QUIET_ZONE)):
        for x, dark in enumerate(row):
            if dark:
                small.set_at((x, y), QR_DARK)
    scale = max(1, max_side // modules)
    return pygame.transform.scale(small, (modules * scale, modules * scale))
