"""What the composition root feeds into :mod:`station.metrics`: the core's events and reader health.

:class:`MetricsFeed` is a :class:`~station.core.listener.CoreListener` (on the core thread; it
only counts) and wraps each reader's sink. It counts what the core says happened:

- each tap by result: the badge is someone's (``known``), nobody's (``unknown``, also when too
  many unknown badges came too fast), or the card was refused (``rejected``: unreadable, or a
  random number each time);
- released jobs by outcome, from each finished release;
- failures by kind: ezeep out of reach, a reader gone, a release that failed;
- the token state, and each reader's health as it reports it;
- for the fleet's alerts and dashboard (``config/monitoring/``): the state the station is in
  (the class of the mode each published view carries, ``ready``, ``offline``, ``picking``…),
  whether ezeep answers (and since when), whether the printer is online, how token refreshes
  end, and once at start the booted root slot and the last software update
  (:func:`record_host`, read by :mod:`station.host_facts`).

Nothing here sees a badge number or a user: only kinds and outcomes.
"""

from __future__ import annotations

import re
import time
import typing
from collections.abc import Callable
from pathlib import Path

from station import host_facts
from station.cloud.tokens import REFRESH_RESULTS, RefreshResult
from station.core import listener as ev
from station.core.health import Idle, IdleFace
from station.core.state import Mode
from station.core.view import View
from station.events import ReaderEvent, ReaderHealth, ReaderSink
from station.metrics import Metrics

TOKEN_STATES = ("paired", "unpaired", "needs_repair")
COUNTED_PHASES = ("printed", "failed", "timed_out")


def state_name(mode: type) -> str:
    """The state a mode class stands for in the metrics: ``PrinterUnavailable``: ``printer_unavailable``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", mode.__name__).lower()


# Every state a view can show: the modes, with the idle mode shown as one of its faces.
STATES = tuple(
    state_name(mode) for mode in (*typing.get_args(Mode), *typing.get_args(IdleFace)) if mode is not Idle
)


class MetricsFeed(ev.CoreListener):
    """Updates ``metrics`` from the events the core announces and from the readers."""

    def __init__(self, metrics: Metrics, version: str, *, clock: Callable[[], float] = time.time) -> None:
        self._metrics = metrics
        self._clock = clock
        metrics.set("release_station_info", 1, version=version)

    def _tap(self, result: str) -> None:
        self._metrics.inc("release_station_taps_total", result=result)

    def _failure(self, kind: str) -> None:
        self._metrics.inc("release_station_failures_total", kind=kind)

    def _token(self, state: str) -> None:
        self._metrics.set_state("release_station_token_state", state, TOKEN_STATES)

    def badge_known(self, event: ev.BadgeKnown) -> None:
        self._tap("known")

    def badge_unknown(self, event: ev.BadgeUnknown) -> None:
        self._tap("unknown")

    def tap_refused(self, event: ev.TapRefused) -> None:
        self._tap("unknown" if event.reason == "rate_limited" else "rejected")

    def release_finished(self, event: ev.ReleaseFinished) -> None:
        for job in event.jobs:
            if job.phase in COUNTED_PHASES:
                self._metrics.inc("release_station_releases_total", outcome=job.phase)
        if event.outcome in ("failed", "partly"):
            self._failure("release")

    def _cloud(self, up: bool) -> None:
        self._metrics.set("release_station_cloud_up", 1 if up else 0)
        self._metrics.set("release_station_cloud_changed_timestamp_seconds", self._clock())

    def offline(self, event: ev.Offline) -> None:
        self._failure("cloud")
        self._cloud(False)

    def back_online(self, event: ev.BackOnline) -> None:
        self._cloud(True)

    def printer_offline(self, event: ev.PrinterOffline) -> None:
        self._metrics.set("release_station_printer_up", 0)

    def printer_online(self, event: ev.PrinterOnline) -> None:
        self._metrics.set("release_station_printer_up", 1)

    def reader_down(self, event: ev.ReaderDown) -> None:
        self._failure("reader")

    def started(self, event: ev.Started) -> None:
        if event.paired:
            self._token("paired")

    def paired(self, event: ev.Paired) -> None:
        self._token("paired")

    def pairing_needed(self, event: ev.PairingNeeded) -> None:
        self._token("needs_repair" if event.repair else "unpaired")

    def view(self, view: View) -> None:
        """A view subscriber (:meth:`~station.core.runtime.Station.subscribe`): the state it shows."""
        self._metrics.set_state("release_station_state", state_name(type(view.mode)), STATES)

    def reader_sink(self, sink: ReaderSink) -> ReaderSink:
        """``sink`` that also records each reader's health reports."""

        def feed(event: ReaderEvent) -> None:
            if isinstance(event, ReaderHealth):
                self._metrics.set("release_station_reader_up", 1 if event.ok else 0, reader=event.reader_name)
            sink(event)

        return feed


def count_refreshes(metrics: Metrics) -> Callable[[RefreshResult], None]:
    """The token keeper's ``on_refresh``: counts each refresh by result, every result from 0 (so
    a rate over the first failure is not lost)."""
    for result in REFRESH_RESULTS:
        metrics.inc("release_station_token_refreshes_total", 0, result=result)

    def refreshed(result: RefreshResult) -> None:
        metrics.inc("release_station_token_refreshes_total", result=result)

    return refreshed


def record_host(
    metrics: Metrics, *, cmdlines: tuple[Path, ...], update_record: Path, slot_record: Path
) -> None:
    """The booted root slot (from the first readable of ``cmdlines``) and the last update: the
    update timer's last run (its ``update_record``, :mod:`station.update.record`) and the root slot
    installed last (``slot_record``); see :mod:`station.host_facts`."""
    booted = host_facts.read_booted_slot(cmdlines)
    update = host_facts.last_update(update_record, slot_record)
    metrics.set("release_station_slot_info", 1, booted=booted, installed=update.slot)
    results = host_facts.UPDATE_RESULTS
    metrics.set_state("release_station_update_result", update.result, results, label="result")
    metrics.set("release_station_update_timestamp_seconds", update.at)
