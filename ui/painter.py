"""Drawing on the logical screen, with a record of every piece of text and where it went.

Screens draw only through a :class:`Painter`. It fits text to its box (see :mod:`ui.text`) and
keeps a :class:`TextDraw` for each, so tests can check that nothing was clipped, that text is
large enough and that every colour pair has enough contrast, on exactly what was drawn.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import pygame

from ui.fonts import Fonts
from ui.metrics import Metrics
from ui.text import Fitted, fit
from ui.theme import RGB, Style

Align = Literal["left", "center", "right"]


class Icon(enum.Enum):
    """Symbols drawn with the font; a state is shown by shape and word, not colour alone."""

    OK = "✓"
    FAIL = "✗"
    WARN = "⚠"
    WAIT = "…"
    BULLET = "•"


@dataclass(frozen=True)
class TextDraw:
    """One piece of text as drawn: the box it was given and how it came out."""

    text: str
    box: pygame.Rect
    style: Style
    fitted: Fitted
    used: pygame.Rect


Action = Callable[[], object | None]
"""What a tap does: returns an intent for the core, or ``None`` for a change on screen only."""


def sends(intent: object) -> Action:
    """The action that sends one fixed intent (intents are frozen values, safe to make early)."""
    return lambda: intent


@dataclass(frozen=True)
class Target:
    """A touchable area drawn in this frame and what tapping it does."""

    rect: pygame.Rect
    action: Action
    label: str


@dataclass
class Painter:
    """Draws onto ``surface`` (the logical screen) with ``fonts`` at ``metrics``.

    ``pressed`` is where a finger is down right now (a button under it is drawn pressed);
    ``targets`` collects the buttons of this frame, so what can be touched is what was drawn.
    """

    surface: pygame.Surface
    fonts: Fonts
    metrics: Metrics
    pressed: tuple[int, int] | None = None
    draws: list[TextDraw] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def target(self, rect: pygame.Rect, action: Action, label: str) -> None:
        self.targets.append(Target(rect.copy(), action, label))

    def is_pressed(self, rect: pygame.Rect) -> bool:
        return self.pressed is not None and rect.collidepoint(self.pressed)

    def fill(self, colour: RGB, rect: pygame.Rect | None = None, *, radius: int = 0) -> None:
        if rect is None:
            self.surface.fill(colour)
        else:
            pygame.draw.rect(self.surface, colour, rect, border_radius=radius)

    def outline(self, colour: RGB, rect: pygame.Rect, *, width: int = 2, radius: int = 0) -> None:
        pygame.draw.rect(self.surface, colour, rect, width=width, border_radius=radius)

    def blit(self, image: pygame.Surface, rect: pygame.Rect) -> None:
        self.surface.blit(image, image.get_rect(center=rect.center))

    def text(
        self,
        text: str,
        box: pygame.Rect,
        style: Style,
        *,
        align: Align = "center",
        valign: Literal["top", "middle"] = "middle",
        max_lines: int = 99,
        break_words: bool = False,
        url: bool = False,
        ellipsis: bool = False,
        size: int | None = None,
    ) -> pygame.Rect:
        """Fit ``text`` into ``box`` and draw it; returns the rectangle the text covers."""
        fitted = fit(
            self.fonts,
            text,
            box,
            size=size or self.metrics.font_size(style.role),
            floor=self.metrics.floor_size(style.role),
            bold=style.bold,
            mono=style.mono,
            max_lines=max_lines,
            break_words=break_words,
            url=url,
            ellipsis=ellipsis,
        )
        font = self.fonts.get(fitted.size, fitted.bold, mono=fitted.mono)
        top = box.top if valign == "top" else box.top + (box.height - fitted.height) // 2
        used = pygame.Rect(box.left, top, 0, fitted.height)
        for index, line in enumerate(fitted.lines):
            image = font.render(line, True, style.fg)
            line_rect = image.get_rect(top=top + index * fitted.line_height)
            if align == "left":
                line_rect.left = box.left
            elif align == "right":
                line_rect.right = box.right
            else:
                line_rect.centerx = box.centerx
            self.surface.blit(image, line_rect)
            used = used.union(line_rect) if used.width else line_rect.copy()
        self.draws.append(TextDraw(text, box.copy(), style, fitted, used))
        return used

    def icon_text(self, icon: Icon, text: str, box: pygame.Rect, style: Style, icon_style: Style) -> None:
        """An icon (its own colour and shape) followed by a word, left-aligned in ``box``."""
        side = min(box.height, self.metrics.px(36))
        icon_box = pygame.Rect(box.left, box.top, side, box.height)
        self.text(icon.value, icon_box, icon_style)
        rest = pygame.Rect(
            icon_box.right + self.metrics.px(6), box.top, box.right - icon_box.right, box.height
        )
        self.text(text, rest, style, align="left")
