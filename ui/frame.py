"""Drawing one frame of a screen onto a surface, with nothing else involved (no display, no loop)."""

from __future__ import annotations

from typing import Any

import pygame

from ui.fonts import Fonts
from ui.metrics import Metrics
from ui.painter import Painter
from ui.screens import Now, Screen


def draw_frame(
    screen: Screen[Any],
    surface: pygame.Surface,
    fonts: Fonts,
    now: Now,
    pressed: tuple[int, int] | None = None,
) -> Painter:
    """Draw ``screen`` on ``surface`` (its logical size) and return the painter's record."""
    painter = Painter(surface, fonts, Metrics(*surface.get_size()), pressed=pressed)
    screen.draw(painter, now)
    return painter
