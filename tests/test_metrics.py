"""The metrics writer: Prometheus text that prometheus_client's own parser reads back, written atomically."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from station.metrics import FAMILIES, FILENAME, REFRESH_S, Metrics, TextfileWriter, render
from tests.support.core_rig import wait_until


def _parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_counters_gauges_and_states_render_as_prometheus_text() -> None:
    metrics = Metrics()
    metrics.set("release_station_info", 1, version="0.1.0")
    metrics.inc("release_station_taps_total", result="known")
    metrics.inc("release_station_taps_total", result="known")
    metrics.inc("release_station_taps_total", result="unknown")
    metrics.inc("release_station_releases_total", 3, outcome="printed")
    metrics.set_state("release_station_token_state", "paired", ("paired", "unpaired", "needs_repair"))
    metrics.set("release_station_reader_up", 1, reader="ACS ACR122U 00 00")
    metrics.set("release_station_cloud_last_contact_timestamp_seconds", 1764316800.25)

    text = render(metrics.samples())
    values = _parse(text)

    assert values[("release_station_taps_total", (("result", "known"),))] == 2
    assert values[("release_station_taps_total", (("result", "unknown"),))] == 1
    assert values[("release_station_releases_total", (("outcome", "printed"),))] == 3
    assert values[("release_station_token_state", (("state", "paired"),))] == 1
    assert values[("release_station_token_state", (("state", "needs_repair"),))] == 0
    assert values[("release_station_reader_up", (("reader", "ACS ACR122U 00 00"),))] == 1
    assert values[("release_station_cloud_last_contact_timestamp_seconds", ())] == 1764316800.25
    assert text.count("# TYPE release_station_taps_total counter") == 1
    assert "# TYPE release_station_token_state gauge" in text


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.set("release_station_reader_up", 0, reader='odd "name"\\with\nnewline')
    values = _parse(render(metrics.samples()))
    assert values[("release_station_reader_up", (("reader", 'odd "name"\\with\nnewline'),))] == 0


def test_unknown_names_wrong_kinds_and_negative_counts_raise() -> None:
    metrics = Metrics()
    with pytest.raises(KeyError, match="release_station_tapz_total"):
        metrics.inc("release_station_tapz_total")
    with pytest.raises(TypeError, match="counter"):
        metrics.set("release_station_taps_total", 5)
    with pytest.raises(TypeError, match="gauge"):
        metrics.inc("release_station_reader_up")
    with pytest.raises(ValueError, match="only goes up"):
        metrics.inc("release_station_failures_total", -1, kind="cloud")


def test_every_family_has_help_and_a_prometheus_name() -> None:
    for name, family in FAMILIES.items():
        assert name.startswith("release_station_")
        assert family.help.strip()
        assert name.endswith("_total") == (family.kind == "counter")


def test_counting_from_many_threads_loses_nothing() -> None:
    metrics = Metrics()

    def tap() -> None:
        for _ in range(500):
            metrics.inc("release_station_taps_total", result="known")

    threads = [threading.Thread(target=tap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.samples()[0].value == 2000


def test_writer_replaces_the_file_atomically_and_writes_at_stop(tmp_path: Path) -> None:
    metrics = Metrics()
    writer = TextfileWriter(metrics, tmp_path, interval_s=3600)
    writer.start()
    metrics.inc("release_station_failures_total", kind="reader")
    writer.stop()  # the last write happens at stop, however long the interval

    path = tmp_path / FILENAME
    assert writer.path == path
    assert _parse(path.read_text())[("release_station_failures_total", (("kind", "reader"),))] == 1
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME]  # no temporary file left

    inode = path.stat().st_ino
    assert writer.write()
    assert path.stat().st_ino != inode  # a new file renamed over the old: readers never see half


def test_only_a_change_counts_and_the_writer_writes_it(tmp_path: Path) -> None:
    metrics = Metrics()
    metrics.set("release_station_reader_up", 1, reader="wedge")
    version = metrics.wait_for_change(None, lambda: True)
    metrics.set("release_station_reader_up", 1, reader="wedge")  # the same value: nothing to write
    metrics.set_state("release_station_token_state", "paired", ["paired", "unpaired"])
    changed = metrics.wait_for_change(version, lambda: False)  # returns: the state set changed
    assert changed > version
    assert metrics.wait_for_change(changed, lambda: True) == changed  # no change since

    writer = TextfileWriter(metrics, tmp_path, interval_s=0.01)
    writer.start()
    path = tmp_path / FILENAME
    wait_until(lambda: path.exists() and "wedge" in path.read_text())
    metrics.set("release_station_reader_up", 0, reader="wedge")  # the writer wakes for it
    key = ("release_station_reader_up", (("reader", "wedge"),))
    wait_until(lambda: _parse(path.read_text()).get(key) == 0)
    writer.stop()


def test_a_failed_write_is_reported_and_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "not-yet"
    writer = TextfileWriter(Metrics(), missing, interval_s=3600)
    assert not writer.write()
    assert not writer.write()
    assert sum("cannot write the metrics file" in r.getMessage() for r in caplog.records) == 1
    os.mkdir(missing)
    assert writer.write()
    assert (missing / FILENAME).read_text() == ""


def test_an_unchanged_file_is_still_rewritten_so_its_age_says_the_station_runs(tmp_path: Path) -> None:
    # An idle or offline station changes nothing for hours; StationSoftwareDown reads the file's age.
    metrics = Metrics()
    metrics.set("release_station_cloud_up", 0)
    writer = TextfileWriter(metrics, tmp_path, interval_s=0.01, refresh_s=0.05)
    path = tmp_path / FILENAME
    writer.start()
    wait_until(path.exists)
    first = path.stat().st_mtime_ns
    wait_until(lambda: path.stat().st_mtime_ns > first)  # rewritten, nothing changed
    writer.stop()
    assert _parse(path.read_text()) == {("release_station_cloud_up", ()): 0}


def test_the_refresh_is_never_rarer_than_every_two_minutes_nor_than_the_interval(tmp_path: Path) -> None:
    assert REFRESH_S == 120
    slow = TextfileWriter(Metrics(), tmp_path, interval_s=600)
    fast = TextfileWriter(Metrics(), tmp_path, interval_s=30)
    assert (slow.refresh_s, fast.refresh_s) == (600, REFRESH_S)
