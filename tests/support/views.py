"""The views a station publishes, recorded, with a bounded wait for the next one of a kind.

Subscribe it (``station.subscribe(published)``) before the station starts; a test then reads
on view by view: :meth:`Published.next` returns the mode of the first view after the last one
it returned whose mode is of the kind asked for and passes the checks, and fails the test after
``wait_s``; :attr:`Published.info` is the station info of that view.

>>> from station.core.health import Offline, Ready
>>> from station.core.view import StationInfo, View
>>> from tests.support.views import Published
>>> published = Published(wait_s=1.0)
>>> published(View(StationInfo(cloud="down"), Offline("network", None, since=0.0)))
>>> published(View(StationInfo(cloud="ok"), Ready()))
>>> published.next(Ready)
Ready(just_paired=False)
>>> published.info.cloud
'ok'
>>> [type(mode).__name__ for mode in published.modes()]
['Offline', 'Ready']
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from station.core.view import StationInfo, View

M = TypeVar("M")


class Published:
    """Every published view, and a bounded wait for the next one of a kind."""

    def __init__(self, *, wait_s: float = 30.0) -> None:
        self._wait_s = wait_s
        self._seen: list[View] = []
        self._cursor = 0
        self._changed = threading.Condition()
        self.info = StationInfo()
        """The station info of the view :meth:`next` last returned the mode of."""

    def __call__(self, view: View) -> None:
        with self._changed:
            self._seen.append(view)
            self._changed.notify_all()

    def next(
        self,
        kind: type[M],
        check: Callable[[M], bool] = lambda _mode: True,
        *,
        info: Callable[[StationInfo], bool] = lambda _info: True,
    ) -> M:
        """The mode of the first view after the last one returned whose mode is a ``kind`` and
        passes ``check``, and whose station info passes ``info``."""

        def find() -> int | None:
            for index in range(self._cursor, len(self._seen)):
                view = self._seen[index]
                if isinstance(view.mode, kind) and check(view.mode) and info(view.info):
                    return index
            return None

        with self._changed:
            found = self._changed.wait_for(lambda: find() is not None, self._wait_s)
            assert found, (
                f"no {kind.__name__} came; last modes: {[type(x.mode).__name__ for x in self._seen[-5:]]}"
            )
            index = find()
            assert index is not None
            self._cursor = index + 1
            self.info = self._seen[index].info
            return self._seen[index].mode  # type: ignore[return-value]

    def all(self) -> list[View]:
        """Every view so far."""
        with self._changed:
            return list(self._seen)

    def modes(self) -> list[object]:
        """The mode (or idle face) of every view so far."""
        return [view.mode for view in self.all()]
