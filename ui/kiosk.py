"""The kiosk: the station's window and its UI loop, which sleeps in the kernel until a view, a
touch or a deadline arrives.

The core calls :meth:`StationUi.post_view` from its own thread; that posts a pygame user event
carrying the view (SDL's event queue is thread-safe) and wakes the display's wait (see
:mod:`ui.sdlwait`: SDL's own under X11, a wait on a wake-up descriptor and the touch devices
under KMSDRM and the dummy driver), which blocks instead of polling. The loop draws only
when something changed: a new view, a touch, a countdown's next second, dimming. With nothing
of that pending it blocks without a timeout, so an idle station uses no CPU here.

Touches become intents for the core (``submit``); a long press on the top-left corner opens
the technician menu; after ``dim_after_s`` without a touch or a new screen the picture dims,
and the first touch only wakes it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pygame

from station.core import intents
from station.core.view import View
from ui import theme
from ui.display import Display
from ui.fonts import Fonts
from ui.frame import draw_frame
from ui.i18n import N_, translator
from ui.metrics import Metrics
from ui.painter import Painter, Target, TextDraw
from ui.screens import Now, Screen, screen_for
from ui.widgets import ScrollList

log = logging.getLogger(__name__)

VIEW_EVENT = pygame.event.custom_type()
LONG_PRESS_S = 3.0
DEMO_HINT = N_("Demo: keys 1 to 5 tap a known badge, 0 an unknown one")


@dataclass
class _Press:
    """A finger (or the mouse button) that is down."""

    start: tuple[int, int]
    pos: tuple[int, int]
    finger: int | None
    corner_at: float | None
    drag: ScrollList | None = None
    dragging: bool = False
    swallowed: bool = False


class StationUi:
    """Runs the screen on the main thread.

    :param display: where frames go.
    :param submit: hands an intent to the core; must not block.
    :param dim_after_s: seconds without a touch or a new screen before dimming; 0 never dims.
    :param clock: monotonic clock (deadlines in views use it).
    :param wall: wall clock, for the age of jobs.
    :param on_key: gets the text of each key pressed (the demo taps badges with keys).
    :param hint: a message (translated like the screens) drawn at the bottom of every frame;
        the demo explains its keys with :data:`DEMO_HINT`.
    :param on_frame: called with the view after every frame is on screen (tests, benchmark).
    :param heartbeat: ``(seconds, callback)`` called at least that often while running (the
        systemd watchdog); the only reason an idle loop wakes.
    """

    def __init__(
        self,
        *,
        display: Display,
        submit: Callable[[Any], None],
        dim_after_s: float = 0,
        fonts: Fonts | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_key: Callable[[str], None] | None = None,
        hint: str = "",
        on_frame: Callable[[View], None] | None = None,
        heartbeat: tuple[float, Callable[[], None]] | None = None,
    ) -> None:
        self.display = display
        self._submit = submit
        self._dim_after_s = dim_after_s
        self._fonts = fonts or Fonts()
        self._clock = clock
        self._wall = wall
        self._on_key = on_key
        self._hint = hint
        self._on_frame = on_frame
        self._heartbeat = heartbeat
        self._next_beat = 0.0
        self.screen: Screen[Any] | None = None
        self.view: View | None = None
        self.targets: list[Target] = []
        self.draws: list[TextDraw] = []  # the text of the last frame and where it went
        self._press: _Press | None = None
        self._last_activity = clock()
        self.dimmed = False
        self._dirty = True
        self._due: float | None = None  # when the screen's countdown needs the next frame
        self.frames = 0

    # --- called from other threads ------------------------------------------------------------

    def post_view(self, view: View) -> None:
        """Show ``view``; safe from any thread, never blocks (the core's subscriber)."""
        pygame.event.post(pygame.event.Event(VIEW_EVENT, view=view))
        self.display.events.wake()

    def quit(self) -> None:
        """Ask the loop to return; safe from any thread."""
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        self.display.events.wake()

    # --- the loop -----------------------------------------------------------------------------

    def run(self, *, until: Callable[[], bool] = lambda: False) -> None:
        """Handle events until a quit event (window closed, SIGTERM via SDL) or ``until()``."""
        if self._heartbeat:
            self._beat(self._clock())
        while True:
            self.refresh()
            if until():  # also when the frame just drawn made it true: no event may follow
                return
            for event in self.display.events.next_events(self._timeout(self._clock())):
                if event.type == pygame.QUIT:
                    return
                self.handle(event)

    def refresh(self) -> None:
        """Act on passed deadlines and draw a frame if anything changed."""
        now = self._clock()
        self._tick(now)
        if self._dirty and self.screen is not None:
            self._draw(now)

    def _timeout(self, now: float) -> int:
        """Milliseconds to the next deadline, 0 for none (wait for an event)."""
        deadlines = []
        if self.screen is not None and not self.dimmed:
            deadlines.append(self.screen.next_redraw(now))
        if self._dim_after_s and not self.dimmed:
            deadlines.append(self._last_activity + self._dim_after_s)
        if self._press is not None:
            deadlines.append(self._press.corner_at)
        if self._heartbeat:
            deadlines.append(self._next_beat)
        soonest = min((d for d in deadlines if d is not None), default=None)
        if soonest is None:
            return 0
        return max(1, math.ceil((soonest - now) * 1000))

    def _tick(self, now: float) -> None:
        """Act on deadlines that passed."""
        if self._heartbeat and now >= self._next_beat:
            self._beat(now)
        if self._dim_after_s and not self.dimmed and now - self._last_activity >= self._dim_after_s:
            self.dimmed, self._dirty = True, True
        if not self.dimmed and self._due is not None and now >= self._due:
            self._dirty = True
        press = self._press
        if press is not None and press.corner_at is not None and now >= press.corner_at:
            press.corner_at, press.swallowed = None, True
            self._send(intents.OpenTechnician())

    def _beat(self, now: float) -> None:
        assert self._heartbeat is not None
        interval, callback = self._heartbeat
        callback()
        self._next_beat = now + interval

    def _draw(self, now: float) -> None:
        assert self.screen is not None
        surface = self.display.logical
        hint_box = self._hint_box()
        # The screen is laid out above the hint, so the hint never covers a button.
        area = surface.subsurface((0, 0, surface.get_width(), hint_box.top)) if hint_box else surface
        pressed = (
            self._press.pos
            if self._press and not self._press.swallowed and not self._press.dragging
            else None
        )
        try:
            painter = draw_frame(self.screen, area, self._fonts, Now(now, self._wall()), pressed)
        except Exception:  # a drawing bug must not take the kiosk down: log it, keep running
            log.exception("drawing %s failed", type(self.screen.mode).__name__)
            area.fill(theme.BACKGROUND)
            painter = Painter(area, self._fonts, Metrics(*area.get_size()))
        if hint_box:
            self._draw_hint(surface, hint_box)
        self.targets, self.draws = painter.targets, painter.draws
        if self.dimmed:
            shade = pygame.Surface(surface.get_size(), pygame.SRCALPHA)
            shade.fill((0, 0, 0, theme.DIM_ALPHA))
            surface.blit(shade, (0, 0))
        self.display.present()
        self._dirty = False
        self._due = self.screen.next_redraw(now)
        self.frames += 1
        if self._on_frame is not None:
            assert self.view is not None  # a screen is made only for a view
            self._on_frame(self.view)

    def _hint_box(self) -> pygame.Rect | None:
        """Where the hint goes: a strip along the bottom; None without a hint."""
        if not self._hint:
            return None
        m = Metrics(*self.display.size)
        return pygame.Rect(0, m.height - m.px(28), m.width, m.px(28))

    def _draw_hint(self, surface: pygame.Surface, box: pygame.Rect) -> None:
        assert self.screen is not None
        p = Painter(surface, self._fonts, Metrics(*surface.get_size()))
        p.fill(theme.PANEL, box)
        hint = translator(self.screen.info.language)._(self._hint)
        p.text(hint, box, theme.PANEL_SMALL, size=p.metrics.floor_size(theme.Role.SMALL))

    # --- events -------------------------------------------------------------------------------

    def handle(self, event: pygame.event.Event) -> None:
        """Act on one event (public so tests can feed events without the wait)."""
        kind = event.type
        if kind == VIEW_EVENT:
            self.show(event.view)
        elif kind == pygame.MOUSEBUTTONDOWN and event.button == 1 and not getattr(event, "touch", False):
            self._down(self.display.point(event.pos), None)
        elif kind == pygame.MOUSEMOTION and event.buttons[0] and not getattr(event, "touch", False):
            self._move(self.display.point(event.pos), None)
        elif kind == pygame.MOUSEBUTTONUP and event.button == 1 and not getattr(event, "touch", False):
            self._up(self.display.point(event.pos), None)
        elif kind == pygame.FINGERDOWN:
            self._down(self.display.finger(event.x, event.y), event.finger_id)
        elif kind == pygame.FINGERMOTION:
            self._move(self.display.finger(event.x, event.y), event.finger_id)
        elif kind == pygame.FINGERUP:
            self._up(self.display.finger(event.x, event.y), event.finger_id)
        elif kind == pygame.KEYDOWN and self._on_key is not None and event.unicode:
            self._on_key(event.unicode)
        elif kind in (pygame.WINDOWEXPOSED, pygame.WINDOWRESTORED, pygame.VIDEOEXPOSE):
            self._dirty = True

    def show(self, view: View) -> None:
        """Make ``view`` current: update the screen in place, or make the screen for its mode's class."""
        self.view = view
        if self.screen is not None and type(self.screen.mode) is type(view.mode):
            self.screen.update(view.mode, view.info)
        else:
            self.screen = screen_for(view)
            self._press = None
            self._wake()
        self._dirty = True

    def _wake(self) -> None:
        self._last_activity = self._clock()
        if self.dimmed:
            self.dimmed = False
        self._dirty = True

    def _down(self, pos: tuple[int, int], finger: int | None) -> None:
        if self._press is not None:
            return  # a second finger: ignore it
        swallowed = self.dimmed  # the touch that wakes the screen does nothing else
        self._wake()
        corner = pygame.Rect(0, 0, *(2 * [Metrics(*self.display.size).touch]))
        corner_at = self._clock() + LONG_PRESS_S if corner.collidepoint(pos) and not swallowed else None
        lists = self.screen.scroll_lists() if self.screen is not None else []
        drag = next((lst for lst in lists if lst.begin_drag(pos)), None)
        self._press = _Press(pos, pos, finger, corner_at, drag, swallowed=swallowed)

    def _move(self, pos: tuple[int, int], finger: int | None) -> None:
        press = self._press
        if press is None or press.finger != finger:
            return
        press.pos = pos
        slop = Metrics(*self.display.size).px(12)
        if abs(pos[0] - press.start[0]) > slop or abs(pos[1] - press.start[1]) > slop:
            press.corner_at = None
            if press.drag is not None and not press.swallowed:
                press.dragging = True
        if press.dragging and press.drag is not None:
            press.drag.drag(pos)
        self._dirty = True

    def _up(self, pos: tuple[int, int], finger: int | None) -> None:
        press = self._press
        if press is None or press.finger != finger:
            return
        self._press = None
        self._dirty = True
        if press.drag is not None:
            press.drag.end_drag()
        if press.swallowed:
            return
        if press.dragging:
            self._send(intents.Touched())
            return
        target = next((t for t in reversed(self.targets) if t.rect.collidepoint(press.start)), None)
        if target is None or not target.rect.collidepoint(pos):
            return
        intent = target.action()
        self._send(intent if intent is not None else intents.Touched())

    def _send(self, intent: object) -> None:
        try:
            self._submit(intent)
        except Exception:  # the core going away must not crash the screen
            log.exception("submitting %s failed", type(intent).__name__)
