"""The simulated reader: badges from code, from demo keys and from a Unix socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.readers.base import ReaderError, ReaderThread, StopEvent
from drivers.readers.simulated import DEMO_KEYS, SimulatedReader
from tests.support.reader_helpers import WAIT_S, Sink


@pytest.fixture
def running() -> Iterator[tuple[SimulatedReader, Sink]]:
    reader = SimulatedReader()
    sink = Sink()
    with ReaderThread(reader, sink):
        assert sink.next_health().ok
        yield reader, sink


def test_tap_from_code_reaches_the_sink(running: tuple[SimulatedReader, Sink]) -> None:
    reader, sink = running
    reader.tap(bytes.fromhex("04a1b2c3d4e501"))
    read = sink.next_read()
    assert read.uid == bytes.fromhex("04A1B2C3D4E501")
    assert read.canonical_id == "04A1B2C3D4E501"
    assert read.raw == "04A1B2C3D4E501"
    assert read.reader_kind == "simulated"
    assert "04A1" not in repr(read)


def test_each_tap_is_one_read_and_a_present_card_is_read_once(
    running: tuple[SimulatedReader, Sink],
) -> None:
    reader, sink = running
    card, other = bytes.fromhex("946EBD28"), bytes.fromhex("E43AC9D2")
    reader.tap(card)
    reader.tap(card)
    reader.present(other)
    reader.present(other)  # still lying there: no new read
    reader.remove()
    reader.present(other)
    reader.tap(card, raw="2490285352")
    got = [sink.next_read() for _ in range(5)]
    assert [r.uid for r in got] == [card, card, other, other, card]
    assert got[-1].raw == "2490285352"
    assert sink.drain() == []


def test_taps_before_start_are_delivered_when_it_runs() -> None:
    reader, sink = SimulatedReader(clock=lambda: 42.0), Sink()
    reader.tap(b"\x01\x02\x03\x04")
    with ReaderThread(reader, sink):
        read = sink.next_read()
    assert read.uid == b"\x01\x02\x03\x04"
    assert read.at == 42.0


def test_demo_keys(running: tuple[SimulatedReader, Sink]) -> None:
    reader, sink = running
    assert reader.key("1")
    assert reader.key("R")
    assert not reader.key("x")
    assert sink.next_read().uid == DEMO_KEYS["1"]
    random = sink.next_read()
    assert random.is_random_uid
    assert len(DEMO_KEYS["s"]) < 4


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("tap 0G", "hex digits"),
        ("tap", "no card number"),
        ("key ?", "no demo badge"),
        ("hello", "hex digits"),
    ],
)
def test_bad_commands_say_why(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulatedReader().command(line)


def _ask(path: Path, text: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(WAIT_S)
        conn.connect(str(path))
        conn.sendall(text)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
        return answer


def test_socket_commands(tmp_path: Path) -> None:
    path = tmp_path / "reader.sock"
    reader, sink = SimulatedReader(socket_path=str(path)), Sink()
    with ReaderThread(reader, sink):
        assert sink.next_health().ok
        assert (path.stat().st_mode & 0o777) == 0o600
        lines = ["tap 04:A1:B2:C3", "", "present E4 3A C9 D2", "present E43AC9D2", "remove", "bogus", "key 2"]
        answer = _ask(path, "".join(f"{line}\n" for line in lines).encode()).decode().splitlines()
        bad_hex = "error: a card number is an even number of hex digits, like 04A1B2C3"
        assert answer == ["ok", "ok", "ok", "ok", bad_hex, "ok"]
        reads = [sink.next_read() for _ in range(3)]
    assert [r.canonical_id for r in reads] == ["04A1B2C3", "E43AC9D2", DEMO_KEYS["2"].hex().upper()]
    assert not path.exists()


def test_socket_refuses_overlong_lines(tmp_path: Path) -> None:
    path = tmp_path / "reader.sock"
    reader, sink = SimulatedReader(socket_path=str(path)), Sink()
    with ReaderThread(reader, sink):
        sink.next_health()
        assert _ask(path, b"A" * 300).endswith(b"error: line too long\n")
        assert _ask(path, b"946EBD28\n") == b"ok\n"
        assert sink.next_read().canonical_id == "946EBD28"


def test_a_stale_socket_is_replaced_but_a_file_is_not(tmp_path: Path) -> None:
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as old:
        old.bind(str(stale))
    reader, sink = SimulatedReader(socket_path=str(stale)), Sink()
    with ReaderThread(reader, sink):
        assert sink.next_health().ok
    plain = tmp_path / "notes.txt"
    plain.write_text("keep me")
    stop = StopEvent()
    with pytest.raises(ReaderError, match="not a socket"):
        SimulatedReader(socket_path=str(plain)).run(Sink(), stop)
    assert plain.read_text() == "keep me"


def test_stop_ends_run_and_detaches(tmp_path: Path) -> None:
    reader, sink = SimulatedReader(), Sink()
    thread = ReaderThread(reader, sink)
    thread.start()
    sink.next_health()
    thread.stop()
    assert not thread.alive
    reader.tap(b"\x01\x02\x03\x04")  # queued for a later run, no error
