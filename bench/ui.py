"""UI benchmark: view-to-frame latency, frame render time per screen, idle CPU, RSS, start to ready.

Run with ``.venv/bin/python -m bench.ui`` (``--idle-s 60`` is the default idle window). Uses the
X display in ``$DISPLAY`` when there is one (as on the kiosk, the loop then blocks in the
kernel), else SDL's dummy driver. Ends with one line::

    RESULT tap_to_frame_p99_ms=… idle_cpu_pct=… rss_mb=… start_to_ready_s=…

``tap_to_frame`` is measured from the moment the core hands a view to the UI (the subscriber
call) to the frame being on screen; the core's own share (a read to a published view) is
measured by the core's benchmark.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

CHILD_READY = "READY"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _video_driver() -> None:
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def tap_to_frame(samples: int) -> list[float]:
    """Milliseconds from ``post_view`` on another thread to the frame being presented."""
    from ui.app import StationUi
    from ui.canned import canned_views
    from ui.display import Display

    views = canned_views()
    display = Display(resolution="800x480", fullscreen=False)
    shown = threading.Event()
    posted_at = [0.0]
    latencies: list[float] = []

    def on_frame(view: object) -> None:
        latencies.append((time.perf_counter() - posted_at[0]) * 1000)
        shown.set()

    ui = StationUi(display=display, submit=lambda intent: None, on_frame=on_frame)

    def core() -> None:
        for index in range(samples * 2):
            shown.clear()
            posted_at[0] = time.perf_counter()
            ui.post_view(views["identifying" if index % 2 else "ready"])
            shown.wait(10)
        ui.quit()

    thread = threading.Thread(target=core)
    thread.start()
    ui.run()
    thread.join()
    display.close()
    return latencies[1::2]  # the acknowledgement frames


def render_times(repeats: int) -> dict[str, float]:
    """Median milliseconds to draw each canned screen at 800x480."""
    import pygame

    from ui.canned import MONO, WALL, canned_views
    from ui.fonts import Fonts
    from ui.render import render
    from ui.screens import Now, screen_for

    fonts, surface, now = Fonts(), pygame.Surface((800, 480)), Now(MONO, WALL)
    times: dict[str, float] = {}
    for name, view in canned_views().items():
        screen = screen_for(view)
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            render(screen, surface, fonts, now)
            runs.append((time.perf_counter() - start) * 1000)
        times[name] = statistics.median(runs)
    return times


def child() -> None:
    """A station screen showing the ready view, idle until SIGTERM."""
    _video_driver()
    from ui.app import StationUi
    from ui.canned import canned_views
    from ui.display import Display

    display = Display(resolution="800x480", fullscreen=False)
    said: list[bool] = []

    def on_frame(view: object) -> None:
        if not said:
            said.append(True)
            print(CHILD_READY, flush=True)

    ui = StationUi(display=display, submit=lambda intent: None, on_frame=on_frame, dim_after_s=0)
    ui.show(canned_views()["ready"])
    ui.run()
    display.close()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def idle_process(idle_s: float) -> tuple[float, float, float]:
    """Start to ready (s), idle CPU (% of one core) and RSS (MB) of a screen process."""
    start = time.perf_counter()
    env = {**os.environ, "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    root = Path(__file__).parent.parent
    command = [sys.executable, "-m", "bench.ui", "--child"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=root, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != CHILD_READY:
            raise RuntimeError(f"the screen process did not start: {line!r}")
        ready_s = time.perf_counter() - start
        cpu0, t0 = _cpu_s(proc.pid), time.perf_counter()
        time.sleep(idle_s)  # measuring wall time is the point here
        cpu = (_cpu_s(proc.pid) - cpu0) / (time.perf_counter() - t0) * 100
        rss = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    return ready_s, cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    _video_driver()
    print(f"video driver: {'x11 ' + os.environ['DISPLAY'] if os.environ.get('DISPLAY') else 'dummy'}")
    latencies = tap_to_frame(args.samples)
    median, p99 = statistics.median(latencies), _percentile(latencies, 0.99)
    print(f"view to frame: median {median:.2f} ms, p99 {p99:.2f} ms ({len(latencies)} samples)")
    for name, ms in render_times(20).items():
        print(f"  render {name:<24} {ms:6.2f} ms")
    ready_s, cpu, rss = idle_process(args.idle_s)
    print(f"start to ready {ready_s:.2f} s; idle CPU {cpu:.2f} % over {args.idle_s:g} s; RSS {rss:.1f} MB")
    print(
        f"RESULT tap_to_frame_p99_ms={p99:.2f} idle_cpu_pct={cpu:.2f}"
        f" rss_mb={rss:.1f} start_to_ready_s={ready_s:.2f}"
    )


if __name__ == "__main__":
    main()
