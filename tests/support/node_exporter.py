"""A real node_exporter (Debian's ``prometheus-node-exporter``) on loopback, reading a textfile
directory as it does on the station.

The test binds the listening socket itself and hands it over by systemd's socket activation
(``--web.systemd-socket``): the port is known and already accepting before node_exporter runs,
so nothing waits for it to come up. Only the collectors the fleet's rules read are on (textfile,
timex, filesystem, stat). Needs ``prometheus-node-exporter`` (``.ci/dev`` installs it).

Example::

    with serving(textfile_dir) as url:
        text = scrape(url)  # the Prometheus text node_exporter serves
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BINARY = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
COLLECTORS = ("textfile", "timex", "filesystem", "stat")


def available() -> bool:
    return Path(BINARY).exists()


@contextlib.contextmanager
def serving(textfile_dir: Path) -> Iterator[str]:
    """node_exporter serving ``textfile_dir`` (its textfile collector) on loopback; yields its URL."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/metrics"
        fd = listener.fileno()
        # LISTEN_PID must be node_exporter's own pid: the shell sets it, then becomes it.
        command = (
            'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --web.systemd-socket --collector.disable-defaults "$@"'
        )
        process = subprocess.Popen(
            ["sh", "-c", command, BINARY, f"--collector.textfile.directory={textfile_dir}"]
            + [f"--collector.{name}" for name in COLLECTORS],
            # systemd's first passed socket is fd 3; kept open past the child's clean-up of fds
            pass_fds=(3, fd),
            preexec_fn=lambda: os.dup2(fd, 3),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def scrape(url: str) -> str:
    """The Prometheus text node_exporter serves at ``url``."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode())
