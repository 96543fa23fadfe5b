"""The station's host name and IPv4 addresses, for the technician menu's network page.

Reads the kernel's interface list with the standard library only (no traffic leaves the host);
loopback is left out. On a system where the ioctl is not available the list is just empty.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct

_SIOCGIFADDR = 0x8915


def _ipv4_of(sock: socket.socket, name: str) -> str | None:
    request = struct.pack("256s", name.encode()[:15])
    try:
        answer = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)
    except OSError:
        return None  # the interface has no IPv4 address (or is down)
    return socket.inet_ntoa(answer[20:24])


def local_network() -> tuple[str, tuple[str, ...]]:
    """``(host name, addresses)``, each address as ``interface: address``."""
    addresses: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _index, name in socket.if_nameindex():
            address = _ipv4_of(sock, name)
            if address is not None and not address.startswith("127."):
                addresses.append(f"{name}: {address}")
    return socket.gethostname(), tuple(addresses)
