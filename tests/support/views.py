"""The views a station publishes, recorded, with a bounded wait for the next one of a kind.

Subscribe it (``station.subscribe(published)``) before the station starts; a test then reads
on view by view: :meth:`Published.next` returns the first view after the last one it returned
that is of the kind asked for and passes the check, and fails the test after ``wait_s``.

>>> from tests.support.views import Published
>>> published = Published(wait_s=1.0)
>>> published("first")
>>> published(2)
>>> published.next(int)
2
>>> published.all()
['first', 2]
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

V = TypeVar("V")


class Published:
    """Every published view, and a bounded wait for the next one of a kind."""

    def __init__(self, *, wait_s: float = 30.0) -> None:
        self._wait_s = wait_s
        self._seen: list[object] = []
        self._cursor = 0
        self._changed = threading.Condition()

    def __call__(self, view: object) -> None:
        with self._changed:
            self._seen.append(view)
            self._changed.notify_all()

    def next(self, kind: type[V], check: Callable[[V], bool] = lambda _view: True) -> V:
        """The first view after the last one returned that is a ``kind`` and passes ``check``."""

        def find() -> int | None:
            for index in range(self._cursor, len(self._seen)):
                view = self._seen[index]
                if isinstance(view, kind) and check(view):
                    return index
            return None

        with self._changed:
            found = self._changed.wait_for(lambda: find() is not None, self._wait_s)
            assert found, (
                f"no {kind.__name__} came; last views: {[type(x).__name__ for x in self._seen[-5:]]}"
            )
            index = find()
            assert index is not None
            self._cursor = index + 1
            return self._seen[index]  # type: ignore[return-value]

    def all(self) -> list[object]:
        """Every view so far."""
        with self._changed:
            return list(self._seen)
