"""Whether a kept-alive connection has heard from its server while idle, asked without a system
call that gives away the interpreter.

httpcore checks every idle connection of its pool each time a request joins or leaves it: a
connection whose server has closed it (or sent anything, which on an idle HTTP/1.1 connection
means it is about to) must not carry the next request. Its check is a ``poll`` of the socket, and
Python releases the interpreter lock around that call. In a tap, ten request threads and the
core take turns at the lock; each poll sent the thread that made it to the back of that line, and
a release reached its write only after many turns (about 310 polls in a 10-job tap; 44 with
this module).

:class:`QuietWatch` gives the same answer as the poll, with one poll for each quiet spell instead
of one for each question. A connection turns readable only when bytes arrive or the server
closes or resets it, and the kernel's ``TCP_INFO`` tells both: the count of bytes received and
the connection's state, read by ``getsockopt``, which keeps the lock. So once a poll found the
connection quiet, the answer stays "quiet" for as long as that count and the established state
stay as they were. Elsewhere than Linux's TCP (a Unix socket, another system), every question
is a poll, as in httpcore.

Example::

    import select
    import socket

    from station.cloud.quiet import QuietWatch

    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        watch = QuietWatch()
        watch.readable(client, lambda: bool(select.select([client], [], [], 0)[0]))  # False: nothing came
        client.close()
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

_TCP_ESTABLISHED = 1  # linux/tcp_states.h
# struct tcp_info (linux/tcp.h): state is its first byte, tcpi_bytes_received the u64 at 128
# (Linux 4.1 and later); what an older kernel gives is shorter, and then every question polls.
_TCP_INFO_SIZE = 136
_BYTES_RECEIVED = struct.Struct("=Q")
_BYTES_RECEIVED_AT = 128


def _tcp_facts(sock: socket.socket) -> tuple[int, int] | None:
    """The connection's TCP state and the bytes it has received; None where the kernel cannot say."""
    option = getattr(socket, "TCP_INFO", None)
    if option is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, option, _TCP_INFO_SIZE)
    except OSError:  # not TCP (a Unix socket), or closed
        return None
    if len(info) < _TCP_INFO_SIZE:
        return None
    return info[0], _BYTES_RECEIVED.unpack_from(info, _BYTES_RECEIVED_AT)[0]


class QuietWatch:
    """The readiness of one connection, polled once for each spell in which nothing arrives."""

    def __init__(self) -> None:
        self._quiet_at: int | None = None  # the byte count at which a poll last found it quiet

    def readable(self, sock: object, poll: Callable[[], bool]) -> bool:
        """Whether ``sock`` has something to read (bytes, or the server's close): what ``poll()``
        answers, calling it only when the kernel says something may have changed."""
        facts = _tcp_facts(sock) if isinstance(sock, socket.socket) else None
        if facts is None:
            return poll()
        state, received = facts
        if state != _TCP_ESTABLISHED:  # closed or reset by the server: the read would say so
            self._quiet_at = None
            return True
        if received == self._quiet_at:
            return False
        # The count is read before the poll: bytes arriving between the two raise it past the
        # count kept, so the next question polls again.
        readable = poll()
        self._quiet_at = None if readable else received
        return readable
