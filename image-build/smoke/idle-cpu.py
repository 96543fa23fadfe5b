#!/usr/bin/env python3
"""Boot test, inside the guest: the CPU the idle station uses, thread by thread, next to references.

    idle-cpu.py STATION_PID JOURNALD_PID WINDOW_S

Over WINDOW_S seconds it reads from /proc the CPU time (utime + stime) and the wake-ups
(voluntary context switches: each time a thread blocked and was woken) of the station, of each
of its threads by name (``release-station run`` names them in the kernel), of journald, and of a
Python process it starts that wakes 10 times a second (what a kiosk that polls would cost), and
how busy the guest was. Emulation makes every CPU figure larger and uneven: only figures
measured in the same window side by side mean something, and wake-ups per second do not depend
on the emulation's speed at all.

Prints one line ``station=PCT journald=PCT sleep_loop=PCT guest_busy=PCT station_wakeups_hz=HZ
sleep_loop_wakeups_hz=HZ from_s=S threads=NAME:PCT:HZ,...`` (CPU in percent of one core;
``from_s``, the window's start in seconds since the kernel started, to set beside the station's
ready time; the station's threads busiest first, its main thread, the UI loop, as ``main``),
then one line per thread of the station: ``thread TID NAME pct=PCT wakeups_hz=HZ wchan=WHERE``
(where it sleeps now).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def sample(task: Path) -> tuple[int, int]:
    """CPU ticks (a process's: all its threads') and voluntary context switches (one thread's:
    a process's main thread) of ``/proc/PID`` or ``/proc/PID/task/TID``; (0, 0) once gone."""
    try:
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        status = (task / "status").read_text()
    except OSError:
        return 0, 0
    switches = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("voluntary_ctxt"))
    return int(fields[11]) + int(fields[12]), switches


def threads(pid: int) -> dict[int, tuple[str, int, int]]:
    """Each thread of ``pid``: its name, CPU ticks and wake-ups so far."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        name = "main" if int(task.name) == pid else name.replace(" ", "_").replace(",", "_")
        found[int(task.name)] = (name, *sample(task))
    return found


def busy() -> tuple[int, int]:
    """The guest's busy and total CPU ticks so far (/proc/stat)."""
    user, nice, system, idle, iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return user + nice + system + irq + softirq, user + nice + system + idle + iowait + irq + softirq


def main() -> int:
    station, journald, window_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    loop = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.1)"])
    try:
        time.sleep(1)  # the loop's own start is not part of what it costs
        processes = {"station": station, "journald": journald, "sleep_loop": loop.pid}
        before = {name: sample(Path(f"/proc/{pid}")) for name, pid in processes.items()}
        threads_before, busy_before, started = threads(station), busy(), time.monotonic()
        from_s = float(Path("/proc/uptime").read_text().split()[0])
        time.sleep(window_s)  # the window is wall time: what a second of idling costs
        elapsed = time.monotonic() - started
        after = {name: sample(Path(f"/proc/{pid}")) for name, pid in processes.items()}
        threads_after, busy_after = threads(station), busy()
    finally:
        loop.kill()
        loop.wait()

    def pct(ticks: int) -> str:
        return f"{100 * ticks / (HZ * elapsed):.2f}"

    def per_s(count: int) -> str:
        return f"{count / elapsed:.2f}"

    cpu = {name: after[name][0] - before[name][0] for name in processes}
    wakeups = {name: after[name][1] - before[name][1] for name in processes}  # the main threads'
    rows = []
    for tid, (name, ticks, switches) in threads_after.items():
        _, ticks0, switches0 = threads_before.get(tid, (name, 0, 0))
        rows.append((ticks - ticks0, switches - switches0, tid, name))
    rows.sort(reverse=True)
    wakeups["station"] = sum(switches for _, switches, _, _ in rows)  # every thread's
    guest = 100 * (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    print(
        " ".join(f"{name}={pct(cpu[name])}" for name in processes),
        f"guest_busy={guest:.1f} station_wakeups_hz={per_s(wakeups['station'])}",
        f"sleep_loop_wakeups_hz={per_s(wakeups['sleep_loop'])} from_s={from_s:.1f}",
        "threads=" + ",".join(f"{name}:{pct(ticks)}:{per_s(switches)}" for ticks, switches, _, name in rows),
    )
    for ticks, switches, tid, name in rows:
        try:
            wchan = Path(f"/proc/{station}/task/{tid}/wchan").read_text().strip() or "running"
        except OSError:
            wchan = "gone"
        print(f"thread {tid} {name} pct={pct(ticks)} wakeups_hz={per_s(switches)} wchan={wchan}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
