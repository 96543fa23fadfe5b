"""What every screen shares: the :class:`Screen` base, the clock it draws with, and page parts.

A screen draws one mode class (a core mode, or an idle face) and the station's
:class:`~station.core.view.StationInfo`. It is made when a view whose mode is of its class
arrives and updated in place while such views follow (so a scrolled list stays where the finger
left it); anything it keeps besides the mode and the info is about the screen only (scroll
offset, digits typed).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

import pygame

from station.core.view import Health, StationInfo
from ui import theme
from ui.i18n import Translator, translator
from ui.metrics import columns, rows
from ui.painter import Icon, Painter
from ui.qr import qr_surface
from ui.widgets import ScrollList

M = TypeVar("M")


@dataclass(frozen=True)
class Now:
    """The moment a frame is drawn: monotonic time for deadlines, wall time for job ages."""

    mono: float
    wall: datetime


def left(deadline: float | None, now: Now) -> int:
    """Whole seconds until ``deadline`` (rounded up, never negative)."""
    if deadline is None:
        return 0
    return max(0, int(-(-(deadline - now.mono) // 1)))


def clock_text(seconds: int) -> str:
    """``4:05`` for 245 seconds."""
    return f"{seconds // 60}:{seconds % 60:02d}"


class Screen(abc.ABC, Generic[M]):
    """Draws one kind of mode (``self.mode``) with the station's facts (``self.info``);
    subclasses implement :meth:`paint`.

    ``draws`` is the mode (or idle face) class the screen draws: :data:`ui.screens.SCREENS` is
    built from it, so a new screen registers itself. ``countdown`` names the mode's deadline
    attribute when the screen shows time running out: the loop then redraws it once a second
    (and at no other time).
    """

    draws: ClassVar[type | None] = None
    countdown: ClassVar[str | None] = None

    def __init__(self, mode: M, info: StationInfo) -> None:
        self.mode = mode
        self.info = info

    def update(self, mode: M, info: StationInfo) -> None:
        """A newer view with a mode of the same class arrived."""
        self.mode = mode
        self.info = info

    @property
    def tr(self) -> Translator:
        return translator(self.info.language)

    def draw(self, p: Painter, now: Now) -> None:
        p.fill(theme.BACKGROUND)
        self.paint(p, self.tr, now)

    @abc.abstractmethod
    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        """Draw the mode; register touch targets with ``p``."""

    def next_redraw(self, now: float) -> float | None:
        """Monotonic time this screen needs drawing again without a new view, if any."""
        if self.countdown is None:
            return None
        deadline: float | None = getattr(self.mode, self.countdown)
        if deadline is None or deadline <= now:
            return None
        return now + ((deadline - now) % 1.0 or 1.0)

    def scroll_lists(self) -> list[ScrollList]:
        """The lists a finger can drag on this screen."""
        return []


class ListScreen(Screen[M]):
    """A screen with one drag-scrolled list; its scroll position survives updates of the mode."""

    def __init__(self, mode: M, info: StationInfo) -> None:
        super().__init__(mode, info)
        self.list = ScrollList()

    def scroll_lists(self) -> list[ScrollList]:
        return [self.list]


# --- page parts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """The usual page: a title bar, a body, and a footer row for buttons."""

    title: pygame.Rect
    body: pygame.Rect
    footer: pygame.Rect


def page(
    p: Painter, title: str, *, aside: str = "", aside_style: theme.Style = theme.HINT, footer: bool = True
) -> Page:
    """Draw the title (and ``aside``, e.g. a countdown, on its right); return the page areas."""
    m = p.metrics
    inner = m.rect.inflate(-2 * m.margin, -2 * m.margin)
    sizes: list[int | float] = [m.px(56), 1.0]
    if footer:
        sizes.append(m.touch)
    parts = rows(inner, sizes, m.gap)
    title_rect = parts[0]
    if aside:
        title_rect, aside_rect = columns(parts[0], [0.68, 0.32], m.gap)
        p.text(aside, aside_rect, aside_style, align="right", max_lines=2)
    p.text(title, title_rect, theme.TITLE, align="left", max_lines=2)
    return Page(
        title_rect, parts[1], parts[2] if footer else pygame.Rect(inner.left, inner.bottom, inner.width, 0)
    )


def message(p: Painter, rect: pygame.Rect, lines: list[tuple[str, theme.Style]]) -> None:
    """Paragraphs stacked in ``rect``, each given an equal share of the height."""
    lines = [(text, style) for text, style in lines if text]
    if not lines:
        return
    for part, (text, style) in zip(
        rows(rect, [1 / len(lines)] * len(lines), p.metrics.gap), lines, strict=True
    ):
        p.text(text, part, style, align="left")


HEALTH_ICON: dict[Health, tuple[Icon, theme.Style]] = {
    "ok": (Icon.OK, theme.GOOD_SMALL),
    "down": (Icon.FAIL, theme.BAD_SMALL),
    "unknown": (Icon.WAIT, theme.SMALL),
}


def status_bar(p: Painter, rect: pygame.Rect, tr: Translator, info: StationInfo, network: Health) -> None:
    """Network, cloud, reader and printer, each an icon (shape, not only colour) and a word."""
    items: list[tuple[str, Health]] = [
        (tr._("Network"), network),
        (tr._("Cloud"), info.cloud),
        (tr._("Reader"), info.reader),
        (tr._("Printer"), info.printer),
    ]
    count = len(items)
    if p.metrics.width < p.metrics.px(640):
        cells = [
            c for r in rows(rect, [0.5, 0.5], p.metrics.px(4)) for c in columns(r, [0.5, 0.5], p.metrics.gap)
        ]
    else:
        cells = columns(rect, [1 / count] * count, p.metrics.gap)
    for cell, (label, health) in zip(cells, items, strict=True):
        icon, icon_style = HEALTH_ICON[health]
        p.icon_text(icon, label, cell, theme.SMALL, icon_style)


def network_health(info: StationInfo) -> Health:
    """Without its own probe the network counts as working whenever ezeep answered."""
    return "ok" if info.cloud == "ok" else "unknown"


@dataclass(frozen=True)
class SignIn:
    """What a person needs to approve a code on another device: two steps, the address, the code."""

    first: str
    address: str
    second: str
    code: str


def sign_in_beside_qr(
    p: Painter, rect: pygame.Rect, sign_in: SignIn, qr_text: str, *, code_share: float
) -> None:
    """:func:`sign_in_steps` and the QR code of ``qr_text`` beside them (below on a narrow screen)."""
    m = p.metrics
    if m.wide:
        text_area, qr_area = columns(rect, [0.62, 0.38], m.gap * 2)
    else:
        text_area, qr_area = rows(rect, [0.6, 0.4], m.gap)
    sign_in_steps(p, text_area, sign_in, code_share=code_share)
    p.blit(qr_surface(qr_text, min(qr_area.width, qr_area.height)), qr_area)


def sign_in_steps(p: Painter, rect: pygame.Rect, sign_in: SignIn, *, code_share: float) -> None:
    """Step one, the address, step two and the code, top to bottom in ``rect``; the code gets
    ``code_share`` of the height.

    The address breaks only after ``/``, ``?`` or ``&`` (else it shrinks); one too long even so is
    cut with an ellipsis rather than spill onto the next step: the QR code beside it carries it
    whole.
    """
    unit = (1.0 - code_share) / 7
    one, address, two, code = rows(rect, [2 * unit, 3 * unit, 2 * unit, code_share], p.metrics.px(4))
    p.text(sign_in.first, one, theme.BODY, align="left")
    p.text(sign_in.address, address, theme.BODY, align="left", url=True, max_lines=3, ellipsis=True)
    p.text(sign_in.second, two, theme.BODY, align="left")
    p.text(sign_in.code, code, theme.CODE)
