"""Every screen, in every supported size and language, from canned views, as PNG files."""

from __future__ import annotations

from pathlib import Path

import pygame

from ui.canned import MONO, WALL, canned_views
from ui.fonts import Fonts
from ui.frame import draw_frame
from ui.i18n import LANGUAGES
from ui.screens import Now, screen_for

RESOLUTIONS: tuple[tuple[int, int], ...] = ((800, 480), (1024, 600), (1280, 720), (720, 720))


def write_screenshots(
    out: Path,
    *,
    resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS,
    languages: tuple[str, ...] = tuple(LANGUAGES),
    fonts: Fonts | None = None,
) -> list[Path]:
    """Write ``OUT/LANG/WxH/NAME.png`` for every canned view; returns the files written."""
    fonts = fonts or Fonts()
    now = Now(MONO, WALL)
    written: list[Path] = []
    for language in languages:
        for width, height in resolutions:
            folder = out / language / f"{width}x{height}"
            folder.mkdir(parents=True, exist_ok=True)
            surface = pygame.Surface((width, height))
            for name, view in canned_views(language).items():
                draw_frame(screen_for(view), surface, fonts, now)
                path = folder / f"{name}.png"
                pygame.image.save(surface, str(path))
                written.append(path)
    return written
