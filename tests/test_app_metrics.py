"""What the composition root counts for node_exporter, from the events the core announces."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest

from station.cli.compose import LAST_CONTACT, build_station, make_metrics, start_metrics
from station.cli.metrics_feed import STATES, MetricsFeed, count_refreshes
from station.cloud import contract
from station.cloud.errors import ClosedError, CloudError, ServerError, TokenRejectedError
from station.cloud.http import CloudHttp
from station.cloud.stack import CloudStack
from station.config import Config, parse_config
from station.core import intents as i
from station.core import listener as ev
from station.core import view as v
from station.core.enrolment import Enrolling, Unknown
from station.core.health import Ready
from station.core.listener import deliver
from station.core.session import Done
from station.database import open_database
from station.directory import Directory
from station.emulator import Emulator
from station.events import BadgeRead, ReaderEvent, ReaderHealth
from station.metrics import Metrics
from station.pin import Pins
from tests.support.cloud import CLIENT_ID, HARDWARE_ID, pair
from tests.support.emulator_http import wait_for_slow_done
from tests.support.views import Published


def values(metrics: Metrics) -> dict[str, float]:
    return {
        sample.name.removeprefix("release_station_")
        + "".join(f"[{key}={value}]" for key, value in sample.labels): sample.value
        for sample in metrics.samples()
    }


def station_config(emulator: Emulator, tmp_path: Path) -> Config:
    return parse_config(
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


def read(uid: bytes) -> BadgeRead:
    return BadgeRead(uid, "simulated", "sim", time.monotonic())


def test_taps_releases_and_the_token_state_of_a_real_station_are_counted(
    emulator: Emulator, tmp_path: Path
) -> None:
    """A refused random-UID card goes from Ready straight to "unknown card": counted as rejected."""
    config = station_config(emulator, tmp_path)
    metrics = make_metrics(config)
    assert metrics is not None
    emulator.auto_approve_device = emulator.printers[0].id
    db = open_database(config.database_path)
    Pins(db).set_technician("24681357")  # else it asks for one first
    known = bytes.fromhex("04A1B2C3D4E5F6")
    user = emulator.users[0]
    Directory(db).enrol(known.hex().upper(), user.id, email=user.email, how="cli")
    waiting = len(emulator.waiting_jobs(user.email))
    assert waiting
    published = Published()
    with contextlib.ExitStack() as stack:
        station = build_station(config, stack, restart=lambda: None, metrics=metrics).station
        start_metrics(station, metrics, config, stack)
        station.subscribe(published)  # after the feed: it has counted what a view shows
        station.start()
        stack.callback(station.stop)
        published.next(Ready, info=lambda info: info.printer_name != "")
        ready = values(metrics)
        assert ready["state[state=ready]"] == 1 and ready["state[state=booting]"] == 0
        assert ready["cloud_up"] == 1 and ready["printer_up"] == 1
        station.submit(read(bytes.fromhex("08112233")))  # a random UID: refused
        published.next(Unknown, lambda view: view.reason == "random_uid")
        station.submit(i.Done())
        published.next(Ready)
        station.submit(read(bytes.fromhex("04FFEEDDCCBBAA")))  # nobody's
        published.next(Enrolling)
        station.submit(i.Cancel())
        published.next(Ready)
        station.submit(read(known))
        published.next(Done)
    counted = values(metrics)
    assert counted["state[state=done]"] == 1 and counted["state[state=ready]"] == 0
    assert {
        key: counted.get(key) for key in counted if key.startswith(("taps", "releases", "token_state"))
    } == {
        "taps_total[result=rejected]": 1,
        "taps_total[result=unknown]": 1,
        "taps_total[result=known]": 1,
        "releases_total[outcome=printed]": waiting,
        "token_state[state=paired]": 1,
        "token_state[state=unpaired]": 0,
        "token_state[state=needs_repair]": 0,
    }


def test_each_kind_of_event_is_counted_once() -> None:
    metrics = Metrics()
    feed = MetricsFeed(metrics, "1.2.3", clock=lambda: 1765094400.0)
    done = (
        v.JobProgressItem("job-1", "Report.pdf", "printed"),
        v.JobProgressItem("job-2", "Old.pdf", "failed"),
    )
    for event in (
        ev.TapRefused("unreadable"),
        ev.TapRefused("rate_limited", "B1"),
        ev.ReleaseFinished("partly", done),
        ev.Offline("network"),
        ev.BackOnline(),
        ev.PrinterOffline("Offline"),
        ev.ReaderDown("ACR122U", "unplugged"),
        ev.PairingNeeded(repair=True),
    ):
        deliver(feed, event)
    assert values(metrics) == {
        "cloud_up": 1,
        "cloud_changed_timestamp_seconds": 1765094400.0,
        "printer_up": 0,
        "info[version=1.2.3]": 1,
        "taps_total[result=rejected]": 1,
        "taps_total[result=unknown]": 1,
        "releases_total[outcome=printed]": 1,
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
    config = station_config(emulator, tmp_path)
    metrics = make_metrics(config)
    assert metrics is not None and make_metrics(Config()) is None
    emulator.auto_approve_device = emulator.printers[0].id
    Pins(open_database(config.database_path)).set_technician("24681357")  # else it asks for one first
    ready = threading.Event()
    before = time.time()
    with contextlib.ExitStack() as stack:
        station = build_station(config, stack, restart=lambda: None, metrics=metrics).station
        assert LAST_CONTACT not in values(metrics)  # nothing asked yet
        station.subscribe(lambda view: ready.set() if isinstance(view.mode, Ready) else None)
        station.start()
        stack.callback(station.stop)
        assert ready.wait(30), "the station never paired and found its printer"
    contact = values(metrics)[LAST_CONTACT.removeprefix("release_station_")]
    assert before <= contact <= time.time()


def test_every_state_a_view_can_show_has_its_name() -> None:
    metrics = Metrics()
    feed = MetricsFeed(metrics, "1")
    feed.view(v.View(v.StationInfo(), Ready()))
    states = {key: value for key, value in values(metrics).items() if key.startswith("state")}
    assert states == {f"state[state={state}]": 1.0 if state == "ready" else 0.0 for state in STATES}
    assert {"ready", "offline", "printer_unavailable", "reader_missing", "picking", "booting"} <= set(STATES)
    assert "idle" not in STATES  # the idle mode is shown as one of its faces


def test_token_refreshes_are_counted_by_how_they_ended(emulator: Emulator, tmp_path: Path) -> None:
    metrics = Metrics()
    db = open_database(tmp_path / "station.db")
    pair(emulator, db)
    url = emulator.url
    http = CloudHttp(account_url=url, api_url=url, print_url=url, client_id=CLIENT_ID, timeout_s=5.0)
    with CloudStack.create(
        http, db, hardware_id=HARDWARE_ID, refresh_backoff_s=(0.01, 0.01), on_refresh=count_refreshes(metrics)
    ) as cloud:
        keeper = cloud.keeper
        assert values(metrics) == {
            f"token_refreshes_total[result={r}]": 0 for r in ("ok", "failed", "rejected")
        }
        keeper.renew(keeper.access_token())
        emulator.set_faults(error_5xx=10)
        with pytest.raises(ServerError):
            keeper.renew(keeper.access_token())  # every try answered 503: one failed refresh
        emulator.set_faults(error_5xx=0)
        record = keeper.record
        assert record is not None and record.pair is not None
        http.oauth(contract.REVOKE_PATH, contract.revoke_form(record.pair.refresh_token))
        with pytest.raises(TokenRejectedError):
            keeper.renew(keeper.access_token())
    assert values(metrics) == {
        "token_refreshes_total[result=ok]": 1,
        "token_refreshes_total[result=failed]": 1,
        "token_refreshes_total[result=rejected]": 1,
    }


def test_a_refresh_cut_by_a_stop_is_not_a_failed_one(emulator: Emulator, tmp_path: Path) -> None:
    """A stop during a refresh ends it in ClosedError: ezeep did not fail, the station stopped,
    and a restart must not look like one more failed refresh to TokenRefreshFailing."""
    metrics = Metrics()
    db = open_database(tmp_path / "station.db")
    pair(emulator, db)
    url = emulator.url
    http = CloudHttp(account_url=url, api_url=url, print_url=url, client_id=CLIENT_ID, timeout_s=10.0)
    ended: list[BaseException] = []
    with CloudStack.create(http, db, hardware_id=HARDWARE_ID, on_refresh=count_refreshes(metrics)) as cloud:
        emulator.set_faults(slow_done_s=2.0, slow_path=contract.TOKEN_PATH)  # ezeep holds the refresh
        stale = cloud.keeper.access_token()

        def renew() -> None:
            try:
                cloud.keeper.renew(stale)
            except CloudError as exc:  # the test looks at what it was
                ended.append(exc)

        refresh = threading.Thread(target=renew)
        refresh.start()
        wait_for_slow_done(emulator, 1, held=True)
        cloud.close()  # the stop, as the composition root makes it
        refresh.join(10.0)
    assert not refresh.is_alive()
    assert [type(exc) for exc in ended] == [ClosedError]
    assert values(metrics)["token_refreshes_total[result=failed]"] == 0
