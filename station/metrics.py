"""The station's metrics, written for Prometheus' node_exporter (its textfile collector).

The composition root owns one :class:`Metrics` and updates it from what it already sees: badge
taps, releases, failures, the token's state, the readers' state and the last answer from the
cloud. A :class:`TextfileWriter` thread renders it in the Prometheus text format when a value
changed, at most once every ``[metrics] interval_s``, and replaces ``release_station.prom`` in
``[metrics] textfile_dir`` atomically, so node_exporter never reads half a file. Without a
change it still rewrites the file every ``max(interval_s, 120)`` seconds: the file's age is the
fleet's sign that the software runs (alert ``StationSoftwareDown``), and an idle or offline
station changes nothing for hours. A fleet scrapes node_exporter as usual; no server of our own
is involved.

Only the families in :data:`FAMILIES` exist: a misspelt name raises instead of quietly starting
a new series. Label values are the caller's plain words (outcomes, states, reader names); never
pass a badge number, a user or a token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from station.atomicfile import write_atomic

log = logging.getLogger(__name__)

FILENAME = "release_station.prom"

# The longest a running station leaves the file unchanged (unless interval_s is longer): well
# under the 300 s after which the fleet's StationSoftwareDown alert takes the station for dead.
REFRESH_S = 120.0


@dataclass(frozen=True)
class Family:
    """One metric family: counter or gauge, and its help text."""

    kind: Literal["counter", "gauge"]
    help: str


# What the fleet's alert rules and dashboard need (config/monitoring/) beyond the counts below.
_FLEET: dict[str, Family] = {
    "release_station_state": Family(
        "gauge", "1 for the state the station is in (its screen: ready, offline, picking…), else 0."
    ),
    "release_station_cloud_up": Family("gauge", "1 while ezeep answers, 0 while it cannot be reached."),
    "release_station_cloud_changed_timestamp_seconds": Family(
        "gauge", "Unix time release_station_cloud_up last changed."
    ),
    "release_station_printer_up": Family(
        "gauge", "1 while ezeep says the station's printer is online, else 0."
    ),
    "release_station_token_refreshes_total": Family(
        "counter",
        "Refreshes of the device token, by result (ok, failed, rejected); one cut by a stop is not counted.",
    ),
    "release_station_slot_info": Family(
        "gauge", "Always 1; the root slot booted and the slot installed last (A, B, or none)."
    ),
    "release_station_update_result": Family(
        "gauge",
        "1 for the last update's result (none, no_update, not_in_share, downloaded, installed, failed,"
        " rolled_back), else 0.",
    ),
    "release_station_update_timestamp_seconds": Family(
        "gauge",
        "Unix time of the last root-slot install (the update timer's last run before any); 0 when none.",
    ),
}

FAMILIES: dict[str, Family] = {
    "release_station_info": Family("gauge", "Always 1; the version label names the station software."),
    "release_station_taps_total": Family("counter", "Badge taps, by result (known, unknown, rejected)."),
    "release_station_releases_total": Family(
        "counter", "Print jobs the station released, by outcome (printed, failed, timed_out)."
    ),
    "release_station_failures_total": Family(
        "counter", "Failures, by kind (cloud, reader, release, storage)."
    ),
    "release_station_token_state": Family(
        "gauge", "1 for the device token's current state (paired, unpaired, needs_repair), else 0."
    ),
    "release_station_reader_up": Family("gauge", "1 while the badge reader works, else 0, by reader."),
    "release_station_cloud_last_contact_timestamp_seconds": Family(
        "gauge", "Unix time of the last answer from the cloud; 0 before the first."
    ),
    **_FLEET,
}

# -- the directory sync (station.directory_sync.publish_status); kept apart from the families above --
FAMILIES |= {
    "release_station_directory_last_success_timestamp_seconds": Family(
        "gauge", "Unix time of the last successful directory sync; 0 before the first (age: time() - it)."
    ),
    "release_station_directory_entries": Family(
        "gauge", "Badges from the directory source the station holds."
    ),
    "release_station_directory_failures": Family(
        "gauge", "Directory syncs failed in a row; 0 after a success."
    ),
    "release_station_directory_held_back": Family(
        "gauge", "1 while a sync that would remove too many badges is held back, else 0."
    ),
    "release_station_directory_conflicts": Family(
        "gauge", "Local enrolments the source contradicted at its last applied sync (audited)."
    ),
    "release_station_directory_not_ezeep_users": Family(
        "gauge", "People the source gives a badge whom ezeep does not know, at the last applied sync."
    ),
}
# -- end of the directory sync's families --

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    """One value of one family, with its labels (sorted by name)."""

    name: str
    labels: Labels
    value: float


class Metrics:
    """Counters and gauges, safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._values: dict[tuple[str, Labels], float] = {}
        self._version = 0  # counts the changes of any value

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (never negative) to a counter."""
        if amount < 0:
            raise ValueError(f"{name}: a counter only goes up, not by {amount:g}")
        key = (self._check(name, "counter"), _labels(labels))
        with self._lock:
            self._store(key, self._values.get(key, 0.0) + amount)

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        key = (self._check(name, "gauge"), _labels(labels))
        with self._lock:
            self._store(key, float(value))

    def set_state(self, name: str, current: str, states: Iterable[str], label: str = "state") -> None:
        """Set a state-set gauge: 1 for ``current``, 0 for every other of ``states``."""
        self._check(name, "gauge")
        with self._lock:
            for state in {*states, current}:
                self._store((name, _labels({label: state})), 1.0 if state == current else 0.0)

    def _store(self, key: tuple[str, Labels], value: float) -> None:
        """Set one value (the lock held); a change wakes :meth:`wait_for_change`."""
        if self._values.get(key) != value:
            self._values[key] = value
            self._version += 1
            self._changed.notify_all()

    def wait_for_change(
        self, since: int | None, until: Callable[[], bool], timeout: float | None = None
    ) -> int:
        """Block while no value changed after version ``since`` (``None``: do not block) and
        ``until()`` is false, for at most ``timeout`` seconds (``None``: no limit); return the
        version now. Whoever makes ``until()`` true then calls :meth:`wake`."""
        with self._changed:
            self._changed.wait_for(lambda: since != self._version or until(), timeout)
            return self._version

    def wake(self) -> None:
        """Make every :meth:`wait_for_change` look at its ``until()`` again."""
        with self._changed:
            self._changed.notify_all()

    def samples(self) -> list[Sample]:
        """A consistent copy of every value, by family and labels."""
        with self._lock:
            items = sorted(self._values.items())
        return [Sample(name, labels, value) for (name, labels), value in items]

    @staticmethod
    def _check(name: str, kind: str) -> str:
        family = FAMILIES.get(name)
        if family is None:
            raise KeyError(f"no metric family {name!r}; known: {', '.join(sorted(FAMILIES))}")
        if family.kind != kind:
            raise TypeError(f"{name} is a {family.kind}, not a {kind}")
        return name


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted((key, str(value)) for key, value in labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render(samples: Iterable[Sample]) -> str:
    """The Prometheus text exposition format: HELP and TYPE once per family, then its samples."""
    lines: list[str] = []
    current = ""
    for sample in samples:
        if sample.name != current:
            current = sample.name
            family = FAMILIES[current]
            lines += [f"# HELP {current} {family.help}", f"# TYPE {current} {family.kind}"]
        labels = ",".join(f'{key}="{_escape(value)}"' for key, value in sample.labels)
        lines.append(
            f"{sample.name}{{{labels}}} {_number(sample.value)}"
            if labels
            else f"{sample.name} {_number(sample.value)}"
        )
    return "\n".join(lines) + "\n" if lines else ""


class TextfileWriter:
    """Writes ``metrics`` to ``directory``/release_station.prom at the start, after a change (at
    most once every ``interval_s``), at least every ``refresh_s`` (default
    ``max(interval_s, REFRESH_S)``) even without one, and once more at stop.

    A failed write (missing directory, full disk) is logged and tried again ``interval_s`` later,
    changed or not; it never stops the station.
    """

    def __init__(
        self, metrics: Metrics, directory: Path, *, interval_s: float, refresh_s: float | None = None
    ) -> None:
        self.path = directory / FILENAME
        self._metrics = metrics
        self._interval_s = interval_s
        self.refresh_s = max(interval_s, REFRESH_S) if refresh_s is None else refresh_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)
        self._failing = False

    def write(self) -> bool:
        """Write the file now; ``False`` when that failed."""
        text = render(self._metrics.samples())
        try:
            write_atomic(self.path, text.encode(), mode=0o644)
        except OSError as exc:
            if not self._failing:
                log.warning("cannot write the metrics file %s: %s", self.path, exc)
            self._failing = True
            return False
        if self._failing:
            log.info("metrics file %s written again", self.path)
        self._failing = False
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (it writes a last time) and wait for it."""
        self._stop.set()
        self._metrics.wake()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        written: int | None = None  # the version in the file; None: none yet, or the write failed
        next_at = time.monotonic()  # at most one file every interval_s
        refresh_at = next_at  # at least one every refresh_s: the file's age says we run
        while not self._stop.is_set():
            version = self._metrics.wait_for_change(
                written, self._stop.is_set, max(0.0, refresh_at - time.monotonic())
            )
            # A change long after the last write is written at once (one wake-up); a burst of
            # changes waits out the interval and is written as one file.
            if self._stop.is_set() or self._stop.wait(max(0.0, next_at - time.monotonic())):
                break
            next_at = time.monotonic() + self._interval_s
            refresh_at = time.monotonic() + self.refresh_s
            written = version if self.write() else None
        self.write()
