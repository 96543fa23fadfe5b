"""The station's typeface: DejaVu Sans from Debian's ``fonts-dejavu-core``, else pygame's own.

Text is measured with the same :class:`Fonts` that draws it, so a test that finds text fitting
its box finds what the screen shows.
"""

from __future__ import annotations

from pathlib import Path

import pygame

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"


class Fonts:
    """Loads fonts by pixel size and weight, once each.

    :param directory: where ``DejaVuSans.ttf`` and ``DejaVuSans-Bold.ttf`` are; when they are
        missing pygame's default font is used (bold by the renderer).
    """

    def __init__(self, directory: Path = DEJAVU_DIR) -> None:
        if not pygame.font.get_init():
            pygame.font.init()
        regular, bold = directory / REGULAR, directory / BOLD
        self._regular: Path | None = regular if regular.is_file() else None
        self._bold: Path | None = bold if bold.is_file() else self._regular
        self._cache: dict[tuple[int, bool], pygame.font.Font] = {}

    @property
    def name(self) -> str:
        return "DejaVu Sans" if self._regular else "pygame default"

    def get(self, size: int, bold: bool = False) -> pygame.font.Font:
        key = (size, bold)
        font = self._cache.get(key)
        if font is None:
            path = self._bold if bold else self._regular
            font = pygame.font.Font(path, size)
            if bold and path is None:
                font.bold = True
            self._cache[key] = font
        return font
