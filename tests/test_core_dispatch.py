"""Explicit dispatch: every kind of work has its handler, every state lists real modes and events."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest

from station.core import machine
from station.core import messages as m
from station.core.intents import INTENT_TYPES, ToggleJob
from station.core.session import Picking
from station.core.state import Mode
from station.core.transition import merge
from station.core.worker import HANDLERS, merge_work


def test_every_kind_of_work_has_a_handler_and_every_handler_a_kind_of_work() -> None:
    assert set(HANDLERS) == set(typing.get_args(m.Work))


def test_the_states_route_only_real_modes_and_events() -> None:
    timers_and_taps = {m.Tap, m.Deadline, m.NoAnswer}
    events = set(typing.get_args(m.WorkResult)) | set(INTENT_TYPES) | timers_and_taps
    assert set(machine.ROUTES) <= set(typing.get_args(Mode))
    for mode, handlers in machine.ROUTES.items():
        assert set(handlers) <= events, mode


def test_a_transition_registered_twice_is_refused() -> None:
    def nothing(core: object, event: object, tick: object) -> typing.NoReturn:
        raise AssertionError

    with pytest.raises(ValueError, match="Picking has two transitions for ToggleJob"):
        merge({Picking: {ToggleJob: nothing}}, machine.ROUTES)


def test_work_with_two_handlers_is_refused() -> None:
    with pytest.raises(ValueError, match="two handlers for Lookup"):
        merge_work(HANDLERS, {m.Lookup: HANDLERS[m.Lookup]})


@pytest.mark.parametrize(
    "module",
    [
        "state",
        "pairing",
        "health",
        "identify",
        "pins",
        "session",
        "enrolment",
        "technician",
        "exits",
        "machine",
    ],
)
def test_each_state_module_imports_first_despite_the_modes_cycle(module: str) -> None:
    """The modes live in the state modules and their union in state.py: any of them may come first."""
    done = subprocess.run(
        [sys.executable, "-c", f"import station.core.{module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
