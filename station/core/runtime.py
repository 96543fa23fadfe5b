"""The station core at run time: one thread, one queue, timers, a worker pool, published views.

:class:`Station` owns the state. Everything that happens reaches it through :meth:`Station.submit`
(badge reads and reader health from the drivers, intents from the UI; results of work come back
the same way). The core thread takes one event at a time, runs the pure transition
(:func:`station.core.machine.step`), plays its feedback patterns and tells its events to the
listeners (:mod:`station.core.listener`), publishes the new view to every subscriber if it
changed, and then performs the other effects: timers, then work handed to a small thread pool.
So a tap is acknowledged (pattern and view) before any network call starts, and nothing slow
ever runs on the core thread.

Work that only touches the station's own database (the start-up load, badge lookups, PINs)
has a thread of its own, so a slow ezeep holding every pool thread never keeps a tapped badge
from being looked up or a PIN set from the command line from being seen. At most one
``ReadPins`` is queued or running: a poll that comes while one is pending is skipped.

Timers live in a heap; the thread sleeps in ``Queue.get(timeout=…)`` until the next one is due
or an event arrives: no polling, no sleeping. If a transition raises (a bug), the error is
logged and the station goes home, which forgets the user on screen.

Example: the wiring :func:`station.cli.compose.run_station` does, on the ezeep emulator. Views
reach the screen through its ``post_view``: the core thread only posts them, the screen draws
on its own (here the main) thread. Readers hand their reads to ``station.submit`` the same way
(:class:`drivers.readers.base.ReaderThread`). This one stops after the first frame; a kiosk
runs until the window is closed::

    import contextlib
    import tempfile
    import threading

    from station.cli.compose import build_station
    from station.config import parse_config
    from station.emulator import Emulator
    from ui.kiosk import StationUi
    from ui.display import Display

    with Emulator() as emulator, contextlib.ExitStack() as stack:
        config = parse_config(f'''
            [station]
            state_dir = "{tempfile.mkdtemp()}"
            [cloud]
            account_url = "{emulator.url}"
            api_url = "{emulator.url}"
            print_url = "{emulator.url}"
            client_id = "example"
        ''')
        station = build_station(config, stack, restart=lambda: None).station
        display = Display(resolution="800x480", rotation=0, fullscreen=False, title="example")
        stack.callback(display.close)
        drawn = threading.Event()
        ui = StationUi(display=display, submit=station.submit, on_frame=lambda view: drawn.set())
        station.subscribe(ui.post_view)
        station.start()
        stack.callback(station.stop)
        ui.run(until=drawn.is_set)
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from typing import Final

from station.core import exits, machine
from station.core import messages as m
from station.core.health import view_of
from station.core.intents import Intent
from station.core.listener import CoreListener, announce
from station.core.ports import Identify
from station.core.state import CoreState, Identity, Tick, Tuning
from station.core.view import View
from station.core.worker import Worker
from station.errors import StationError
from station.events import BadgeRead, ReaderHealth
from station.feedback import Feedback

log = logging.getLogger(__name__)

Subscriber = Callable[[View], None]
Submittable = BadgeRead | ReaderHealth | Intent | m.WorkResult

_STOP: Final = object()

_LOCAL: Final = (m.LoadStart, m.ReadPins, m.Lookup, m.CheckPin, m.SavePin, m.SwitchReleasePins)
"""Work that touches only the station's database; it runs on its own thread, never behind ezeep."""


class StationStateError(StationError):
    """The station was used outside its lifecycle (started twice, used after stop)."""


class _Timers:
    """One pending timer per key; setting a key again replaces it. Core thread only."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, m.TimerKey]] = []
        self._current: dict[m.TimerKey, tuple[int, int]] = {}  # key -> (sequence, ticket)
        self._sequence = itertools.count()

    def set(self, timer: m.SetTimer) -> None:
        sequence = next(self._sequence)
        self._current[timer.key] = (sequence, timer.ticket)
        heapq.heappush(self._heap, (timer.at, sequence, timer.key))

    def wait_s(self, now: float) -> float | None:
        """Seconds until the next live timer (None: no timer)."""
        while self._heap:
            at, sequence, key = self._heap[0]
            if self._current.get(key, (None,))[0] == sequence:
                return max(0.0, at - now)
            heapq.heappop(self._heap)  # replaced: drop it
        return None

    def due(self, now: float) -> list[m.TimerFired]:
        fired: list[m.TimerFired] = []
        while self._heap and self._heap[0][0] <= now:
            _at, sequence, key = heapq.heappop(self._heap)
            current = self._current.get(key)
            if current is not None and current[0] == sequence:
                del self._current[key]
                fired.append(m.TimerFired(key, current[1]))
        return fired


class Station:
    """The station core: owns all state on its own thread and publishes a view after each change.

    :param worker: does the work transitions ask for, with the collaborators it holds (see
        :class:`~station.core.worker.Worker`); its clock is the station's clock (monotonic
        seconds, the clock the views' deadlines are read against).
    :param feedback: LED and buzzer.
    :param identify: turns a read into the badge id (the reader kind's transform chain).
    :param identity: name, hardware id and version; see :class:`~station.core.state.Identity`.
    :param tuning: enrolment rules and timing; see :class:`~station.core.state.Tuning`.
    :param restart: how to restart the program (technician menu); None: not offered.
    :param rand: uniform [0, 1) numbers for retry jitter.
    :param workers: threads for work that talks to ezeep (pairing and enrolment waits each hold
        one while waiting); local work has one more thread of its own.
    """

    def __init__(
        self,
        worker: Worker,
        *,
        feedback: Feedback,
        identify: Identify,
        identity: Identity | None = None,
        tuning: Tuning | None = None,
        restart: Callable[[], None] | None = None,
        rand: Callable[[], float] = random.random,
        workers: int = 6,
    ) -> None:
        self._feedback = feedback
        self._identify = identify
        self._restart = restart
        self._clock = worker.clock
        self._rand = rand
        tuning = _with_restart(tuning or Tuning(), restart is not None)
        self._core = CoreState(identity=identity or Identity(), tuning=tuning)
        self._worker = worker
        self._workers = workers
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._timers = _Timers()
        self._subscribers: list[Subscriber] = []
        self._listeners: list[CoreListener] = []
        self._lock = threading.Lock()  # guards subscribers, listeners, the published view, cancel events
        self._view: View = view_of(self._core)
        self._cancels: dict[int, threading.Event] = {}
        self._running: set[Future[None]] = set()  # work not finished yet
        self._pool: ThreadPoolExecutor | None = None
        self._local: ThreadPoolExecutor | None = None
        self._reading_pins = False  # a ReadPins is queued or running
        self._thread: threading.Thread | None = None
        self._stopped = False

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or self._stopped:
            raise StationStateError("a station can be started once")
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="core-work")
        self._local = ThreadPoolExecutor(1, thread_name_prefix="core-local")
        self._thread = threading.Thread(target=self._run, name="core", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the core thread and cancel all work; idempotent, safe before ``start``.

        Waits, ``timeout_s`` at most in all, for running work to notice, so that what the owner
        closes next (the databases) is not closed under it. Work honours its cancel event; a
        request stuck at ezeep does not: close the connection first (see
        :func:`station.cli.compose.run_station`), and the work ends with what it knows committed.
        """
        deadline = time.monotonic() + timeout_s
        self._stopped = True
        with self._lock:
            for event in self._cancels.values():
                event.set()
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            if self._thread is not threading.current_thread():
                self._thread.join(max(0.0, deadline - time.monotonic()))
                if self._thread.is_alive():
                    raise StationStateError(f"the core thread did not stop in {timeout_s} s")
        if self._pool is not None and self._local is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._local.shutdown(wait=False, cancel_futures=True)
            with self._lock:
                running = list(self._running)
            _done, stuck = wait_for_futures(running, max(0.0, deadline - time.monotonic()))
            if stuck:
                log.warning("%d piece(s) of work still running at stop", len(stuck))

    def __enter__(self) -> Station:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the outside world --------------------------------------------------------------------

    def submit(self, event: Submittable) -> None:
        """Hand an event to the core; never blocks. Reader threads and the UI call this."""
        self._queue.put(event)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every new view (on the core thread; it must not block).

        It is called once at once with the current view. Returns a function that unsubscribes.
        """
        with self._lock:
            self._subscribers.append(callback)
            current = self._view
        self._deliver(callback, current)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def listen(self, listener: CoreListener) -> Callable[[], None]:
        """Tell ``listener`` every event the core announces from now on (on the core thread; it
        must not block). Returns a function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def unlisten() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unlisten

    @property
    def view(self) -> View:
        """The latest published view."""
        with self._lock:
            return self._view

    # --- the core thread ----------------------------------------------------------------------

    def _run(self) -> None:
        self._apply(*machine.start(self._core))
        while True:
            try:
                item = self._queue.get(timeout=self._timers.wait_s(self._clock()))
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            for fired in self._timers.due(self._clock()):
                self._handle(fired)
            if item is not None:
                self._handle(self._adapt(item))  # type: ignore[arg-type]

    def _adapt(self, item: Submittable) -> machine.Event:
        if not isinstance(item, BadgeRead):
            return item
        try:
            badge_id, error = self._identify(item), ""
        except (StationError, ValueError) as exc:
            badge_id, error = "", str(exc) or type(exc).__name__
        if not badge_id and not error:
            error = "the card number is empty"
        return m.Tap(
            item.reader_kind,
            item.reader_name,
            badge_id,
            item.canonical_id,
            item.raw or item.canonical_id,
            random_uid=item.is_random_uid,
            error=error,
        )

    def _handle(self, event: machine.Event) -> None:
        tick = Tick(self._clock(), self._rand())
        try:
            core, effects = machine.step(self._core, event, tick)
        except Exception:  # a bug in a transition: forget the user on screen, carry on
            log.exception("the transition for %s failed; going home", type(event).__name__)
            core, more = exits.home(self._core)
            effects = tuple(more)
        self._apply(core, effects)

    def _apply(self, core: CoreState, effects: tuple[m.Effect, ...] | list[m.Effect]) -> None:
        if type(core.mode) is not type(self._core.mode):
            log.info("state %s -> %s", type(self._core.mode).__name__, type(core.mode).__name__)
        self._core = core
        for effect in effects:
            if isinstance(effect, m.Play):
                self._feedback.play(effect.pattern)
            elif isinstance(effect, m.Announce):  # heard before the view shows what happened
                with self._lock:
                    listeners = list(self._listeners)
                announce(listeners, effect.event)
        self._publish(view_of(core))
        for effect in effects:
            self._perform(effect)

    def _perform(self, effect: m.Effect) -> None:
        if isinstance(effect, m.Play | m.Announce):
            return
        if isinstance(effect, m.SetTimer):
            self._timers.set(effect)
        elif isinstance(effect, m.CancelWork):
            with self._lock:
                cancel = self._cancels.pop(effect.ticket, None)
            if cancel is not None:
                cancel.set()
        elif isinstance(effect, m.RequestRestart):
            if self._restart is not None:
                self._restart()
        else:
            self._start_work(effect)

    def _start_work(self, work: m.Work) -> None:
        if isinstance(work, m.Probe | m.LoadStart | m.Reconcile | m.ReadPins):
            cancel = threading.Event()  # not tied to a mode; nothing cancels it
        else:
            with self._lock:
                cancel = self._cancels.setdefault(work.ticket, threading.Event())
        reading_pins = isinstance(work, m.ReadPins)
        with self._lock:
            if reading_pins and self._reading_pins:
                return  # the last look has not run yet; the next poll tries again
            self._reading_pins = self._reading_pins or reading_pins
        pool = self._local if isinstance(work, _LOCAL) else self._pool
        assert pool is not None
        try:
            future = pool.submit(self._worker.run, work, self.submit, cancel)
        except RuntimeError:
            log.debug("not starting %s: the station is stopping", type(work).__name__)
            return
        with self._lock:
            self._running.add(future)
        future.add_done_callback(lambda done: self._finished(done, reading_pins=reading_pins))

    def _finished(self, future: Future[None], *, reading_pins: bool) -> None:
        with self._lock:
            self._running.discard(future)
            if reading_pins:
                self._reading_pins = False

    def _publish(self, view: View) -> None:
        with self._lock:
            if view == self._view:
                return
            self._view = view
            subscribers = list(self._subscribers)
        for callback in subscribers:
            self._deliver(callback, view)

    @staticmethod
    def _deliver(callback: Subscriber, view: View) -> None:
        try:
            callback(view)
        except Exception:  # a subscriber's failure must not stop the core
            log.exception("a view subscriber failed")


def _with_restart(tuning: Tuning, can_restart: bool) -> Tuning:
    return dataclasses.replace(tuning, can_restart=can_restart)
