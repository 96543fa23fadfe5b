"""Shared fixtures.

``emulator``: a running ezeep emulator on 127.0.0.1, port 0, fresh for each test, tuned for
speed: no poll pacing (``slow_down`` only if a test raises ``poll_interval_s``), 0.5 s jobs.
Pairing waits for approval unless the test sets ``emulator.auto_approve_device = <printer id>``
(or ``auto_approve_user = <email>``), or approves with ``emulator.approve(code, email=...)``.
``make_emulator(**kwargs)``: the same with other settings (e.g. a ``clock``); all are stopped
after the test. ``profiled_emulator``: the same, once per ``emulator_profile``: ``default``
(the working contract) and ``strict`` (ezeep as its own pages describe it, refresh tokens and the
tp_id claim enabled for the tests' client ids), for the cloud flows that must hold under both.

``browser``: a headless Chromium (Playwright) shared by the session, for the approval page;
tests using it are marked ``chromium`` and skipped where there is no Chromium.

Every test ends with the root logger as it found it (see ``_log_handler_ends_with_its_test``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from station.emulator import PROFILES, Emulator
from station.logsetup import IDENTIFIER
from tests.support.approval_page import launch_chromium
from tests.support.cloud import EmulatorFactory, profile_options


@pytest.fixture
def make_emulator() -> Iterator[EmulatorFactory]:
    started: list[Emulator] = []

    def make(**kwargs: Any) -> Emulator:
        options: dict[str, Any] = {"port": 0, "job_duration_s": 0.5, "poll_interval_s": 0, **kwargs}
        emulator = Emulator(**options).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator()


@pytest.fixture(params=PROFILES)
def emulator_profile(request: pytest.FixtureRequest) -> str:
    profile: str = request.param
    return profile


@pytest.fixture
def profiled_emulator(make_emulator: EmulatorFactory, emulator_profile: str) -> Emulator:
    return make_emulator(**profile_options(emulator_profile))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture(autouse=True)
def _log_handler_ends_with_its_test() -> Iterator[None]:
    """Remove the station's log handler that a test's ``main([...])`` installed.

    ``setup_logging`` writes to the ``sys.stderr`` of the moment: during a test, pytest's capture
    file for that test, closed after it. A thread still running later (an emulator's server, a
    worker) would log into the closed file ("--- Logging error ---"). pytest's own handlers are
    left alone.
    """
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if handler.get_name() == IDENTIFIER:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
