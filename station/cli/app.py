"""The composition root of a running station: configuration to screen, and back down again.

:func:`run_station` builds the layers bottom-up (database, drivers, cloud, core, screen),
starts them in that order and stops them in reverse in a ``finally``. It talks to systemd
through ``$NOTIFY_SOCKET`` (``READY=1`` once the first screen can show, ``WATCHDOG=1`` from the
UI loop, ``STOPPING=1``). SIGTERM stops the station cleanly: with a screen SDL turns it into a
quit event for the UI loop; headless a handler sets the stop event.

:func:`run_demo` is the windowed demo: the embedded ezeep emulator, demo badges enrolled for
the seeded users, a simulated reader driven by the number keys.

pygame, the drivers and the hardware libraries are imported inside these functions only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import tempfile
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from station import __version__
from station.config import Config

if TYPE_CHECKING:
    from drivers.readers.base import Reader
    from station.core.runtime import Station

log = logging.getLogger(__name__)

EXIT_RESTART = 75  # EX_TEMPFAIL: asked to restart; systemd's Restart=always starts us again
DEMO_CLIENT_ID = "release-station-demo"


class SdNotify:
    """``sd_notify`` without libsystemd: datagrams to ``$NOTIFY_SOCKET``; silent when not under systemd.

    :param environ: where ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` come from.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address  # abstract socket
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        wanted = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.watchdog_s: float | None = int(usec) / 1e6 if wanted else None

    def send(self, state: str) -> bool:
        """Send ``state`` (``READY=1``, ``WATCHDOG=1``…); ``False`` when there is no socket."""
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(state.encode())
        except OSError as exc:
            log.warning("cannot notify systemd (%s): %s", state, exc)
            return False
        return True


@dataclasses.dataclass
class Hooks:
    """What the demo (or a test) changes about a run.

    :param readers: use these readers instead of the configured ones.
    :param on_key: key presses on the station window.
    :param hint: a message shown at the bottom of the window (see ``ui.app.DEMO_HINT``).
    :param on_view: also gets every view (on the core thread; must not block).
    :param on_ready: called once everything is running, with the station core.
    """

    readers: list[Reader] | None = None
    on_key: Callable[[str], None] | None = None
    hint: str = ""
    on_view: Callable[[object], None] | None = None
    on_ready: Callable[[Station], None] | None = None


def build_station(config: Config, stack: contextlib.ExitStack, *, restart: Callable[[], None]) -> Station:
    """Database, feedback, cloud and core for ``config``; each layer's cleanup goes on ``stack``."""
    from drivers.feedback import build_feedback
    from drivers.hardware_id import hardware_id
    from drivers.transforms import chains_from_config
    from station.audit import AuditLog
    from station.cloud.http import CloudHttp
    from station.cloud.stack import CloudStack
    from station.core.runtime import Station
    from station.core.state import Tuning
    from station.database import open_database
    from station.directory import Directory
    from station.events import BadgeRead
    from station.pin import PinGuard
    from station.ratelimit import RateLimiter
    from station.release import ReleaseEngine
    from station.settings import StationSettings

    chains = chains_from_config(config.transforms, config.source)
    db = open_database(config.database_path)
    stack.callback(db.close)
    hw = hardware_id(override=config.station.hardware_id)
    feedback = build_feedback(config.feedback, source=config.source)
    stack.callback(feedback.close)
    cloud = stack.enter_context(CloudStack.create(CloudHttp.from_config(config.cloud), db, hardware_id=hw))
    releaser = ReleaseEngine(
        cloud.client,
        db,
        parallelism=config.cloud.release_parallelism,
        job_timeout_s=config.cloud.job_timeout_s,
        poll_interval_s=2.0,
        clock=time.monotonic,
    )

    def identify(read: BadgeRead) -> str:
        return chains[read.reader_kind].apply(read.canonical_id)

    return Station(
        cloud=cloud.client,
        tokens=cloud.keeper,
        pairer=cloud.pairer,
        releaser=releaser,
        directory=Directory(db),
        audit=AuditLog(db),
        settings=StationSettings(db, config),
        pins={"technician": PinGuard(db, "technician"), "release": PinGuard(db, "release")},
        limiter=RateLimiter(),
        feedback=feedback,
        identify=identify,
        tuning=Tuning(station_name=config.station.name, hardware_id=hw, version=__version__),
        restart=restart,
    )


def start_readers(
    station: Station, config: Config, stack: contextlib.ExitStack, readers: list[Reader] | None
) -> None:
    """Each reader on its own thread, its reads filtered, into the core's queue."""
    from drivers.badges import BadgeFilter
    from drivers.readers.auto import open_readers
    from drivers.readers.base import ReaderThread

    for reader in readers if readers is not None else open_readers(config.reader):
        sink = BadgeFilter(
            station.submit, config.reader.repeat_s, config.reader.min_uid_bytes, reader.detects_removal
        )
        thread = ReaderThread(reader, sink)
        thread.start()
        stack.callback(thread.stop)


def run_station(config: Config, *, headless: bool = False, hooks: Hooks | None = None) -> int:
    """Run until SIGTERM, a closed window or a restart request; returns the exit code."""
    hooks = hooks or Hooks()
    notify = SdNotify()
    stop = threading.Event()
    restarting = threading.Event()
    quit_ui: list[Callable[[], None]] = []

    def restart() -> None:
        restarting.set()
        stop.set()
        for ask in quit_ui:
            ask()

    try:
        with contextlib.ExitStack() as stack:
            station = build_station(config, stack, restart=restart)
            ui = None if headless else _build_ui(config, station, stack, hooks)
            if ui is not None:
                quit_ui.append(ui.quit)
                station.subscribe(ui.post_view)
            if hooks.on_view is not None:
                station.subscribe(hooks.on_view)
            station.start()
            stack.callback(station.stop)
            start_readers(station, config, stack, hooks.readers)
            if hooks.on_ready is not None:
                hooks.on_ready(station)
            notify.send("READY=1")
            log.info("station running (%s)", "headless" if ui is None else "with screen")
            if ui is not None:
                ui.show(station.view)
                ui.run()
            else:
                _wait_headless(stop, notify)
            notify.send("STOPPING=1")
    finally:
        log.info("station stopped")
    return EXIT_RESTART if restarting.is_set() else 0


def _build_ui(config: Config, station: Station, stack: contextlib.ExitStack, hooks: Hooks) -> Any:
    """The screen on the main thread; returns the :class:`ui.app.StationUi`."""
    # SDL turns SIGINT and SIGTERM into a quit event only where Python left the default handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from ui.app import StationUi
    from ui.display import Display

    display = Display(
        resolution=config.ui.resolution,
        rotation=config.ui.rotation,
        fullscreen=config.ui.fullscreen,
        title=config.station.name,
    )
    stack.callback(display.close)
    notify = SdNotify()

    def ping() -> None:
        notify.send("WATCHDOG=1")

    heartbeat = (notify.watchdog_s / 2, ping) if notify.watchdog_s else None
    return StationUi(
        display=display,
        submit=station.submit,
        dim_after_s=config.ui.dim_after_s,
        on_key=hooks.on_key,
        hint=hooks.hint,
        heartbeat=heartbeat,
    )


def _wait_headless(stop: threading.Event, notify: SdNotify) -> None:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    interval = notify.watchdog_s / 2 if notify.watchdog_s else None
    while not stop.wait(interval):
        notify.send("WATCHDOG=1")


# --- the windowed demo -------------------------------------------------------------------------

DEMO_BADGE_KEYS = ("1", "2", "3", "4", "5")
UNKNOWN_BADGE_KEY = "9"  # a demo badge left unenrolled: "0" taps it


@contextlib.contextmanager
def demo_config(base: Config, emulator_url: str) -> Iterator[Config]:
    """``base`` pointed at the emulator, a scratch state directory and a simulated reader, windowed."""
    with tempfile.TemporaryDirectory(prefix="release-station-demo-") as scratch:
        yield dataclasses.replace(
            base,
            station=dataclasses.replace(base.station, state_dir=scratch, release_mode="pick"),
            cloud=dataclasses.replace(
                base.cloud,
                account_url=emulator_url,
                api_url=emulator_url,
                print_url=emulator_url,
                client_id=DEMO_CLIENT_ID,
                ca_file="",
            ),
            reader=dataclasses.replace(base.reader, kind="simulated", simulated_socket=""),
            ui=dataclasses.replace(
                base.ui, fullscreen=False, resolution=base.ui.resolution.replace("auto", "800x480")
            ),
        )


def enrol_demo_badges(config: Config, users: list[tuple[str, str]]) -> None:
    """Link demo badges 1 to 5 to the seeded ``(user_id, email)`` pairs, as ``badges add`` would."""
    from drivers.readers.simulated import DEMO_KEYS
    from drivers.transforms import chains_from_config
    from station.database import open_database
    from station.directory import Directory

    chain = chains_from_config(config.transforms, config.source)["simulated"]
    db = open_database(config.database_path)
    try:
        directory = Directory(db)
        for key, (user_id, email) in zip(DEMO_BADGE_KEYS, users, strict=False):
            directory.enrol(
                chain.apply(DEMO_KEYS[key].hex().upper()), user_id, email=email, how="cli", replace=True
            )
    finally:
        db.close()


def run_demo(base: Config, out: TextIO, *, auto_approve: bool = False, open_browser: bool = True) -> int:
    """The emulator, the station window and a simulated reader (keys 1 to 5 known badges, 0 unknown)."""
    from drivers.readers.simulated import SimulatedReader
    from station.core.view import PairingView
    from station.emulator import Emulator
    from ui.app import DEMO_HINT

    with (
        Emulator(poll_interval_s=1, job_duration_s=2.0) as emulator,
        demo_config(base, emulator.url) as config,
    ):
        print(f"ezeep emulator listening on {emulator.url}", file=out)
        if auto_approve:
            emulator.auto_approve_device = emulator.printers[0].id
        enrol_demo_badges(config, [(user.id, user.email) for user in emulator.users])
        reader = SimulatedReader(name="demo keys")
        shown: set[str] = set()

        def on_key(key: str) -> None:
            if key in DEMO_BADGE_KEYS:
                reader.key(key)
            elif key == "0":
                reader.key(UNKNOWN_BADGE_KEY)

        def on_view(view: object) -> None:
            if isinstance(view, PairingView) and view.code not in shown and not auto_approve:
                shown.add(view.code)
                print(
                    f"approve the station: open {view.auth_url} and enter {view.code}", file=out, flush=True
                )
                if open_browser:
                    webbrowser.open(view.qr_url)

        hooks = Hooks(readers=[reader], on_key=on_key, hint=DEMO_HINT, on_view=on_view)
        return run_station(config, hooks=hooks)
