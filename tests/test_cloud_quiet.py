"""An idle kept-alive connection's readiness (station.cloud.quiet): the poll's answer, with one
poll for each quiet spell, and a server's close seen through the station's HTTP client."""

from __future__ import annotations

import select
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from station.cloud.http import CloudHttp
from station.cloud.quiet import QuietWatch
from tests.support.cloud import CLIENT_ID
from tests.support.tls_files import LoopbackHttps, json_handler, self_signed

WAIT_S = 10.0


@contextmanager
def connected() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A loopback TCP connection: (the station's end, the server's end)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        with client, server:
            yield client, server


def counted_poll(sock: socket.socket, polls: list[int]) -> Callable[[], bool]:
    def poll() -> bool:
        polls.append(1)
        return bool(select.select([sock], [], [], 0)[0])

    return poll


def until_readable(sock: socket.socket) -> None:
    assert select.select([sock], [], [], WAIT_S)[0], "nothing arrived"


def test_a_quiet_connection_is_polled_once_while_nothing_arrives() -> None:
    with connected() as (client, _server):
        watch, polls = QuietWatch(), list[int]()
        answers = [watch.readable(client, counted_poll(client, polls)) for _ in range(50)]
    assert answers == [False] * 50
    assert len(polls) == 1


def test_bytes_from_the_server_make_it_readable_again() -> None:
    with connected() as (client, server):
        watch, polls = QuietWatch(), list[int]()
        assert not watch.readable(client, counted_poll(client, polls))
        server.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        until_readable(client)
        assert watch.readable(client, counted_poll(client, polls))
        client.recv(1024)  # read (as a request on it would): quiet again
        assert not watch.readable(client, counted_poll(client, polls))
        assert not watch.readable(client, counted_poll(client, polls))
    assert len(polls) == 3


def test_a_close_by_the_server_is_seen_without_a_poll() -> None:
    with connected() as (client, server):
        watch, polls = QuietWatch(), list[int]()
        assert not watch.readable(client, counted_poll(client, polls))
        server.shutdown(socket.SHUT_RDWR)
        until_readable(client)
        assert watch.readable(client, counted_poll(client, polls))
    assert len(polls) == 1  # the kernel's state said it; no bytes came


def test_a_reset_by_the_server_is_seen() -> None:
    with connected() as (client, server):
        watch, polls = QuietWatch(), list[int]()
        assert not watch.readable(client, counted_poll(client, polls))
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.close()  # with a zero linger: a reset, not a close
        until_readable(client)
        assert watch.readable(client, counted_poll(client, polls))


def test_a_socket_that_is_not_tcp_is_polled_every_time() -> None:
    left, right = socket.socketpair()
    with left, right:
        watch, polls = QuietWatch(), list[int]()
        answers = [watch.readable(left, counted_poll(left, polls)) for _ in range(3)]
        right.sendall(b"x")
        until_readable(left)
        answers.append(watch.readable(left, counted_poll(left, polls)))
    assert answers == [False, False, False, True]
    assert len(polls) == 4


def test_a_connection_the_server_closed_while_idle_is_not_used_again(tmp_path: Path) -> None:
    # A server that closes a kept-alive connection after its answer, without saying so in the
    # answer (as one does whose idle timeout is shorter than the client's): the next request
    # must go out on a new connection, not fail on the closed one.
    cert, key = self_signed(tmp_path)
    accepted: list[int] = []
    closed = threading.Event()
    with LoopbackHttps(json_handler(accepted, closed=closed), cert, key) as server:
        url = server.base_url
        with CloudHttp(
            account_url=url, api_url=url, print_url=url, client_id=CLIENT_ID, ca_file=str(cert)
        ) as http:
            first = http.request("GET", "print", "/sfapi/Status/", token="t")
            assert closed.wait(WAIT_S)
            second = http.request("GET", "print", "/sfapi/Status/", token="t")
    assert first == second == {"ok": True}
    assert len(accepted) == 2
