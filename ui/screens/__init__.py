"""The screens, one class per mode (or idle face) it draws: :data:`SCREENS` maps each mode class
to its screen, built from the screens' own ``draws``, so a new screen registers itself."""

from __future__ import annotations

from typing import Any

from station.core.view import View
from ui.screens import enrol, idle, pairing, session, technician  # noqa: F401  # define the screens
from ui.screens.base import Now, Screen


def _drawn_by(screens: list[type[Screen[Any]]]) -> dict[type, type[Screen[Any]]]:
    """``screens`` and their subclasses that draw a mode class, by that class; two for one is a bug."""
    table: dict[type, type[Screen[Any]]] = {}
    for screen in screens:
        found = _drawn_by(screen.__subclasses__())
        if screen.draws is not None:
            found = {screen.draws: screen, **found}
        twice = table.keys() & found.keys()
        if twice:
            raise TypeError(f"two screens draw {', '.join(sorted(kind.__name__ for kind in twice))}")
        table.update(found)
    return table


SCREENS: dict[type, type[Screen[Any]]] = _drawn_by(Screen.__subclasses__())


def screen_for(view: View) -> Screen[Any]:
    """A new screen for ``view``: the one its mode's class draws with."""
    return SCREENS[type(view.mode)](view.mode, view.info)


__all__ = ["SCREENS", "Now", "Screen", "screen_for"]
