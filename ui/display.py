"""The physical screen: an SDL window (full screen on the kiosk), rotation, touch mapping, and
the wait for its events (:mod:`ui.sdlwait`, chosen for the video driver SDL picked).

Screens draw on a *logical* surface in the orientation people see. With ``rotation`` set (the
panel is mounted turned by that many degrees clockwise) each frame is turned onto the panel,
and touches, which arrive in panel coordinates, are turned back.
"""

from __future__ import annotations

import os

import pygame

from ui.sdlwait import DeviceList, EventWait, event_wait

ROTATIONS = (0, 90, 180, 270)


def parse_resolution(text: str) -> tuple[int, int] | None:
    """``(width, height)`` for ``"800x480"``, ``None`` for ``"auto"`` (the display's own size)."""
    if text == "auto":
        return None
    width, _, height = text.partition("x")
    return int(width), int(height)


def to_logical(pos: tuple[int, int], panel: tuple[int, int], rotation: int) -> tuple[int, int]:
    """Map a point on the panel to the logical (drawn) picture turned by ``rotation``."""
    x, y = pos
    width, height = panel
    if rotation == 90:
        return y, width - 1 - x
    if rotation == 180:
        return width - 1 - x, height - 1 - y
    if rotation == 270:
        return height - 1 - y, x
    return x, y


class Display:
    """Opens the window and presents logical frames on it.

    :param resolution: ``"auto"`` or ``"WIDTHxHEIGHT"`` of the panel.
    :param rotation: 0, 90, 180 or 270 degrees clockwise.
    :param fullscreen: full screen without a mouse pointer (kiosk) or a window (demo).
    :param input_devices: the evdev devices whose events end a wait for events (see
        :func:`ui.sdlwait.event_wait`); ``None``: those SDL reads itself.
    """

    def __init__(
        self,
        *,
        resolution: str = "auto",
        rotation: int = 0,
        fullscreen: bool = True,
        title: str = "",
        input_devices: DeviceList | None = None,
    ) -> None:
        if rotation not in ROTATIONS:
            raise ValueError(f"rotation must be one of {ROTATIONS}, not {rotation}")
        pygame.display.init()
        driver = pygame.display.get_driver()
        if driver == "x11":
            # SDL's default draws the window through an OpenGL renderer: it loads Mesa (+90 MB)
            # and adds a GPU round trip per frame. A plain X11 framebuffer is enough for us.
            os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "0")
        elif driver == "KMSDRM":
            # KMSDRM has no software framebuffer: the window is drawn through a renderer, and
            # SDL's default one (desktop OpenGL) left the screen black on the booted image
            # (Mesa on QEMU's virtio GPU: image-build/run_qemu.py reads the frame back). OpenGL
            # ES 2 shows it, and is the Pi GPU's own API.
            os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "opengles2")
        size = parse_resolution(resolution) or (0, 0)
        self.window = pygame.display.set_mode(size, pygame.FULLSCREEN if fullscreen else 0)
        pygame.display.set_caption(title or "release-station")
        if fullscreen:
            pygame.mouse.set_visible(False)
        self.rotation = rotation
        width, height = self.window.get_size()
        self.panel = (width, height)
        if rotation:
            self.logical = pygame.Surface((height, width) if rotation in (90, 270) else (width, height))
        else:
            self.logical = self.window
        self.events: EventWait = event_wait(pygame.display.get_driver(), devices=input_devices)

    @property
    def size(self) -> tuple[int, int]:
        """The logical size screens are laid out for."""
        return self.logical.get_size()

    def present(self) -> None:
        if self.rotation:
            self.window.blit(pygame.transform.rotate(self.logical, -self.rotation), (0, 0))
        pygame.display.flip()

    def point(self, pos: tuple[int, int]) -> tuple[int, int]:
        """A mouse position on the panel, in logical coordinates."""
        return to_logical(pos, self.panel, self.rotation)

    def finger(self, x: float, y: float) -> tuple[int, int]:
        """A touch (SDL gives 0..1 across the panel), in logical coordinates."""
        width, height = self.panel
        return self.point((min(width - 1, int(x * width)), min(height - 1, int(y * height))))

    def close(self) -> None:
        self.events.close()
        pygame.display.quit()
