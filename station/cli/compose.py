"""The composition root of a running station: configuration to screen, and back down again.

:func:`run_station` builds the layers bottom-up (databases, feedback, cloud, release engine,
core, screen, readers), starts them in that order and stops them in reverse in a ``finally``
(an :class:`~contextlib.ExitStack`). Every owner of stored state (token store, release
journal, directory, audit log, settings, each PIN guard) gets its own SQLite connection:
they run on different threads, and one shared connection would mix their transactions.

It talks to systemd through ``$NOTIFY_SOCKET`` (``READY=1`` once everything runs,
``WATCHDOG=1`` from the loop that keeps the main thread, ``STOPPING=1``). SIGTERM and SIGINT
stop the station cleanly (see :mod:`station.cli.systemd`); so does closing the window, and the
technician menu's restart, which exits with :data:`EXIT_RESTART` for systemd to start us again.

pygame, the drivers and the hardware libraries are imported inside these functions only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from station import __version__
from station.cli.systemd import SdNotify, StopSignals
from station.cloud.contract import POLL_INTERVAL_S
from station.cloud.tokens import BACKOFF_CAP_S, BACKOFF_S
from station.config import Config
from station.core.listener import CoreListener, PairingCodeShown, TechnicianPinNeeded
from station.database import Database
from station.errors import StationError

if TYPE_CHECKING:
    from drivers.readers.base import Reader
    from station.audit import AuditLog
    from station.cli.metrics_feed import MetricsFeed
    from station.cloud.stack import CloudStack
    from station.cloud.tokens import RefreshResult
    from station.core.runtime import Station
    from station.core.state import Tuning
    from station.directory import Directory
    from station.feedback import Feedback
    from station.metrics import Metrics
    from station.pin import Pins
    from station.release import ReleaseEngine
    from ui.kiosk import StationUi

log = logging.getLogger(__name__)

EXIT_RESTART = 75  # EX_TEMPFAIL: asked to restart; systemd's Restart=always starts us again
RELEASE_POLL_S = 2.0  # pause between status checks of one released job
# The longest pause between health probes while ezeep cannot be reached. With each probe request
# ending within [cloud] probe_deadline_s (1 s), the station is back online within about 3 s
# of the network returning, whatever moment it returns at (issue 13).
PROBE_RETRY_CAP_S = 1.5
CLOUD_WORKERS = 6  # threads for the core's work that talks to ezeep
LAST_CONTACT = "release_station_cloud_last_contact_timestamp_seconds"


@dataclasses.dataclass
class Hooks:
    """What the demo (or a test) changes about a run.

    :param readers: use these readers instead of the configured ones.
    :param on_key: key presses on the station window.
    :param hint: a message shown at the bottom of the window (see ``ui.kiosk.DEMO_HINT``).
    :param listeners: also hear the core's events (on the core thread; must not block).
    """

    readers: list[Reader] | None = None
    on_key: Callable[[str], None] | None = None
    hint: str = ""
    listeners: list[CoreListener] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Seams:
    """What a test moves in the station :func:`build_station` wires. Every default is the
    running station's own, so ``Seams()`` changes nothing.

    :param clock: the core's monotonic clock (timers, deadlines, a session's idle time).
    :param token_clock: the monotonic clock the token store and keeper read expiry against.
    :param refresh_backoff_s: the token keeper's first pause between refresh tries and its longest.
    :param pins: makes the PIN guard on its own connection (a test moves its clock or wraps it).
    :param feedback: shows the patterns instead of what ``[feedback]`` wires (LEDs, buzzer).
    :param retune: changes the :class:`~station.core.state.Tuning` the configuration gives
        (the timings no configuration key sets).
    :param release_poll_s: the pause between status checks of one released job.
    :param in_doubt_s: the release quarantine window; None: ``[cloud] in_doubt_s``.
    :param pair_poll_s: the pause between asks whether the pairing code was approved.
    :param workers: threads for the core's work that talks to ezeep.
    :param warm_print: open the print host's connections while the job list is on its way
        (False: the releases open them; ``bench.release --field`` compares the two).
    """

    clock: Callable[[], float] = time.monotonic
    token_clock: Callable[[], float] = time.monotonic
    refresh_backoff_s: tuple[float, float] = (BACKOFF_S, BACKOFF_CAP_S)
    pins: Callable[[Database], Pins] | None = None
    feedback: Feedback | None = None
    retune: Callable[[Tuning], Tuning] | None = None
    release_poll_s: float = RELEASE_POLL_S
    in_doubt_s: float | None = None
    pair_poll_s: float = POLL_INTERVAL_S
    workers: int = CLOUD_WORKERS
    warm_print: bool = True


@dataclasses.dataclass(frozen=True)
class BuiltStation:
    """The station :func:`build_station` wired (not started), and the parts of it that keep
    its stored state (tests look at them through these, never through the station)."""

    station: Station
    cloud: CloudStack
    releases: ReleaseEngine
    directory: Directory
    audit: AuditLog
    pins: Pins


def build_station(
    config: Config,
    stack: contextlib.ExitStack,
    *,
    restart: Callable[[], None],
    metrics: Metrics | None = None,
    readers: Sequence[Reader] = (),
    stopping: contextlib.ExitStack | None = None,
    seams: Seams = Seams(),
) -> BuiltStation:
    """Databases, feedback, cloud, release engine and core for ``config``; cleanups go on ``stack``.

    The core and the release engine get the impatient cloud client: a person is waiting on
    their calls. With ``metrics``, every answer from ezeep sets the last-contact gauge.
    ``readers`` are the badge readers the station will run; the feedback uses the ones with
    their own LED and buzzer. ``stopping`` gets what must come first at a stop, before the core
    waits for its work: closing the connection to ezeep, which cuts requests in flight.
    ``seams``: what a test moves (clocks, timings, the feedback); the default moves nothing.
    """
    from drivers.feedback import build_feedback
    from drivers.hardware_id import KEEP_FILE, hardware_id
    from drivers.transforms import chains_from_config
    from station.audit import AuditLog
    from station.cloud.http import CloudHttp
    from station.cloud.stack import CloudStack
    from station.core.audit_trail import AuditTrail
    from station.core.runtime import Station
    from station.core.state import Identity, Tuning
    from station.core.worker import Worker
    from station.database import open_database
    from station.directory import email_resolver
    from station.directory_sources import facts_reader, synced_directory
    from station.events import BadgeRead
    from station.pin import Pins
    from station.pin_handoff import handoff_path, import_handoff
    from station.ratelimit import RateLimiter
    from station.release import ReleaseEngine
    from station.settings import StationSettings

    chains = chains_from_config(config.transforms, config.source)  # a broken chain stops start-up

    def connection() -> Database:
        db = open_database(config.database_path)
        stack.callback(db.close)
        return db

    tokens_db = connection()  # also creates the state directory the hardware id is kept in
    pins = (seams.pins or Pins)(connection())
    handoff = handoff_path(config.source)
    if handoff is not None:
        import_handoff(handoff, pins)  # the technician PIN from the first-boot files
    hw = hardware_id(override=config.station.hardware_id, remember=config.state_dir / KEEP_FILE)
    feedback = seams.feedback
    if feedback is None:
        feedback = build_feedback(config.feedback, readers=readers, source=config.source)
    stack.callback(feedback.close)
    on_answer = None if metrics is None else partial(_contact, metrics)
    http = CloudHttp.from_config(config.cloud, on_answer=on_answer)
    if stopping is not None:
        stopping.callback(http.close)
    cloud = stack.enter_context(
        CloudStack.create(
            http,
            tokens_db,
            hardware_id=hw,
            cloud=config.cloud,
            poll_interval_s=seams.pair_poll_s,
            token_clock=seams.token_clock,
            refresh_backoff_s=seams.refresh_backoff_s,
            on_refresh=None if metrics is None else _refresh_counter(metrics),
        )
    )
    client = cloud.client.impatient()
    # Closed after the station stops: the station waits for its release calls to end.
    releaser = stack.enter_context(
        contextlib.closing(
            ReleaseEngine(
                client,
                connection(),
                parallelism=config.cloud.release_parallelism,
                job_timeout_s=config.cloud.job_timeout_s,
                poll_interval_s=seams.release_poll_s,
                in_doubt_s=config.cloud.in_doubt_s if seams.in_doubt_s is None else seams.in_doubt_s,
                warm_print=seams.warm_print,
            )
        )
    )

    def identify(read: BadgeRead) -> str:
        return chains[read.reader_kind].apply(read.canonical_id)

    audit = AuditLog(connection())
    trail = AuditTrail(audit)
    stack.callback(trail.close)  # after the station stops: what it announced last is written
    # With a [directory] source, kept in step with it on its own thread (station.directory_sources).
    directory = synced_directory(
        config.directory,
        connection,
        email_resolver(cloud.client),
        stack,
        metrics=metrics,
    )
    worker = Worker(
        cloud=client.probing(config.cloud.probe_deadline_s),  # its station_printer() is the probe
        tokens=cloud.keeper,
        pairer=cloud.pairer,
        releaser=releaser,
        directory=directory,
        audit=audit,
        settings=StationSettings(connection(), config),
        pins=pins,
        limiter=RateLimiter(),
        hardware_id=hw,
        clock=seams.clock,
        directory_facts=facts_reader(config.directory, connection()),
    )
    tuning = Tuning(
        self_enrolment=config.enrolment.self_service,
        confirm_tap_s=config.enrolment.confirm_tap_s,
        max_badges_per_user=config.enrolment.max_badges_per_user,
        retry_cap_s=PROBE_RETRY_CAP_S,
    )
    station = Station(
        worker,
        feedback=feedback,
        identify=identify,
        identity=Identity(station_name=config.station.name, hardware_id=hw, version=__version__),
        tuning=tuning if seams.retune is None else seams.retune(tuning),
        restart=restart,
        workers=seams.workers,
    )
    station.listen(trail)
    return BuiltStation(station, cloud, releaser, directory, audit, pins)


def _contact(metrics: Metrics) -> None:
    metrics.set(LAST_CONTACT, time.time())


def _refresh_counter(metrics: Metrics) -> Callable[[RefreshResult], None]:
    from station.cli.metrics_feed import count_refreshes

    return count_refreshes(metrics)


def make_metrics(config: Config) -> Metrics | None:
    """The metrics, when ``[metrics] textfile_dir`` asks for a file for node_exporter."""
    if not config.metrics.textfile_dir:
        return None
    from station.metrics import Metrics

    return Metrics()


def start_metrics(
    station: Station, metrics: Metrics, config: Config, stack: contextlib.ExitStack
) -> MetricsFeed:
    """Count what the station does and write the metrics file until the end of ``stack``."""
    from station import host_facts
    from station.cli.metrics_feed import MetricsFeed, record_host
    from station.metrics import TextfileWriter
    from station.update import record as update_record

    feed = MetricsFeed(metrics, __version__)
    station.listen(feed)
    station.subscribe(feed.view)
    record_host(
        metrics,
        cmdlines=host_facts.KERNEL_CMDLINES,
        update_record=update_record.PATH,
        slot_record=host_facts.SLOT_RECORD,
    )
    writer = TextfileWriter(metrics, Path(config.metrics.textfile_dir), interval_s=config.metrics.interval_s)
    writer.start()
    stack.callback(writer.stop)  # it writes a last time
    return feed


def hold_session_lock(station: Station, stack: contextlib.ExitStack, environ: Mapping[str, str]) -> None:
    """While someone's session runs, hold the lock an update's reboot waits for
    (:mod:`station.update.busy`); only under systemd, in the unit's ``RuntimeDirectory``."""
    runtime = environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if not runtime:
        return
    from station.update.busy import LOCK_FILE, SessionLock

    lock = SessionLock(Path(runtime) / LOCK_FILE.name)
    station.subscribe(lock.view)
    stack.callback(lock.close)


def start_readers(
    station: Station,
    config: Config,
    stack: contextlib.ExitStack,
    readers: Sequence[Reader],
    feed: MetricsFeed | None,
) -> None:
    """Each reader on its own thread, its reads filtered, into the core's queue."""
    from drivers.badges import BadgeFilter
    from drivers.readers.base import ReaderThread

    section = config.reader
    for reader in readers:
        sink = BadgeFilter(station.submit, section.repeat_s, section.min_uid_bytes, reader.detects_removal)
        thread = ReaderThread(reader, sink if feed is None else feed.reader_sink(sink))
        thread.start()
        stack.callback(thread.stop)


def _open_readers(config: Config) -> list[Reader]:
    from drivers.readers.auto import open_readers

    return open_readers(config.reader)


class PairingAnnouncer(CoreListener):
    """Calls ``say`` once for each new pairing code."""

    def __init__(self, say: Callable[[PairingCodeShown], None]) -> None:
        self._say = say
        self._shown: set[str] = set()

    def pairing_code_shown(self, event: PairingCodeShown) -> None:
        if event.code not in self._shown:
            self._shown.add(event.code)
            self._say(event)


def _log_pairing(event: PairingCodeShown) -> None:
    # Headless there is no screen to show the code on; it lives minutes and binds nothing alone.
    log.info("to pair this station, open %s (pairing code %s)", event.auth_url, event.code)


class MissingPinLog(CoreListener):
    """Headless nobody can choose the PIN on a screen: say how, once per wait."""

    def technician_pin_needed(self, event: TechnicianPinNeeded) -> None:
        log.warning(
            "this station has no technician PIN and shows no pairing code before it has one: "
            "set it with `release-station pin set` (or [technician] pin_hash in system.toml)"
        )


def run_station(config: Config, *, headless: bool = False, hooks: Hooks | None = None) -> int:
    """Run until SIGTERM, SIGINT, a closed window or a restart request; returns the exit code."""
    hooks = hooks or Hooks()
    notify = SdNotify()
    stop = threading.Event()
    restarting = threading.Event()
    quit_ui: list[Callable[[], None]] = []

    def stop_all() -> None:
        stop.set()
        for ask in list(quit_ui):
            ask()

    def restart() -> None:
        restarting.set()
        stop_all()

    with StopSignals(lambda signum: stop_all()), contextlib.ExitStack() as stack:
        metrics = make_metrics(config)
        readers = hooks.readers if hooks.readers is not None else _open_readers(config)
        cut = contextlib.ExitStack()
        station = build_station(
            config, stack, restart=restart, metrics=metrics, readers=readers, stopping=cut
        ).station
        ui = None if headless else _build_ui(config, station, stack, hooks, notify)
        if ui is not None:
            quit_ui.append(ui.quit)
            station.subscribe(ui.post_view)
        else:
            station.listen(PairingAnnouncer(_log_pairing))
            station.listen(MissingPinLog())
        for listener in hooks.listeners:
            station.listen(listener)
        feed = None if metrics is None else start_metrics(station, metrics, config, stack)
        hold_session_lock(station, stack, os.environ)
        station.start()
        stack.callback(station.stop)
        stack.enter_context(cut)  # first: requests stuck in flight end, so the work can commit and stop
        start_readers(station, config, stack, readers, feed)
        notify.send("READY=1")
        log.info("station running (%s)", "headless" if ui is None else "with screen")
        if ui is not None:
            ui.show(station.view)
            ui.run(until=stop.is_set)
            quit_ui.clear()  # the screen goes away below; a late signal must not post to it
        else:
            while not stop.wait(notify.ping_every_s):
                notify.send("WATCHDOG=1")
        notify.send("STOPPING=1")
        log.info("stopping")
    log.info("station stopped")
    return EXIT_RESTART if restarting.is_set() else 0


def _build_ui(
    config: Config, station: Station, stack: contextlib.ExitStack, hooks: Hooks, notify: SdNotify
) -> StationUi:
    """The screen on the main thread."""
    import pygame

    from ui.display import Display
    from ui.kiosk import StationUi

    try:
        display = Display(
            resolution=config.ui.resolution,
            rotation=config.ui.rotation,
            fullscreen=config.ui.fullscreen,
            title=config.station.name,
        )
    except pygame.error as exc:
        raise StationError(
            f"cannot open the screen: {exc} (with --headless the station runs without)"
        ) from exc
    stack.callback(display.close)
    every = notify.ping_every_s
    return StationUi(
        display=display,
        submit=station.submit,
        dim_after_s=config.ui.dim_after_s,
        on_key=hooks.on_key,
        hint=hooks.hint,
        heartbeat=(every, partial(_ping, notify)) if every else None,
    )


def _ping(notify: SdNotify) -> None:
    notify.send("WATCHDOG=1")
