"""The screens between users: ready for a badge, and the problems that keep it from being ready."""

from __future__ import annotations

from typing import ClassVar

import pygame

from station.core.health import Offline, PrinterUnavailable, ReaderMissing, Ready
from station.core.view import Health, StationInfo
from ui import theme
from ui.i18n import Translator
from ui.metrics import rows
from ui.painter import Icon, Painter
from ui.screens.base import Now, Screen, clock_text, left, message, network_health, status_bar
from ui.screens.causes import cause_text, technical_text


def _frame(p: Painter, info: StationInfo, tr: Translator, network: Health) -> tuple[pygame.Rect, pygame.Rect]:
    """Printer name and location on top, the status bar at the bottom; returns (top, middle)."""
    m = p.metrics
    inner = m.rect.inflate(-2 * m.margin, -2 * m.margin)
    top, middle, bottom = rows(inner, [m.px(84), 1.0, m.px(40) if m.width >= m.px(640) else m.px(84)], m.gap)
    name = info.printer_name or info.station_name
    name_rect, where_rect = rows(top, [0.6, 0.4], 0)
    p.text(name, name_rect, theme.TITLE, align="left", ellipsis=True, max_lines=1)
    p.text(info.printer_location, where_rect, theme.HINT, align="left", ellipsis=True, max_lines=1)
    status_bar(p, bottom, tr, info, network)
    return top, middle


def _notice(
    p: Painter, rect: pygame.Rect, sign: tuple[Icon, theme.Style], headline: str, body: list[str]
) -> None:
    """A large icon and headline, then plain-word explanations below."""
    m, (icon, icon_style) = p.metrics, sign
    head, rest = rows(rect, [m.px(72), 1.0], m.gap)
    icon_box = pygame.Rect(head.left, head.top, m.px(72), head.height)
    p.text(
        icon.value,
        icon_box,
        theme.Style(theme.Role.TITLE, icon_style.fg, icon_style.bg, bold=True),
        size=m.px(56),
    )
    text_box = pygame.Rect(icon_box.right + m.gap, head.top, head.right - icon_box.right - m.gap, head.height)
    p.text(headline, text_box, theme.TITLE, align="left", max_lines=2)
    message(p, rest, [(line, theme.BODY if i == 0 else theme.HINT) for i, line in enumerate(body)])


class ReadyScreen(Screen[Ready]):
    draws = Ready

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        info = self.info
        _, middle = _frame(p, info, tr, network_health(info))
        if self.mode.just_paired:
            headline = tr._("Paired. Tap a badge to test.")
            hint = tr._("This station now releases jobs to {printer}.").format(
                printer=info.printer_name or "—"
            )
        else:
            headline = tr._("Tap your badge")
            hint = tr._("Hold your badge against the reader to print your jobs.")
        big, small = rows(middle, [0.6, 0.4], p.metrics.gap)
        p.text(
            headline,
            big,
            theme.Style(theme.Role.DISPLAY, theme.TEXT, theme.BACKGROUND, bold=True),
            max_lines=2,
        )
        p.text(hint, small, theme.HINT)


class OfflineScreen(Screen[Offline]):
    draws = Offline

    countdown: ClassVar[str | None] = "retry_at"

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode = self.mode
        network: Health = "down" if mode.reason == "network" else "ok"
        _, middle = _frame(p, self.info, tr, network)
        if mode.reason == "network":
            headline = tr._("No network connection")
            what = tr._("Check that the network cable is plugged in or that Wi-Fi is working.")
        else:
            headline = tr._("ezeep is not answering")
            what = tr._("The print service has a problem. Nothing to do here; it usually passes.")
        retry = left(mode.retry_at, now)
        body = [
            what,
            tr._("Your jobs are safe. The station tries again by itself."),
            tr._("Next try in {time}.").format(time=clock_text(retry)) if retry else "",
            cause_text(mode.cause, tr) if mode.cause is not None else "",
        ]
        _notice(p, middle, (Icon.WARN, theme.WARN_BODY), headline, [b for b in body if b])


class PrinterUnavailableScreen(Screen[PrinterUnavailable]):
    draws = PrinterUnavailable

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        _, middle = _frame(p, self.info, tr, network_health(self.info))
        body = [
            tr._("Check that the printer is switched on and connected."),
            tr._("Your jobs stay in the queue until it is back."),
            tr._("ezeep reports: {status}").format(status=self.mode.status) if self.mode.status else "",
        ]
        _notice(
            p,
            middle,
            (Icon.WARN, theme.WARN_BODY),
            tr._("The printer is not available"),
            [b for b in body if b],
        )


class ReaderMissingScreen(Screen[ReaderMissing]):
    draws = ReaderMissing

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode = self.mode
        _, middle = _frame(p, self.info, tr, network_health(self.info))
        body = [
            tr._("Check that the badge reader is plugged in. The station finds it again by itself."),
            tr._("If this stays, tell your administrator."),
            mode.reader_name,
            technical_text(mode.detail, tr),
        ]
        _notice(
            p,
            middle,
            (Icon.FAIL, theme.BAD_BODY),
            tr._("The badge reader is not working"),
            [b for b in body if b],
        )
