"""Sizes that scale with the screen: one design at 800x480, scaled by the shorter ratio.

A screen of any size and orientation gets a uniform scale (never stretched), its text sizes and
touch-target size, and whether there is room to place things side by side. The design sizes
keep body text at least 20 px and touch targets at least 48 px at every supported size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pygame

from ui.theme import Role

DESIGN_LONG, DESIGN_SHORT = 800, 480
MIN_TOUCH = 48
MIN_BODY = 20

# (nominal, floor) per text role at the design size; floors never go below MIN_BODY.
_ROLE_SIZES: dict[Role, tuple[int, int]] = {
    Role.DISPLAY: (84, 40),
    Role.TITLE: (34, 21),
    Role.BODY: (24, 20),
    Role.SMALL: (20, 20),
}


@dataclass(frozen=True)
class Metrics:
    """Scale and standard sizes for a logical screen of ``width`` by ``height`` pixels."""

    width: int
    height: int

    @property
    def scale(self) -> float:
        long, short = max(self.width, self.height), min(self.width, self.height)
        return min(long / DESIGN_LONG, short / DESIGN_SHORT)

    @property
    def wide(self) -> bool:
        """Room to put two columns side by side (landscape, not square)."""
        return self.width >= self.height * 1.3

    @property
    def rect(self) -> pygame.Rect:
        return pygame.Rect(0, 0, self.width, self.height)

    def px(self, design: float) -> int:
        return max(1, round(design * self.scale))

    @property
    def touch(self) -> int:
        """Height (and minimum width) of a touch target."""
        return max(MIN_TOUCH, self.px(60))

    @property
    def margin(self) -> int:
        return self.px(16)

    @property
    def gap(self) -> int:
        return self.px(10)

    def font_size(self, role: Role) -> int:
        return max(self.floor_size(role), self.px(_ROLE_SIZES[role][0]))

    def floor_size(self, role: Role) -> int:
        return max(MIN_BODY, self.px(_ROLE_SIZES[role][1]))


def split(rect: pygame.Rect, sizes: Sequence[int | float], gap: int, *, vertical: bool) -> list[pygame.Rect]:
    """Cut ``rect`` into consecutive parts along one axis.

    An ``int`` size is a fixed number of pixels; a ``float`` is a share of what the fixed parts
    and gaps leave over (shares are normalised to fill it).
    """
    total = rect.height if vertical else rect.width
    fixed = sum(s for s in sizes if isinstance(s, int)) + gap * (len(sizes) - 1)
    shares = sum(s for s in sizes if isinstance(s, float)) or 1.0
    free = max(0, total - fixed)
    parts: list[pygame.Rect] = []
    pos = rect.top if vertical else rect.left
    for size in sizes:
        length = size if isinstance(size, int) else int(free * size / shares)
        if vertical:
            parts.append(pygame.Rect(rect.left, pos, rect.width, length))
        else:
            parts.append(pygame.Rect(pos, rect.top, length, rect.height))
        pos += length + gap
    return parts


def rows(rect: pygame.Rect, sizes: Sequence[int | float], gap: int) -> list[pygame.Rect]:
    return split(rect, sizes, gap, vertical=True)


def columns(rect: pygame.Rect, sizes: Sequence[int | float], gap: int) -> list[pygame.Rect]:
    return split(rect, sizes, gap, vertical=False)
