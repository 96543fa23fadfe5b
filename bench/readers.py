"""Reader latency and idle cost, through the simulated and the PC/SC paths.

For each path, N reads go reader → :class:`~drivers.readers.base.ReaderThread` →
:class:`~drivers.badges.BadgeFilter` → a queue → a stand-in for the core, which plays the READ
pattern on the GPIO feedback (gpiozero's mock pins). Measured from ``BadgeRead.at`` (the
moment the driver got the UID):

- read→event: until the core stand-in takes the read off its queue;
- read→feedback: until the green LED pin changes (seen by a gpiozero input wired to it).

The PC/SC path needs pcscd with vpcd (started if not running); it holds the machine-wide vpcd
lock meanwhile (see tests/support/vpcd_card.py), so it first waits for a test run using vpcd. A vpcd
card is inserted on one virtual reader while the previous one is taken off the other, so
pcscd's ~0.4 s polling sets the pace (about 0.3-0.5 s per read). Then both readers sit idle
(pcscd with both vpcd readers attached, no card) for ``--idle-s`` seconds and the process's
CPU time is taken: everything else in the process is blocked then, so it is an upper bound
for the idle reader threads.

    .venv/bin/python -m bench.readers [--reads 1000] [--pcsc-reads 1000] [--idle-s 30]

Ends with ``RESULT read_to_event_p99_ms=… read_to_feedback_p99_ms=… idle_reader_cpu_pct=…``
(the worse of the two paths for the latencies).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import queue
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gpiozero import DigitalInputDevice
from gpiozero.pins.mock import MockConnectedPin, MockFactory
from smartcard import scard

from drivers.badges import BadgeFilter
from drivers.feedback import build_feedback
from drivers.readers.base import Reader, ReaderThread
from drivers.readers.pcsc import PcscReader
from drivers.readers.simulated import SimulatedReader
from station.config import FeedbackSection
from station.events import BadgeRead, ReaderEvent
from station.feedback import Feedback, Pattern
from tests.support.vpcd_card import VPCD_PORTS, VirtualCard, vpcd_session, wait_for_pcscd

WAIT_S = 10.0  # the longest any one step may take before the benchmark gives up
LOCK_WAIT_S = 1800.0  # how long to wait for others using vpcd (a test run, another benchmark)


@dataclass
class Station:
    """The core stand-in, the feedback and the wire that watches the green LED."""

    feedback: Feedback
    events: queue.Queue[ReaderEvent | None] = field(default_factory=queue.Queue)
    delivered: list[tuple[float, float]] = field(default_factory=list)  # (read.at, taken off the queue)
    lit_at: list[float] = field(default_factory=list)
    lit: threading.Event = field(default_factory=threading.Event)
    dark: threading.Event = field(default_factory=threading.Event)

    def core(self) -> None:
        while (event := self.events.get()) is not None:
            if isinstance(event, BadgeRead):
                self.delivered.append((event.at, time.monotonic()))
                self.feedback.play(Pattern.READ)

    def on_lit(self) -> None:
        self.lit_at.append(time.monotonic())
        self.lit.set()

    def take(self, present: Callable[[], None]) -> None:
        """One read: ``present`` a card, wait for the LED to light and go dark again."""
        self.lit.clear()
        self.dark.clear()
        present()
        if not (self.lit.wait(WAIT_S) and self.dark.wait(WAIT_S)):
            raise RuntimeError("the LED did not flash for a read")


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _run_path(
    name: str, station: Station, reader: Reader, reads: int, present: Callable[[int], None]
) -> tuple[float, float]:
    station.delivered.clear()
    station.lit_at.clear()
    sink = BadgeFilter(
        station.events.put, repeat_s=0.0, min_uid_bytes=4, detects_removal=reader.detects_removal
    )
    started = time.monotonic()
    with ReaderThread(reader, sink):
        for index in range(reads):
            station.take(functools.partial(present, index))
    took = time.monotonic() - started
    to_event = [(got - at) * 1000 for at, got in station.delivered]
    to_led = [(lit - at) * 1000 for (at, _), lit in zip(station.delivered, station.lit_at, strict=True)]
    event_median, event_p99 = _percentiles(to_event)
    led_median, led_p99 = _percentiles(to_led)
    print(
        f"{name:9} {len(to_event)} reads in {took:.1f} s: read→event median {event_median:.3f} ms, "
        f"p99 {event_p99:.3f} ms; read→LED median {led_median:.3f} ms, p99 {led_p99:.3f} ms"
    )
    return event_p99, led_p99


def _pcsc_path(station: Station, reads: int) -> tuple[float, float]:
    cards = [
        VirtualCard(bytes([0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, n]), port=port)
        for n, port in enumerate(VPCD_PORTS)
    ]

    def present(index: int) -> None:
        # Put the next card on one reader, then take the previous one off the other; pcscd
        # notices both at its next poll. The card's own reader was emptied a read ago.
        card, previous = cards[index % 2], cards[(index + 1) % 2]
        wait_for_pcscd(card.reader, scard.SCARD_STATE_EMPTY)
        card.insert(wait=False)
        previous.remove(wait=False)

    try:
        return _run_path("PC/SC", station, PcscReader(), reads, present)
    finally:
        for card in cards:
            card.remove()


def _idle_cpu(idle_s: float, pcsc: bool) -> float:
    sink_events: queue.Queue[ReaderEvent] = queue.Queue()
    readers: list[Reader] = [SimulatedReader()] + ([PcscReader()] if pcsc else [])
    threads = [ReaderThread(reader, sink_events.put) for reader in readers]
    for thread in threads:
        thread.start()
    for _ in readers:
        sink_events.get(timeout=WAIT_S)  # each reports healthy once it is up
    cpu, wall = time.process_time(), time.monotonic()
    threading.Event().wait(idle_s)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    for thread in threads:
        thread.stop()
    percent = 100 * cpu / wall
    names = ", ".join(reader.name for reader in readers)
    print(f"idle      {names} for {wall:.1f} s: {cpu * 1000:.1f} ms CPU = {percent:.3f} % of one core")
    return percent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=1000, help="reads through the simulated reader")
    parser.add_argument("--pcsc-reads", type=int, default=1000, help="reads through PC/SC; 0 skips PC/SC")
    parser.add_argument("--idle-s", type=float, default=30.0, help="seconds of idle readers")
    args = parser.parse_args(argv)

    factory = MockFactory()
    # The green LED's pin is wired to an input, so its change arrives as a gpiozero event.
    factory.pin("GPIO17", pin_class=MockConnectedPin, input_pin=factory.pin("GPIO22"))
    watch = DigitalInputDevice("GPIO22", pin_factory=factory)
    # Fast flashes (speed 20: READ lights for 5 ms) keep reads apart; latency is unaffected.
    feedback = build_feedback(
        FeedbackSection(led_green="GPIO17", led_red="GPIO27"), pin_factory=factory, speed=20
    )
    station = Station(feedback)
    watch.when_activated = station.on_lit
    watch.when_deactivated = station.dark.set
    core = threading.Thread(target=station.core, name="core", daemon=True)
    core.start()
    try:
        simulated = SimulatedReader()
        uids = [bytes.fromhex("04A1B2C3D4E500"), bytes.fromhex("04A1B2C3D4E501")]
        results = [
            _run_path("simulated", station, simulated, args.reads, lambda i: simulated.tap(uids[i % 2]))
        ]
        # vpcd's ports and pcscd are shared by the machine: wait for any test run using them.
        with vpcd_session(wait_s=LOCK_WAIT_S) if args.pcsc_reads else contextlib.nullcontext():
            if args.pcsc_reads:
                results.append(_pcsc_path(station, args.pcsc_reads))
            idle = _idle_cpu(args.idle_s, pcsc=bool(args.pcsc_reads))
    finally:
        station.events.put(None)
        core.join(WAIT_S)
        feedback.close()
        watch.close()
        factory.close()
    event_p99 = max(r[0] for r in results)
    led_p99 = max(r[1] for r in results)
    print(
        f"RESULT read_to_event_p99_ms={event_p99:.3f} read_to_feedback_p99_ms={led_p99:.3f} "
        f"idle_reader_cpu_pct={idle:.3f}"
    )


if __name__ == "__main__":
    main()
