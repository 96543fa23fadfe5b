"""UI benchmark on the real station: tap to frame, render time per screen, idle CPU, RSS, start to ready.

Run with ``.venv/bin/python -m bench.ui`` (``--idle-s 60`` is the default idle window). The
in-process part uses ``$SDL_VIDEODRIVER``, else the X display in ``$DISPLAY`` when there is
one, else SDL's dummy driver. Starts an ezeep emulator on loopback; the station pairs with it
(auto-approved) once, at the start. Ends with one line::

    RESULT tap_to_frame_p99_ms=… idle_cpu_pct=… idle_cpu_pct_dummy=… [idle_cpu_pct_x11=…]
    [idle_cpu_pct_kmsdrm=…] rss_mb=… start_to_ready_s=…

- ``tap_to_frame``: a badge read handed to the core (what a reader thread does) to the frame
  showing "Badge read" being presented, through the real core and UI loop in this process.
  Each sample then finishes the visit (a user with no jobs) and goes back to the ready screen.
- ``start_to_ready``, ``idle_cpu``, ``rss``: ``release-station run`` as its own process,
  already paired, from ``exec`` to the core publishing the ready screen, then idle for
  ``--idle-s`` seconds (its timers and the cloud checks included). ``idle_cpu_pct_<driver>`` for
  each SDL video driver the station can run on here: ``dummy`` always, ``x11`` with a
  ``$DISPLAY``, ``kmsdrm`` (the kiosk's) with a DRM device; the others are named as not
  measured. ``idle_cpu_pct`` is the worst of them; start to ready and RSS are from the driver
  of the in-process part.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from station.core.view import View

ROOT = Path(__file__).parent.parent
BADGE = "04BE4C000000B1"
WAIT_S = 60.0  # bound on each wait for the station
READY_LINE = "state Booting -> Idle"  # what the station logs as it shows the ready screen


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _video_driver() -> str:
    """The SDL video driver of the in-process part (set for SDL when it would guess)."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    return os.environ.get("SDL_VIDEODRIVER") or "x11"


def drivers_here() -> tuple[list[str], list[str]]:
    """The video drivers the station can run on here, and why each other one cannot."""
    drivers, missing = ["dummy"], []
    if os.environ.get("DISPLAY"):
        drivers.insert(0, "x11")
    else:
        missing.append("x11 (no $DISPLAY)")
    if list(Path("/dev/dri").glob("card*")):
        drivers.append("kmsdrm")
    else:
        missing.append("kmsdrm (no DRM device: /dev/dri/card* is missing)")
    return drivers, missing


def write_config(folder: Path, cloud_url: str) -> Path:
    """A station configuration for the bench: the emulator, a simulated reader, a 800x480 window.

    A technician PIN comes with it, as first boot hands one over: without one the station asks
    for it before anything else.
    """
    from station.pin import hash_pin
    from station.pin_handoff import HANDOFF_FILE, Handoff

    (folder / HANDOFF_FILE).write_bytes(Handoff(hash_pin("24681357")).to_bytes())
    path = folder / "station.toml"
    path.write_text(
        f"""
[station]
name = "Bench station"
state_dir = "{folder / "state"}"
hardware_id = "0b3c5a52-52f5-4a49-9ad4-1f6a1e2c7d11"

[cloud]
account_url = "{cloud_url}"
api_url = "{cloud_url}"
print_url = "{cloud_url}"
client_id = "bench"

[reader]
kind = "simulated"

[ui]
resolution = "800x480"
fullscreen = false
dim_after_s = 0
"""
    )
    return path


class Frames:
    """Every presented frame (its kind of view and when), and a bounded wait for one of a kind."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, float]] = []
        self._changed = threading.Condition()

    def __call__(self, view: View) -> None:
        with self._changed:
            self.shown.append((type(view.mode).__name__, time.perf_counter()))
            self._changed.notify_all()

    def mark(self) -> int:
        with self._changed:
            return len(self.shown)

    def wait(self, kind: str, since: int, check: Callable[[], bool] = lambda: True) -> float:
        """When the first frame of ``kind`` from frame number ``since`` on was presented."""

        def found() -> float | None:
            return next((at for name, at in self.shown[since:] if name == kind), None)

        with self._changed:
            if not self._changed.wait_for(lambda: found() is not None and check(), WAIT_S):
                raise RuntimeError(f"no {kind} frame in {WAIT_S} s (last: {self.shown[-1:]})")
            at = found()
            assert at is not None
            return at


def tap_to_frame(config_path: Path, user: tuple[str, str], samples: int) -> list[float]:
    """Milliseconds from a badge read submitted to the core to the "Badge read" frame on screen."""
    from station.cli.compose import build_station
    from station.config import load_config
    from station.core import intents
    from station.database import open_database
    from station.directory import Directory
    from station.events import BadgeRead
    from ui.display import Display
    from ui.kiosk import StationUi

    config = load_config(str(config_path))
    db = open_database(config.database_path)
    Directory(db).enrol(BADGE, user[0], email=user[1], how="cli", replace=True)
    db.close()
    frames = Frames()
    latencies: list[float] = []
    with contextlib.ExitStack() as stack:
        station = build_station(config, stack, restart=lambda: None).station
        display = Display(resolution="800x480", fullscreen=False)
        stack.callback(display.close)
        ui = StationUi(display=display, submit=station.submit, on_frame=frames)
        station.subscribe(ui.post_view)
        station.start()
        stack.callback(station.stop)

        def visits() -> None:
            try:
                frames.wait("Ready", 0, lambda: station.view.info.printer_name != "")
                uid = bytes.fromhex(BADGE)
                for _ in range(samples):
                    since, tapped = frames.mark(), time.perf_counter()
                    station.submit(BadgeRead(uid, "simulated", "bench", time.monotonic()))
                    latencies.append((frames.wait("Identifying", since) - tapped) * 1000)
                    frames.wait("Done", since)
                    since = frames.mark()
                    station.submit(intents.Done())
                    frames.wait("Ready", since)
            finally:
                ui.quit()

        thread = threading.Thread(target=visits, name="bench-visits")
        thread.start()
        ui.show(station.view)
        ui.run()
        thread.join()
    if len(latencies) < samples:
        raise RuntimeError(f"only {len(latencies)} of {samples} taps reached the screen")
    return latencies


def render_times(repeats: int) -> dict[str, float]:
    """Median milliseconds to draw each canned screen at 800x480."""
    import pygame

    from ui.canned import MONO, WALL, canned_views
    from ui.fonts import Fonts
    from ui.frame import draw_frame
    from ui.screens import Now, screen_for

    fonts, surface, now = Fonts(), pygame.Surface((800, 480)), Now(MONO, WALL)
    times: dict[str, float] = {}
    for name, view in canned_views().items():
        screen = screen_for(view)
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            draw_frame(screen, surface, fonts, now)
            runs.append((time.perf_counter() - start) * 1000)
        times[name] = statistics.median(runs)
    return times


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Log:
    """The child's log lines, read on a thread (so the pipe never fills), and a wait for one."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[tuple[float, str]] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self.lines.append((time.perf_counter(), line.rstrip()))
                self._changed.notify_all()

    def wait(self, pattern: str) -> float:
        """When the first line matching ``pattern`` came."""

        def found() -> float | None:
            return next((at for at, line in self.lines if re.search(pattern, line)), None)

        with self._changed:
            if not self._changed.wait_for(lambda: found() is not None, WAIT_S):
                raise RuntimeError(f"the station did not log {pattern!r}: {self.lines[-5:]}")
            at = found()
            assert at is not None
            return at


@dataclasses.dataclass(frozen=True)
class StationRun:
    """One ``release-station run``: start to ready screen (s, and the CPU it took), then idle."""

    ready_s: float
    ready_cpu_s: float
    idle_cpu_pct: float
    rss_mb: float
    output: tuple[str, ...]  # what it wrote (log lines, and stderr) until it was stopped


def station_process(
    config_path: Path,
    idle_s: float,
    driver: str,
    *,
    env: Mapping[str, str] | None = None,
    python_options: tuple[str, ...] = (),
) -> StationRun:
    """``release-station run`` on SDL's video ``driver`` (in ``env``, default this process's
    environment; ``python_options`` for the interpreter, e.g. ``-X importtime``): start to
    ready screen, idle CPU over ``idle_s`` (% of one core), RSS."""
    start = time.perf_counter()
    command = [sys.executable, *python_options, "-m", "station", "--config", str(config_path), "run"]
    env = {**(os.environ if env is None else env), "SDL_VIDEODRIVER": driver}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env
    )
    try:
        log = _Log(proc.stdout)
        ready_s = log.wait(re.escape(READY_LINE)) - start
        cpu0, t0 = _cpu_s(proc.pid), time.perf_counter()
        if idle_s:
            time.sleep(idle_s)  # measuring wall time is the point here
        cpu = (_cpu_s(proc.pid) - cpu0) / (time.perf_counter() - t0) * 100
        rss = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    return StationRun(ready_s, cpu0, cpu, rss, tuple(line for _, line in log.lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    primary = _video_driver()
    drivers, missing = drivers_here()
    import tempfile

    from station.emulator import Emulator

    print(f"video driver: {primary}; the station alone on {', '.join(drivers)}")
    with (
        tempfile.TemporaryDirectory(prefix="bench-ui-") as scratch,
        Emulator(job_duration_s=0.5, poll_interval_s=0) as emulator,
    ):
        emulator.auto_approve_device = emulator.printers[0].id
        config = write_config(Path(scratch), emulator.url)
        idle_user = next(u for u in emulator.users if not emulator.waiting_jobs(u.email))
        latencies = tap_to_frame(config, (idle_user.id, idle_user.email), args.samples)
        median, p99 = statistics.median(latencies), _percentile(latencies, 0.99)
        print(f"tap to frame: median {median:.2f} ms, p99 {p99:.2f} ms ({len(latencies)} samples)")
        for name, ms in render_times(20).items():
            print(f"  render {name:<24} {ms:6.2f} ms")
        runs = {driver: station_process(config, args.idle_s, driver) for driver in drivers}
    for driver, run in runs.items():
        print(
            f"{driver}: start to ready {run.ready_s:.2f} s; idle CPU {run.idle_cpu_pct:.2f} % over"
            f" {args.idle_s:g} s; RSS {run.rss_mb:.1f} MB"
        )
    for note in missing:
        print(f"not measured: {note}")
    main_run = runs.get(primary, runs["dummy"])
    idle = " ".join(f"idle_cpu_pct_{driver}={run.idle_cpu_pct:.2f}" for driver, run in runs.items())
    worst = max(run.idle_cpu_pct for run in runs.values())
    print(
        f"RESULT tap_to_frame_p99_ms={p99:.2f} idle_cpu_pct={worst:.2f}"
        f" {idle} rss_mb={main_run.rss_mb:.1f} start_to_ready_s={main_run.ready_s:.2f}"
    )


if __name__ == "__main__":
    main()
