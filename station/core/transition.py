"""What every transition returns, how states register their transitions, and the one thing every
mode change must do.

Each state module registers its transitions in a table, ``ROUTES``: per mode type, the
transition for each kind of event (a tap, its deadline, a result of work, an intent) that mode
answers. :mod:`station.core.machine` merges the tables and routes by the current mode's type, then by
the event's type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from station.core.messages import CancelWork, Effect
from station.core.state import Booting, CoreState, Tick

Step = tuple[CoreState, list[Effect]]
"""A transition's answer: the next state and the effects to perform, in order."""

Handler = Callable[[CoreState, Any, Tick], Step]
"""The transition for one kind of event in one mode: ``(state, event, tick) -> step``."""

Routes = Mapping[type, Mapping[type, Handler]]
"""Per mode type, the transition for each kind of event the mode answers."""

M = TypeVar("M")
E = TypeVar("E")


def in_mode(kind: type[M], transition: Callable[[CoreState, M, E, Tick], Step]) -> Handler:
    """``transition``, which also takes the mode, for the table of mode ``kind``."""

    def handler(core: CoreState, event: E, tick: Tick) -> Step:
        mode = core.mode
        assert isinstance(mode, kind)
        return transition(core, mode, event, tick)

    return handler


def every(kinds: Iterable[type], handler: Handler) -> dict[type, Handler]:
    """The same transition for each of ``kinds`` (a mode that answers every intent itself)."""
    return dict.fromkeys(kinds, handler)


def merge(*tables: Routes) -> dict[type, dict[type, Handler]]:
    """One table from the states' tables; a mode and event registered twice is a bug."""
    merged: dict[type, dict[type, Handler]] = {}
    for table in tables:
        for mode, handlers in table.items():
            known = merged.setdefault(mode, {})
            twice = known.keys() & handlers.keys()
            if twice:
                names = ", ".join(sorted(kind.__name__ for kind in twice))
                raise ValueError(f"{mode.__name__} has two transitions for {names}")
            known.update(handlers)
    return merged


def close(core: CoreState, event: object, tick: Tick) -> Step:
    """The transition of a mode that an event just closes (its deadline, ``Cancel``, ``Done``):
    home, :func:`station.core.exits.home`."""
    from station.core.exits import home  # exits builds on this module

    return home(core)


def leave(core: CoreState) -> list[Effect]:
    """Effects for leaving the current mode: stop whatever work it still has running."""
    from station.core.health import Idle  # health builds on this module

    mode = core.mode
    if isinstance(mode, Booting | Idle):
        return []
    return [CancelWork(mode.ticket)]
