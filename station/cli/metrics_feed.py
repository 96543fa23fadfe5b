"""What the composition root feeds into :mod:`station.metrics`: published views and reader health.

:class:`MetricsFeed` is a view subscriber (on the core thread; it only counts) and wraps each
reader's sink. It counts on changes of screen, so a view published again with a new countdown
or job phase is not counted twice:

- a tap's result from the screen that follows "Badge read": the user's jobs, their PIN or the
  release (``known``), an enrolment offer or "not enrolled" (``unknown``), a refused card
  (``rejected``);
- released jobs by outcome, from each summary;
- failures by kind: the cloud out of reach, the reader missing, a release that failed;
- the token state on every view, and each reader's health as it reports it.

Nothing here sees a badge number or a user: only screen kinds and outcomes.
"""

from __future__ import annotations

from station.core import view as v
from station.events import ReaderEvent, ReaderHealth, ReaderSink
from station.metrics import Metrics

TOKEN_STATES = ("paired", "unpaired", "needs_repair")
COUNTED_PHASES = ("printed", "failed", "timed_out")
KNOWN_AFTER_TAP = (v.SessionView, v.PinEntryView, v.ReleasingView, v.DoneView)


class MetricsFeed:
    """Updates ``metrics`` from the views the core publishes and from the readers."""

    def __init__(self, metrics: Metrics, version: str) -> None:
        self._metrics = metrics
        self._previous: object = None
        metrics.set("release_station_info", 1, version=version)

    def on_view(self, view: object) -> None:
        """A view subscriber: must not block, and does not."""
        previous, self._previous = self._previous, view
        info = getattr(view, "info", None)
        if isinstance(view, v.NeedsRepairView):
            self._metrics.set_state("release_station_token_state", "needs_repair", TOKEN_STATES)
        elif isinstance(info, v.StationInfo):
            token = "paired" if info.paired else "unpaired"
            self._metrics.set_state("release_station_token_state", token, TOKEN_STATES)
        if type(view) is type(previous):
            return
        if isinstance(previous, v.IdentifyingView):
            self._tap(view)
        if isinstance(view, v.DoneView):
            for job in view.jobs:
                if job.phase in COUNTED_PHASES:
                    self._metrics.inc("release_station_releases_total", outcome=job.phase)
            if view.outcome in ("failed", "partly"):
                self._metrics.inc("release_station_failures_total", kind="release")
        elif isinstance(view, v.OfflineView):
            self._metrics.inc("release_station_failures_total", kind="cloud")
        elif isinstance(view, v.ReaderMissingView):
            self._metrics.inc("release_station_failures_total", kind="reader")

    def _tap(self, view: object) -> None:
        if isinstance(view, KNOWN_AFTER_TAP):
            result = "known"
        elif isinstance(view, v.EnrolView) or (
            isinstance(view, v.UnknownBadgeView) and view.reason != "random_uid"
        ):
            result = "unknown"
        elif isinstance(view, v.UnknownBadgeView):
            result = "rejected"
        else:
            return  # the cloud went away mid-tap: counted as a failure instead
        self._metrics.inc("release_station_taps_total", result=result)

    def reader_sink(self, sink: ReaderSink) -> ReaderSink:
        """``sink`` that also records each reader's health reports."""

        def feed(event: ReaderEvent) -> None:
            if isinstance(event, ReaderHealth):
                self._metrics.set("release_station_reader_up", 1 if event.ok else 0, reader=event.reader_name)
            sink(event)

        return feed
