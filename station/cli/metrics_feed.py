"""What the composition root feeds into :mod:`station.metrics`: the core's events and reader health.

:class:`MetricsFeed` is a :class:`~station.core.listener.CoreListener` (on the core thread; it
only counts) and wraps each reader's sink. It counts what the core says happened:

- each tap by result: the badge is someone's (``known``), nobody's (``unknown``, also when too
  many unknown badges came too fast), or the card was refused (``rejected``: unreadable, or a
  random number each time);
- released jobs by outcome, from each finished release;
- failures by kind: ezeep out of reach, a reader gone, a release that failed;
- the token state, and each reader's health as it reports it.

Nothing here sees a badge number or a user: only kinds and outcomes.
"""

from __future__ import annotations

from station.core import listener as ev
from station.events import ReaderEvent, ReaderHealth, ReaderSink
from station.metrics import Metrics

TOKEN_STATES = ("paired", "unpaired", "needs_repair")
COUNTED_PHASES = ("printed", "failed", "timed_out")


class MetricsFeed(ev.CoreListener):
    """Updates ``metrics`` from the events the core announces and from the readers."""

    def __init__(self, metrics: Metrics, version: str) -> None:
        self._metrics = metrics
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

    def offline(self, event: ev.Offline) -> None:
        self._failure("cloud")

    def reader_down(self, event: ev.ReaderDown) -> None:
        self._failure("reader")

    def started(self, event: ev.Started) -> None:
        if event.paired:
            self._token("paired")

    def paired(self, event: ev.Paired) -> None:
        self._token("paired")

    def pairing_needed(self, event: ev.PairingNeeded) -> None:
        self._token("needs_repair" if event.repair else "unpaired")

    def reader_sink(self, sink: ReaderSink) -> ReaderSink:
        """``sink`` that also records each reader's health reports."""

        def feed(event: ReaderEvent) -> None:
            if isinstance(event, ReaderHealth):
                self._metrics.set("release_station_reader_up", 1 if event.ok else 0, reader=event.reader_name)
            sink(event)

        return feed
