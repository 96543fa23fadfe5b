#!/usr/bin/python3
"""Boot test only: an NTP server on the guest's loopback that asks the build host.

QEMU's user network carries no UDP to the host, so each NTP request (48 bytes) travels over
a TCP connection to 10.0.2.100:123, which QEMU hands to ``run_qemu.py --ntp`` on the host;
the answer carries the host's clock. systemd-timesyncd is pointed here by the first-boot
``system.toml`` (``[time] ntp``), so the station's time-sync gate opens on a real answer.
"""

import socket
import sys
import time

HOST = ("10.0.2.100", 123)


def ask_host(request: bytes) -> bytes | None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the guest's network may still be coming up
        try:
            with socket.create_connection(HOST, timeout=2) as conn:
                conn.sendall(request)
                answer = b""
                while len(answer) < 48:
                    chunk = conn.recv(48 - len(answer))
                    if not chunk:
                        break
                    answer += chunk
                return answer if len(answer) == 48 else None
        except OSError:
            time.sleep(0.5)
    return None


def main() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 123))
        while True:
            request, client = server.recvfrom(512)
            answer = ask_host(request[:48]) if len(request) >= 48 else None
            if answer:
                server.sendto(answer, client)
            else:
                print("no answer from the build host", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
