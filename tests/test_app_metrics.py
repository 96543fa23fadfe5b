"""What the composition root counts for node_exporter, from the views the core publishes."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

from station.cli.app import LAST_CONTACT, build_station, make_metrics
from station.cli.metrics_feed import MetricsFeed
from station.config import Config, parse_config
from station.core import view as v
from station.database import open_database
from station.emulator import Emulator
from station.events import BadgeRead, ReaderEvent, ReaderHealth
from station.metrics import Metrics
from station.pin import Pins

INFO = v.StationInfo(paired=True, cloud="ok", reader="ok", printer="ok")


def values(metrics: Metrics) -> dict[str, float]:
    return {
        sample.name.removeprefix("release_station_")
        + "".join(f"[{key}={value}]" for key, value in sample.labels): sample.value
        for sample in metrics.samples()
    }


def progress(*phases: v.JobPhase) -> tuple[v.JobProgressItem, ...]:
    return tuple(v.JobProgressItem(f"job-{n}", "Report.pdf", phase) for n, phase in enumerate(phases))


def test_taps_releases_failures_and_the_token_state_counted_on_changes_of_screen() -> None:
    metrics = Metrics()
    feed = MetricsFeed(metrics, "1.2.3")
    session = v.SessionView(INFO, "ada", (), frozenset(), expires_at=0)
    partly = v.DoneView(INFO, "partly", progress("printed", "printed", "failed"), expires_at=0)
    for view in (
        v.ReadyView(INFO, just_paired=True),
        v.IdentifyingView(INFO),
        session,
        v.ReleasingView(INFO, "ada", progress("sending")),
        partly,
        partly,  # published again (a countdown, a phase): not counted twice
        v.ReadyView(INFO),
        v.IdentifyingView(INFO),
        v.EnrolView(INFO, "starting", expires_at=0),
        v.ReadyView(INFO),
        v.IdentifyingView(INFO),
        v.UnknownBadgeView(INFO, "random_uid", expires_at=0),
        v.OfflineView(INFO, "network", None, since=0),
        v.ReaderMissingView(INFO, "ACR122U", "unplugged"),
        v.NeedsRepairView(INFO),
    ):
        feed.on_view(view)
    assert values(metrics) == {
        "info[version=1.2.3]": 1,
        "taps_total[result=known]": 1,
        "taps_total[result=unknown]": 1,
        "taps_total[result=rejected]": 1,
        "releases_total[outcome=printed]": 2,
        "releases_total[outcome=failed]": 1,
        "failures_total[kind=release]": 1,
        "failures_total[kind=cloud]": 1,
        "failures_total[kind=reader]": 1,
        "token_state[state=paired]": 0,
        "token_state[state=unpaired]": 0,
        "token_state[state=needs_repair]": 1,
    }


def test_reader_health_passes_through_and_is_recorded() -> None:
    metrics = Metrics()
    passed: list[ReaderEvent] = []
    sink = MetricsFeed(metrics, "1").reader_sink(passed.append)
    events: list[ReaderEvent] = [
        ReaderHealth("pcsc", "ACR122U", True, "", time.monotonic()),
        BadgeRead(b"\x04\x01\x02\x03", "pcsc", "ACR122U", time.monotonic()),
        ReaderHealth("pcsc", "ACR122U", False, "unplugged", time.monotonic()),
    ]
    for event in events:
        sink(event)
    assert passed == events
    assert values(metrics)["reader_up[reader=ACR122U]"] == 0


def test_the_last_contact_with_ezeep_is_the_time_of_its_last_answer(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = parse_config(
        f"""
        [station]
        state_dir = '{tmp_path}'
        hardware_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        [cloud]
        account_url = "{emulator.url}"
        api_url = "{emulator.url}"
        print_url = "{emulator.url}"
        client_id = "app-tests"
        [metrics]
        textfile_dir = '{tmp_path}'
        """
    )
    metrics = make_metrics(config)
    assert metrics is not None and make_metrics(Config()) is None
    emulator.auto_approve_device = emulator.printers[0].id
    Pins(open_database(config.database_path)).set_technician("24681357")  # else it asks for one first
    ready = threading.Event()
    before = time.time()
    with contextlib.ExitStack() as stack:
        station = build_station(config, stack, restart=lambda: None, metrics=metrics)
        assert LAST_CONTACT not in values(metrics)  # nothing asked yet
        station.subscribe(lambda view: ready.set() if isinstance(view, v.ReadyView) else None)
        station.start()
        stack.callback(station.stop)
        assert ready.wait(30), "the station never paired and found its printer"
    contact = values(metrics)[LAST_CONTACT.removeprefix("release_station_")]
    assert before <= contact <= time.time()
