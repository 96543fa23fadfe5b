"""The station's threads carry their Python names in the kernel (station.threadnames)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.threadnames import name_threads, os_thread_name


@pytest.fixture
def named() -> Iterator[None]:
    name_threads()
    yield
    threading.setprofile(None)  # the hook is the interpreter's: leave it as it was


def _comm_of_thread(name: str) -> str:
    seen: list[str] = []

    def read() -> None:
        seen.append(Path("/proc/thread-self/comm").read_text().strip())

    thread = threading.Thread(target=read, name=name)
    thread.start()
    thread.join()
    return seen[0]


def test_a_thread_started_afterwards_has_its_name_in_the_kernel(named: None) -> None:
    assert _comm_of_thread("core-local_0") == "core-local_0"
    assert _comm_of_thread("reader-wedge-badge reader") == "reader-wedge-ba"  # the kernel keeps 15 bytes


def test_the_hook_leaves_each_thread_after_its_first_call(named: None) -> None:
    profiles: list[object] = []
    thread = threading.Thread(target=lambda: profiles.append(sys.getprofile()))
    thread.start()
    thread.join()
    assert profiles == [None]


def test_a_name_is_cut_to_the_kernels_15_bytes() -> None:
    assert os_thread_name("core") == b"core"
    assert os_thread_name("x" * 40) == b"x" * 15
