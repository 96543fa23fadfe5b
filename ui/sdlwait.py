"""Waiting for SDL events without a poll loop.

pygame-ce's ``pygame.event.wait`` re-implements the wait as a loop that sleeps 1 ms between
looks at the queue, which costs an idle kiosk one to two per cent of a core. SDL's own
``SDL_WaitEventTimeout`` blocks in the video driver instead (X11 and Wayland block in the
kernel and are woken by events pushed from other threads). We call it through ctypes in the
libSDL2 that pygame itself loaded, and fall back to ``pygame.event.wait`` where that library
cannot be found.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from pathlib import Path

import pygame

log = logging.getLogger(__name__)

Waiter = Callable[[int], None]
"""Blocks until an event is queued or ``timeout_ms`` passed (``-1``: no timeout)."""


def _loaded_sdl(maps: Path = Path("/proc/self/maps")) -> str | None:
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        path = line.split()[-1] if line.split() else ""
        if Path(path).name.startswith("libSDL2-2"):
            return path
    return None


def native_waiter() -> Waiter | None:
    """SDL's blocking wait from the loaded libSDL2, or ``None`` where it is not found."""
    path = _loaded_sdl()
    if path is None:
        return None
    try:
        sdl = ctypes.CDLL(path)  # already loaded: the same library and event queue as pygame
        wait = sdl.SDL_WaitEventTimeout
    except (OSError, AttributeError) as exc:
        log.info("SDL_WaitEventTimeout not available (%s); using pygame.event.wait", exc)
        return None
    wait.argtypes = [ctypes.c_void_p, ctypes.c_int]
    wait.restype = ctypes.c_int

    def waiter(timeout_ms: int) -> None:
        wait(None, timeout_ms)  # a NULL event only waits: the event stays queued for pygame

    return waiter


def next_events(waiter: Waiter | None, timeout_ms: int) -> list[pygame.event.Event]:
    """Block until there are events (or ``timeout_ms`` passed; 0: no timeout) and return them."""
    if waiter is None:
        first = pygame.event.wait(timeout_ms) if timeout_ms else pygame.event.wait()
        return [first, *pygame.event.get()]
    waiter(timeout_ms or -1)
    return pygame.event.get()
