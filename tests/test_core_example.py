"""The runtime's docstring example runs as it is written (on pygame's dummy video driver)."""

from __future__ import annotations

import inspect
import os

import pytest

from station.core import runtime


def test_the_runtime_docstring_example_runs_and_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.environ.get("DISPLAY"):
        monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    example = inspect.cleandoc(str(runtime.__doc__).split("::\n", 1)[1])
    namespace: dict[str, object] = {}
    exec(example, namespace)
    assert namespace["drawn"].is_set()  # type: ignore[attr-defined]
