"""The release engine's request threads: started once and kept, and each release call's share of them.

A thread pool made for each call starts its threads as the call submits work, and starting a
thread waits until the new thread runs: on a busy machine that put about a millisecond (ten
threads: 17 ms measured here under load) before each of a tap's first requests, the printer
check and the job list, and between the release requests going out. The engine keeps one pool
for its lifetime; a call submits through its own :class:`CallPool`, which remembers the call's
futures so the call can cancel what it has not started and wait for what it has, as shutting
down its own pool did.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class CallPool:
    """One call's work on the engine's shared ``executor``."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor
        self._futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        # What is done needs no waiting for: a long follow submits a status check every few seconds.
        self._futures = [future for future in self._futures if not future.done()]
        future = self._executor.submit(fn, *args)
        self._futures.append(future)
        return future

    def finish(self, *, wait: bool = True, cancel: bool = False) -> None:
        """End the call's use of the pool: ``cancel`` what has not started, and (``wait``) wait
        for what has."""
        if cancel:
            for future in self._futures:
                future.cancel()
        if wait:
            cf.wait(self._futures)
