"""What every transition returns, and the one thing every mode change must do."""

from __future__ import annotations

from station.core.messages import CancelWork, Effect
from station.core.state import Booting, CoreState, Idle

Step = tuple[CoreState, list[Effect]]
"""A transition's answer: the next state and the effects to perform, in order."""


def leave(core: CoreState) -> list[Effect]:
    """Effects for leaving the current mode: stop whatever work it still has running."""
    mode = core.mode
    if isinstance(mode, Booting | Idle):
        return []
    return [CancelWork(mode.ticket)]
