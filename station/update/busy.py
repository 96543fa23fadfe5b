"""The lock that says someone's session runs, so that an update's reboot waits for its end.

The station holds an exclusive ``flock`` on :data:`LOCK_FILE` while someone uses it: a badge was
tapped, jobs are picked or released, a person enrols, a technician is in the menu or someone
chooses a release PIN. Not while it starts, waits to be paired or for the first technician PIN
(either may last for days: a fresh station shows that PIN screen by itself) or shows its idle
screen.
:class:`SessionLock` follows the views the station publishes. The updater takes the same lock
before it reboots (:func:`wait_for_no_session`): the kernel hands it over the moment the session
ends, with no polling, and while the updater holds it a new tap cannot take it (the station then
goes on without it: the reboot comes within a second). The lock dies with its holder, so a
station that crashed never blocks an update.

Chosen over reading the metrics file's state gauge (written at most every ``interval_s``, and
only when metrics are switched on) and over a logind inhibitor lock (the station would need
D-Bus and logind's blessing; ``systemctl reboot`` as root overrides it anyway).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import typing
from collections.abc import Iterator
from pathlib import Path

from station.core.health import Idle, IdleFace
from station.core.pins import waits_unattended_for_technician
from station.core.state import Booting
from station.core.view import View

log = logging.getLogger(__name__)

LOCK_FILE = Path("/run/release-station/session.lock")
# The modes in which no one is at the station (a view shows the idle mode as one of its faces),
# besides the screens that wait for a technician before pairing.
NOBODY = (Booting, Idle, *typing.get_args(IdleFace))


def _someone_there(view: View) -> bool:
    """Whether the view shows someone at the station: not while it starts or idles, nor on the
    technician PIN screen or pairing (:func:`~station.core.pins.waits_unattended_for_technician`:
    the station enters them by itself and they wait, unattended, for a technician)."""
    mode = view.mode
    return not (waits_unattended_for_technician(mode) or isinstance(mode, NOBODY))


class SessionLock:
    """The station's side: holds the lock while a view shows someone at the station."""

    def __init__(self, path: Path = LOCK_FILE) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._held = False

    def view(self, view: View) -> None:
        """A view subscriber (:meth:`~station.core.runtime.Station.subscribe`)."""
        busy = _someone_there(view)
        if busy and not self._held:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.warning("an update is about to restart the station")
                return
            self._held = True
        elif not busy and self._held:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._held = False

    def close(self) -> None:
        os.close(self._fd)


@contextlib.contextmanager
def wait_for_no_session(path: Path = LOCK_FILE) -> Iterator[None]:
    """The updater's side: returns once no session runs, and keeps new ones from taking the
    lock until the block ends (the reboot is asked for inside it). No lock file: no station runs."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("a session runs at the station: the reboot waits for its end")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
