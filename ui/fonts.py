"""The station's typefaces: DejaVu Sans from Debian's ``fonts-dejavu-core``, else pygame's own.

Codes a person must type (pairing, enrolment) are set in DejaVu Sans Mono from the same
package: its ``I``, ``l`` and ``1`` have different shapes and its zero is dotted, unlike ``O``.
Text is measured with the same :class:`Fonts` that draws it, so a test that finds text fitting
its box finds what the screen shows.
"""

from __future__ import annotations

from pathlib import Path

import pygame

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"
MONO = "DejaVuSansMono.ttf"
MONO_BOLD = "DejaVuSansMono-Bold.ttf"


class Fonts:
    """Loads fonts by pixel size, weight and face (``mono`` for codes), once each.

    :param directory: where the DejaVu files are; a missing monospaced file falls back to the
        proportional one, a missing proportional one to pygame's default font (bold by the
        renderer).
    """

    def __init__(self, directory: Path = DEJAVU_DIR) -> None:
        if not pygame.font.get_init():
            pygame.font.init()

        def found(name: str, otherwise: Path | None) -> Path | None:
            path = directory / name
            return path if path.is_file() else otherwise

        self._regular = found(REGULAR, None)
        self._bold = found(BOLD, self._regular)
        self._files: dict[tuple[bool, bool], Path | None] = {
            (False, False): self._regular,
            (True, False): self._bold,
            (False, True): found(MONO, self._regular),
            (True, True): found(MONO_BOLD, self._bold),
        }
        self._cache: dict[tuple[int, bool, bool], pygame.font.Font] = {}

    @property
    def name(self) -> str:
        return "DejaVu Sans" if self._regular else "pygame default"

    def get(self, size: int, bold: bool = False, *, mono: bool = False) -> pygame.font.Font:
        key = (size, bold, mono)
        font = self._cache.get(key)
        if font is None:
            path = self._files[bold, mono]
            font = pygame.font.Font(path, size)
            if bold and path is None:
                font.bold = True
            self._cache[key] = font
        return font
