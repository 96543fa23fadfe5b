"""Time from a badge tap to every job printed-or-submitted, for 1, 10 and 50 waiting jobs.

The whole station runs as ``release-station run`` builds it (:func:`station.cli.compose.build_station`:
core, directory, cloud client, release engine), headless, in release mode ``all``. The ezeep
emulator runs in a process of its own, as ezeep is another machine, with 50 ms added to every
answer. A tap is a :class:`~station.events.BadgeRead` handed to the core; the clock stops when
the published releasing view shows every job accepted by ezeep (sending, printing or printed).
On the way: the directory lookup, the printer check and the job list (one round trip, in
parallel), the intents written, every release request. The parallel station has
``cloud.release_parallelism = 10`` (the default is 4; up to 16 is allowed); the sequential
baseline is the same station with 1, run in the same process against the same emulator, paired
to the other printer (each station is its printer's connector, as ezeep is read here). The two
take turns, tap for tap, so that a busy moment of the machine weighs on both alike.

Run: ``.venv/bin/python -m bench.release [--repeats N] [--field] [--printers N]`` (7 taps of each size on each
station by default). Ends with one line (wrapped here)::

    RESULT jobs1_s=… jobs10_s=… jobs50_s=… rtt_ms=… jobs10_rtts=… jobs10_rtts_nominal=… jobs10_extra_rtts=…
    jobs10_speedup=… jobs1_floor_rtts=… jobs10_floor_rtts=… jobs1_over_floor_rtts=… jobs10_over_floor_rtts=…

The times are medians. A round trip is more than the added latency: the emulator's own work and
its event loop's timers add a few milliseconds to every answer. ``rtt_ms`` is one request's
round trip as measured (a request to the API that the emulator refuses, sent before every tap,
the median), ``jobs10_rtts`` the 10-job time in those round trips (two is the floor: the job
list, then the releases; goal: at most 2.2) and ``jobs10_rtts_nominal`` in units of the added
latency alone (what this bench reported before it measured the round trip).
``jobs10_extra_rtts`` is what ten jobs take more than one, in round trips: the cost of the nine
more requests, without the tap's fixed costs (the lookup, the journal, the emulator's and the
station's share of the two round trips) that one job pays too. ``jobs10_speedup``
is the median over the pairs of taps of the sequential 10-job time divided by the parallel one
(goal: at least 5).

The floor is measured too, as a reference in the same units: a :class:`BareClient` takes its turn
after the two stations with 1 and 10 jobs, making the same requests with next to no work of its
own. ``jobs10_floor_rtts`` is what this emulator on this machine gives any client (above 2: the
emulator's one event loop answering ten releases one after the other, and its handlers' work);
``jobs1_over_floor_rtts`` and ``jobs10_over_floor_rtts`` are what the station adds to it, the
median over the turns of the difference, so that a slow moment of the machine weighs on both.

``--printers N`` lists N more printers (other sites) before the station's, as a large
organisation's list does: with 250, the station's printer is on the third page of the printer
check (the RESULT line ends with ``more_printers=250``). Each station is its printer's
connector, so once a reading of every page has found it, each tap reads that one page
(:meth:`station.cloud.api.EzeepClient.station_printer`); before, the check read all three, one
after the other, and a tap took 4.4 round trips.

The emulator serves every host on one port and the taps follow each other within seconds, so
the station's connections are open when a tap comes. In the field neither holds: the print host
(releases) is another host than the REST host (printer check, job list), and taps are minutes
apart, longer than any connection is kept idle. ``--field`` measures that case: the print host
on a port of its own, a pause of ``IDLE_S`` before each tap so that every connection is new,
and ``handshake_s`` (two round trips: TCP, then TLS 1.3) before a new connection's first
request is read. The station as built opens the print host's connections while the job list is
on its way (:mod:`station.cloud.warm`); a second station, the same but for that
(``Seams(warm_print=False)``), takes turns with it. Only 10 jobs, on the parallel station::

    RESULT field_jobs10_s=… field_jobs10_rtts=… field_jobs10_rtts_cold=… rtt_ms=… handshake_ms=…

``field_jobs10_rtts`` counts the REST host's own new connection (its handshake, two round
trips, before the first answer): about 2 + 2 is the floor there; ``field_jobs10_rtts_cold`` is
the same without the warm-up, the releases paying the print host's handshake after the list.

What the passes for issue 17 found (December 2026, 2 shared cores). Ten jobs went from 2.77 round
trips to 2.20-2.26, the speedup from under 5 to 5.4-5.6, through what the modules that do it
explain: the printer check beside the list and each job sent as soon as it is known
(:mod:`station.release`), request threads kept for the engine's life
(:mod:`station.release._threads`), the print host's connections opened ahead
(:mod:`station.cloud.warm`), idle connections checked through ``TCP_INFO``
(:mod:`station.cloud.quiet`). The floor is 1.99 for one job and 2.04
to 2.07 for ten; the station adds about 0.14 round trips (7 ms) to every tap and 0.05 more for
the nine more jobs. The fixed part: 2.2 to 3.5 ms from the tap to the list's request written
(five thread hand-offs, the PIN read, the lookup, the journal read, the printer check's and the
list's CPU), 1.5 to 2 ms from the list to the release written (the intent's disk flush
included), under 1 ms after the answer. Per job, the station spends about 0.8 ms of CPU on a
release, half before it leaves; the ten requests leave one after another under the interpreter
lock, about 0.5 ms apart. Most of that is the HTTP stack: per request, one thread, back to back,
httpx 550 µs, urllib3 350 µs, libcurl (pycurl) 90 µs; in a tap 1.5 to 2 times as much (the VM's
CPU is cold after 50 ms idle). Debian's python3.11 (the image's) spends 20-25 % less than a
pyenv build. Tried, taking turns with the tree, and not kept, because the bench could not tell
them from it: httpcore's pool pass rewritten; one release thread preparing at a time; the
station pinned to one CPU; the emulator at nice 10; other GC thresholds and ``gc.freeze``; the
tap's directory and audit writes left out; the list asked for before the printer check; the
release requests made ready while the list was on its way (1 ms at best, for a padded body and
a gate in the never-twice path); the printer check and the list started by the lookup, as soon
as the badge is known (the list left 0.8 ms sooner); each request's head and body in one write;
the send threads woken before the intents' disk flush, waiting at a gate; the ten requests built
one after another on one thread; a switch interval of 0.5 or 50 ms. httpcore and h11 replaced
by libcurl under httpx's ``Client`` took about 3 ms off ten jobs (2.23-2.24 against 2.28-2.30
that day). ``--field``: ``field_jobs10_rtts`` 4.23 and 4.26 against 6.13 and 6.12 without the
warm-up (handshake 100 ms, rtt 52.7 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from station.cli.compose import Seams, build_station
from station.cloud.contract import JOBS_PATH, PRINT_PATH, Contract, page_query
from station.cloud.tokens import TokenStore
from station.config import Config
from station.core import intents
from station.core import view as v
from station.core.health import Ready
from station.core.runtime import Station
from station.core.session import Done, Releasing
from station.database import open_database
from station.directory import Directory
from station.events import BadgeRead
from station.pin import Pins

LATENCY_S = 0.05
PARALLELISM = 10
SIZES = (1, 10, 50)
FLOOR_SIZES = (1, 10)  # the bare client's taps (it opens a connection per job)
REPEATS = 7
WAIT_S = 120.0
BADGE = bytes.fromhex("04B3E1C0FFEE01")
TECHNICIAN_PIN = "24681357"
_ACCEPTED = {"sending", "printing", "printed"}
ROUND_TRIP_PATH = "/printing/v1/printers/"  # the printer check's path; without a token: 401
HANDSHAKE_S = 2 * LATENCY_S  # --field: a new connection's TCP and TLS 1.3 handshakes, a round trip each
IDLE_S = 6.0  # --field: longer than the pool (station.cloud.warm.IDLE_S) and uvicorn keep idle connections


def serve_emulator(*, field: bool, printers: int) -> None:
    """The child: the emulator on a free port (``field``: the print host on a second one), with
    ``printers`` more printers listed before the stations', until stdin closes. The parent has
    each station's pairing approved at once and bound to a printer of its own."""
    from station.emulator import Emulator

    print_port = 0 if field else None
    with Emulator(port=0, job_duration_s=0.2, poll_interval_s=0, print_port=print_port) as emulator:
        emulator.set_faults(more_printers=printers)
        user = emulator.users[4]  # seeded with no jobs of its own
        hello = {
            "url": emulator.url,
            "print_url": emulator.print_url,
            "user_id": user.id,
            "email": user.email,
            "printer_id": emulator.printers[0].id,
            "other_printer_id": emulator.printers[1].id,
        }
        print(json.dumps(hello), flush=True)
        sys.stdin.read()


@dataclasses.dataclass
class RemoteEmulator:
    """The emulator child, driven through its admin API."""

    url: str
    print_url: str
    user_id: str
    email: str
    printer_id: str  # the (first) station's, as pairing binds it
    other_printer_id: str  # the second station's: each station is its printer's connector
    admin: httpx.Client

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.admin.post(path, json=body)
        answer.raise_for_status()
        return answer.json()

    def add_jobs(self, jobs: int) -> set[str]:
        """``jobs`` new jobs waiting for the bench's user; their ids."""
        return {
            self.post("/_emulator/jobs", {"email": self.email, "name": f"Bench {n}.pdf"})["id"]
            for n in range(jobs)
        }

    def check_released_once(self, job_ids: set[str]) -> None:
        counts = self.release_counts()
        if any(counts.get(job_id) != 1 for job_id in job_ids):
            raise SystemExit("a job was released more than once, or not at all")

    def round_trip_s(self) -> float:
        """Seconds for one request through the emulator's faults (refused: it carries no token)."""
        started = time.perf_counter()
        self.admin.get(ROUND_TRIP_PATH)
        return time.perf_counter() - started

    def release_counts(self) -> dict[str, int]:
        answer = self.admin.get("/_emulator/release-counts")
        answer.raise_for_status()
        counts: dict[str, int] = answer.json()
        return counts


@contextlib.contextmanager
def emulator_process(*, field: bool = False, printers: int = 0) -> Iterator[RemoteEmulator]:
    child = subprocess.Popen(
        [
            sys.executable,
            *("-m", "bench.release", "--serve-emulator", "--printers", str(printers)),
            *(["--field"] if field else []),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        hello = json.loads(child.stdout.readline())
        with httpx.Client(base_url=hello["url"], timeout=30) as admin:
            yield RemoteEmulator(admin=admin, **hello)
        child.stdin.close()
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)


class Watch:
    """Follows the published views: when every job was accepted, and when the release ended."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.expected = 0
        self.accepted_at: float | None = None
        self.mode: object = None

    def __call__(self, view: v.View) -> None:
        with self._changed:
            self.mode = mode = view.mode
            if isinstance(mode, Releasing) and self.accepted_at is None:
                phases = [job.phase for job in mode.jobs]
                if len(phases) == self.expected and set(phases) <= _ACCEPTED:
                    self.accepted_at = time.perf_counter()
            self._changed.notify_all()

    def arm(self, expected: int) -> None:
        with self._changed:
            self.expected, self.accepted_at = expected, None

    def until(self, kind: type, what: str) -> Any:
        with self._changed:
            if not self._changed.wait_for(lambda: isinstance(self.mode, kind), WAIT_S):
                raise SystemExit(f"the station never showed {what} (last screen: {self.mode})")
            return self.mode


def bench_config(
    emulator: RemoteEmulator, scratch: Path, parallelism: int, *, warm_print: bool = True
) -> Config:
    base = Config()
    return dataclasses.replace(
        base,
        station=dataclasses.replace(
            base.station,
            state_dir=str(scratch),
            hardware_id=f"6f1c2b9e-5d1a-4c55-9b0e-3f7d2a1c{int(warm_print)}e{parallelism:02d}",
        ),
        cloud=dataclasses.replace(
            base.cloud,
            account_url=emulator.url,
            api_url=emulator.url,
            print_url=emulator.print_url,
            client_id="release-bench",
            release_parallelism=parallelism,
        ),
    )


def start_station(
    emulator: RemoteEmulator,
    scratch: Path,
    parallelism: int,
    stack: Any,
    *,
    printer_id: str,
    warm_print: bool = True,
) -> tuple[Station, Watch]:
    emulator.post("/_emulator/auto-approve", {"printer_id": printer_id})  # the pairing binds it
    config = bench_config(emulator, scratch, parallelism, warm_print=warm_print)
    db = open_database(config.database_path)
    Directory(db).enrol(BADGE.hex().upper(), emulator.user_id, email=emulator.email, how="cli", replace=True)
    Pins(db).set_technician(TECHNICIAN_PIN)  # without one the station asks for it before anything else
    db.close()
    station = build_station(config, stack, restart=lambda: None, seams=Seams(warm_print=warm_print)).station
    watch = Watch()
    station.subscribe(watch)
    station.start()
    stack.callback(station.stop)
    watch.until(Ready, "the ready screen")  # paired (auto-approved), printer known
    return station, watch


def tap(station: Station, watch: Watch, emulator: RemoteEmulator, jobs: int) -> float:
    """Seconds from the tap until every job was accepted; checks each was released exactly once."""
    ids = emulator.add_jobs(jobs)
    watch.arm(jobs)
    started = time.perf_counter()
    station.submit(BadgeRead(BADGE, "simulated", "bench", time.monotonic()))
    done = watch.until(Done, "the summary")
    if done.outcome != "released" or watch.accepted_at is None:
        raise SystemExit(f"the release of {jobs} job(s) did not complete: {done}")
    emulator.check_released_once(ids)
    station.submit(intents.Done())
    watch.until(Ready, "the ready screen again")
    return watch.accepted_at - started


class BareClient:
    """The floor: a tap's round trips, from one thread, with next to nothing else to do.

    The printer check and the job list go out together, then every listed job is released at
    once, each on a connection of its own opened before the clock starts, through the standard
    library's ``http.client``: no lookup, no journal, no interpreter lock shared with other
    threads, and a fraction of httpx's CPU per request. It pays what the station cannot help
    paying: the emulator's work and its one event loop, the latency, loopback. It uses the
    parallel station's access token and releases to its printer.
    """

    def __init__(self, emulator: RemoteEmulator, access_token: str) -> None:
        self._emulator = emulator
        self._contract = Contract()
        self._headers = {"Authorization": f"Bearer {access_token}"}
        query = {**self._contract.waiting_jobs_query(emulator.user_id), **page_query("api", 0)}
        self._list_path = f"{JOBS_PATH}?{urllib.parse.urlencode(query)}"

    def tap(self, jobs: int) -> float:
        """Seconds from the first request until every job was released; checks each was released once."""
        ids = self._emulator.add_jobs(jobs)
        rest = [_connection(self._emulator.url) for _ in range(2)]
        prints = [_connection(self._emulator.print_url) for _ in range(jobs)]
        try:
            started = time.perf_counter()
            rest[0].request("GET", ROUND_TRIP_PATH, headers=self._headers)
            rest[1].request("GET", self._list_path, headers=self._headers)
            _answer(rest[0])
            listed = [job[self._contract.job_id] for job in json.loads(_answer(rest[1]))["results"]]
            if len(listed) != jobs:
                raise SystemExit(f"the bare client found {len(listed)} job(s) waiting, not {jobs}")
            headers = {**self._headers, "Content-Type": "application/json"}
            for connection, job_id in zip(prints, listed, strict=True):
                body = json.dumps(self._contract.release_body(job_id, self._emulator.printer_id))
                connection.request("POST", PRINT_PATH, body=body, headers=headers)
            for connection in prints:
                _answer(connection)
            elapsed = time.perf_counter() - started
        finally:
            for connection in rest + prints:
                connection.close()
        self._emulator.check_released_once(ids)
        return elapsed


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=WAIT_S)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the station's
    return connection


def _answer(connection: http.client.HTTPConnection) -> bytes:
    answer = connection.getresponse()
    body = answer.read()
    if answer.status != 200:
        raise SystemExit(f"the bare client's request failed: {answer.status} {body[:200]!r}")
    return body


def stored_access_token(config: Config) -> str:
    """The access token a station stored when it paired."""
    db = open_database(config.database_path)
    try:
        stored = TokenStore(db).load()
    finally:
        db.close()
    if stored is None or stored.pair is None:
        raise SystemExit("the station stored no token pair")
    return stored.pair.access_token


def field(repeats: int) -> None:
    """10 jobs, the print host on a port of its own, every connection new (see the docstring)."""
    with (
        emulator_process(field=True) as emulator,
        tempfile.TemporaryDirectory(prefix="bench-release-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        stations = {
            name: start_station(
                emulator, Path(scratch) / name, PARALLELISM, stack, printer_id=printer, warm_print=warm
            )
            for name, warm, printer in (
                ("warmed", True, emulator.printer_id),
                ("cold", False, emulator.other_printer_id),
            )
        }
        emulator.post("/_emulator/faults", {"latency_s": LATENCY_S, "handshake_s": HANDSHAKE_S})
        runs: dict[str, list[float]] = {name: [] for name in stations}
        round_trips: list[float] = []
        idle = threading.Event()  # never set: the pause is the idle time itself
        for _ in range(repeats):
            for name, (station, watch) in stations.items():
                idle.wait(IDLE_S)  # the pool's idle connections (and the server's) expire meanwhile
                emulator.round_trip_s()  # the bench's own connection is new again: not a round trip
                round_trips.append(emulator.round_trip_s())
                runs[name].append(tap(station, watch, emulator, 10))
        for name, times in runs.items():
            print(f"{name:>7}: " + " ".join(f"{t:.3f}" for t in times))
    rtt = statistics.median(round_trips)
    warmed, cold = (statistics.median(runs[name]) for name in ("warmed", "cold"))
    print(
        f"RESULT field_jobs10_s={warmed:.3f} field_jobs10_rtts={warmed / rtt:.2f}"
        f" field_jobs10_rtts_cold={cold / rtt:.2f} rtt_ms={rtt * 1000:.1f}"
        f" handshake_ms={HANDSHAKE_S * 1000:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS, help="taps of each size on each station")
    parser.add_argument("--field", action="store_true", help="10 jobs, print host apart, new connections")
    parser.add_argument(
        "--printers", type=int, default=0, help="more printers listed before the station's (a large org)"
    )
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulator:
        serve_emulator(field=args.field, printers=args.printers)
        return
    if args.field:
        field(args.repeats)
        return
    with (
        emulator_process(printers=args.printers) as emulator,
        tempfile.TemporaryDirectory(prefix="bench-release-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        stations = {
            name: start_station(emulator, Path(scratch) / name, parallelism, stack, printer_id=printer)
            for name, parallelism, printer in (
                ("parallel", PARALLELISM, emulator.printer_id),
                ("sequential", 1, emulator.other_printer_id),
            )
        }
        bare = BareClient(
            emulator, stored_access_token(bench_config(emulator, Path(scratch) / "parallel", PARALLELISM))
        )
        emulator.post("/_emulator/faults", {"latency_s": LATENCY_S})
        results: dict[tuple[str, int], float] = {}
        speedups: dict[int, float] = {}
        over_floor: dict[int, float] = {}
        round_trips: list[float] = []
        print(f"added latency {LATENCY_S * 1000:.0f} ms; parallel = {PARALLELISM} requests at once")
        print(f"{'jobs':>5} {'parallel s':>11} {'sequential s':>13} {'speedup':>8} {'/latency':>9}")
        for size in SIZES:
            runs: dict[str, list[float]] = {name: [] for name in (*stations, "floor")}
            for _ in range(args.repeats):
                for name, (station, watch) in stations.items():
                    round_trips.append(emulator.round_trip_s())
                    runs[name].append(tap(station, watch, emulator, size))
                if size in FLOOR_SIZES:
                    round_trips.append(emulator.round_trip_s())
                    runs["floor"].append(bare.tap(size))
            for name, times in runs.items():
                if times:
                    results[(name, size)] = statistics.median(times)
            pairs = zip(runs["sequential"], runs["parallel"], strict=True)
            speedups[size] = statistics.median(sequential / parallel for sequential, parallel in pairs)
            parallel, sequential = results[("parallel", size)], results[("sequential", size)]
            each = " ".join(f"{t:.3f}" for t in runs["parallel"])
            print(
                f"{size:>5} {parallel:>11.3f} {sequential:>13.3f} {speedups[size]:>7.1f}x"
                f" {parallel / LATENCY_S:>9.2f}   parallel runs: {each}"
            )
            if runs["floor"]:
                over_floor[size] = statistics.median(
                    p - f for p, f in zip(runs["parallel"], runs["floor"], strict=True)
                )
                print(f"{'':>5} the floor (bare client): {results[('floor', size)]:.3f} s")
    jobs1, jobs10, rtt = results[("parallel", 1)], results[("parallel", 10)], statistics.median(round_trips)
    print(f"one round trip: {rtt * 1000:.1f} ms (median of {len(round_trips)}; the added latency is 50 ms)")
    print(
        f"RESULT jobs1_s={jobs1:.3f} jobs10_s={jobs10:.3f}"
        f" jobs50_s={results[('parallel', 50)]:.3f} rtt_ms={rtt * 1000:.1f} jobs10_rtts={jobs10 / rtt:.2f}"
        f" jobs10_rtts_nominal={jobs10 / LATENCY_S:.2f} jobs10_extra_rtts={(jobs10 - jobs1) / rtt:.2f}"
        f" jobs10_speedup={speedups[10]:.2f} jobs1_floor_rtts={results[('floor', 1)] / rtt:.2f}"
        f" jobs10_floor_rtts={results[('floor', 10)] / rtt:.2f}"
        f" jobs1_over_floor_rtts={over_floor[1] / rtt:.2f} jobs10_over_floor_rtts={over_floor[10] / rtt:.2f}"
        + (f" more_printers={args.printers}" if args.printers else "")
    )


if __name__ == "__main__":
    main()
