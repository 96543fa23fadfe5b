"""Explicit dispatch: every kind of work has its handler, every result table names real results."""

from __future__ import annotations

import typing

from station.core import machine
from station.core import messages as m
from station.core.worker import HANDLERS


def test_every_kind_of_work_has_a_handler_and_every_handler_a_kind_of_work() -> None:
    assert set(HANDLERS) == set(typing.get_args(m.Work))


def test_the_machine_routes_only_results_that_work_can_send() -> None:
    results = set(typing.get_args(m.WorkResult))
    assert set(machine.RESULTS) <= results
