"""Touch widgets: buttons, a drag-scrolled list, a PIN keypad and an on-screen keyboard.

Widgets draw through a :class:`~ui.painter.Painter` and register their touch targets with it
in the same pass, so hit-testing always matches the picture. Widget state that only the screen
cares about (scroll offset, digits typed so far) lives in the widget; everything else comes
from the view.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pygame

from ui import theme
from ui.metrics import columns, rows
from ui.painter import Action, Painter
from ui.theme import Style


class Kind(enum.Enum):
    NORMAL = "normal"
    PRIMARY = "primary"
    DANGER = "danger"


_STYLES: dict[Kind, tuple[Style, Style]] = {
    Kind.NORMAL: (theme.BUTTON, theme.BUTTON_PRESSED),
    Kind.PRIMARY: (theme.PRIMARY_BUTTON, theme.PRIMARY_BUTTON_PRESSED),
    Kind.DANGER: (theme.DANGER_BUTTON, theme.DANGER_BUTTON_PRESSED),
}
DISABLED = Style(theme.Role.BODY, theme.MUTED, theme.PANEL)


def button(
    p: Painter,
    rect: pygame.Rect,
    label: str,
    action: Action,
    *,
    kind: Kind = Kind.NORMAL,
    enabled: bool = True,
    data: bool = False,
) -> None:
    """A button at least one touch target high; disabled buttons are drawn but not touchable.

    A ``data`` label (a person's name and email) is cut with an ellipsis when it is too long.
    """
    rect = rect.copy()
    rect.height = max(rect.height, p.metrics.touch)
    normal, pressed = _STYLES[kind]
    style = (pressed if p.is_pressed(rect) else normal) if enabled else DISABLED
    radius = p.metrics.px(8)
    p.fill(style.bg, rect, radius=radius)
    if not enabled:
        p.outline(theme.MUTED, rect, width=1, radius=radius)
    pad = p.metrics.px(8)
    p.text(label, rect.inflate(-2 * pad, -p.metrics.px(4)), style, max_lines=2, ellipsis=data)
    if enabled:
        p.target(rect, action, label)


def button_row(p: Painter, rect: pygame.Rect, buttons: list[tuple[str, Action, Kind, bool]]) -> None:
    """Buttons side by side, sharing ``rect`` equally."""
    if not buttons:
        return
    cells = columns(rect, [1 / len(buttons)] * len(buttons), p.metrics.gap)
    for cell, (label, action, kind, enabled) in zip(cells, buttons, strict=True):
        button(p, cell, label, action, kind=kind, enabled=enabled)


@dataclass
class ScrollList:
    """A vertical list of equal rows that a finger drags to scroll.

    ``offset`` is how many pixels the content is scrolled up. The list clamps it to its content,
    so a shorter or longer list (after a delete) never leaves a gap.
    """

    offset: int = 0
    rect: pygame.Rect | None = None
    content_height: int = 0
    _drag_from: tuple[int, int] | None = None

    def layout(self, rect: pygame.Rect, row_height: int, count: int) -> None:
        self.rect = rect.copy()
        self.content_height = row_height * count
        self.offset = max(0, min(self.offset, self.content_height - rect.height))

    def rows(self, row_height: int, count: int) -> Iterator[tuple[int, pygame.Rect]]:
        """The visible rows: their index and on-screen rectangle (may reach past the list)."""
        assert self.rect is not None
        first = self.offset // row_height
        for index in range(first, count):
            top = self.rect.top + index * row_height - self.offset
            if top >= self.rect.bottom:
                break
            yield index, pygame.Rect(self.rect.left, top, self.rect.width, row_height)

    def begin_drag(self, pos: tuple[int, int]) -> bool:
        if self.rect is None or not self.rect.collidepoint(pos):
            return False
        self._drag_from = (pos[1], self.offset)
        return True

    def drag(self, pos: tuple[int, int]) -> None:
        if self._drag_from is None or self.rect is None:
            return
        start_y, start_offset = self._drag_from
        limit = max(0, self.content_height - self.rect.height)
        self.offset = max(0, min(limit, start_offset + start_y - pos[1]))

    def end_drag(self) -> None:
        self._drag_from = None

    def draw_scrollbar(self, p: Painter) -> None:
        """A bar on the right edge when the list is longer than its box."""
        if self.rect is None or self.content_height <= self.rect.height:
            return
        width = p.metrics.px(6)
        track = pygame.Rect(self.rect.right - width, self.rect.top, width, self.rect.height)
        p.fill(theme.PANEL, track, radius=width // 2)
        length = max(p.metrics.px(30), track.height * self.rect.height // self.content_height)
        travel = track.height - length
        top = track.top + travel * self.offset // max(1, self.content_height - self.rect.height)
        p.fill(theme.MUTED, pygame.Rect(track.left, top, width, length), radius=width // 2)

    def clip(self, p: Painter) -> _Clip:
        assert self.rect is not None
        return _Clip(p.surface, self.rect)


class _Clip:
    """Restricts drawing to a list's box while its rows are drawn (rows scroll under the edge)."""

    def __init__(self, surface: pygame.Surface, rect: pygame.Rect) -> None:
        self._surface, self._rect = surface, rect
        self._old: pygame.Rect | None = None

    def __enter__(self) -> None:
        self._old = self._surface.get_clip()
        self._surface.set_clip(self._rect)

    def __exit__(self, *exc: object) -> None:
        self._surface.set_clip(self._old)


@dataclass
class Entry:
    """Characters typed on a keypad or keyboard, before they are sent to the core."""

    text: str = ""
    max_length: int = 64

    def add(self, chars: str) -> None:
        if len(self.text) + len(chars) <= self.max_length:
            self.text += chars

    def back(self) -> None:
        self.text = self.text[:-1]

    def clear(self) -> None:
        self.text = ""


def keypad(
    p: Painter,
    rect: pygame.Rect,
    entry: Entry,
    *,
    ok_label: str,
    on_ok: Callable[[str], object | None],
    enabled: bool = True,
) -> None:
    """A 3 by 4 digit keypad: 1 to 9, delete, 0, OK. OK hands the digits to ``on_ok`` and clears them."""

    def digit(d: str) -> Action:
        return lambda: entry.add(d)

    def ok() -> object | None:
        text = entry.text
        entry.clear()
        return on_ok(text)

    keys: list[tuple[str, Action, Kind]] = [(d, digit(d), Kind.NORMAL) for d in "123456789"]
    keys += [("⌫", entry.back, Kind.NORMAL), ("0", digit("0"), Kind.NORMAL), (ok_label, ok, Kind.PRIMARY)]
    grid = rows(rect, [0.25] * 4, p.metrics.gap)
    for r, row_rect in enumerate(grid):
        cells = columns(row_rect, [1 / 3] * 3, p.metrics.gap)
        for c, cell in enumerate(cells):
            label, action, kind = keys[r * 3 + c]
            button(p, cell, label, action, kind=kind, enabled=enabled)


KEYBOARD_ROWS: dict[str, tuple[str, ...]] = {
    "en": ("1234567890", "qwertyuiop", "asdfghjkl@", "zxcvbnm.-_"),
    "de": ("1234567890ß", "qwertzuiopü", "asdfghjklöä", "yxcvbnm@.-_"),
}


@dataclass
class Keyboard:
    """An on-screen keyboard (QWERTY, or QWERTZ with umlauts in German) typing into an entry."""

    entry: Entry
    shift: bool = False

    def draw(
        self,
        p: Painter,
        rect: pygame.Rect,
        language: str,
        *,
        done_label: str,
        on_done: Callable[[str], object | None],
    ) -> None:
        layout = KEYBOARD_ROWS.get(language, KEYBOARD_ROWS["en"])
        grid = rows(rect, [1 / (len(layout) + 1)] * (len(layout) + 1), p.metrics.px(6))
        for row_rect, keys in zip(grid, layout, strict=False):
            cells = columns(row_rect, [1 / len(keys)] * len(keys), p.metrics.px(6))
            for cell, key in zip(cells, keys, strict=True):
                char = key.upper() if self.shift else key
                button(p, cell, char, self._typer(char))
        last = columns(grid[-1], [0.2, 0.4, 0.15, 0.25], p.metrics.px(6))
        button(p, last[0], "⇧", self._toggle_shift, kind=Kind.PRIMARY if self.shift else Kind.NORMAL)
        button(p, last[1], "␣", self._typer(" "))
        button(p, last[2], "⌫", self.entry.back)
        button(p, last[3], done_label, lambda: on_done(self.entry.text), kind=Kind.PRIMARY)

    def _typer(self, char: str) -> Action:
        def type_char() -> None:
            self.entry.add(char)
            self.shift = False

        return type_char

    def _toggle_shift(self) -> None:
        self.shift = not self.shift
