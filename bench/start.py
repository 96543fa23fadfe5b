"""Start to ready: ``release-station run`` from ``exec`` to the ready screen, and what its imports cost.

Run with ``.venv/bin/python -m bench.start`` (``--runs 9`` is the default). Starts an ezeep
emulator on loopback, pairs a station with it once, then starts ``release-station run`` (SDL's
dummy driver, a simulated reader) again and again and stops it as soon as it shows the ready
screen. Pairing created the database, so every measured start finds its schema current, as a
kiosk does at every start but the first after an update (which also loads the migrations and
sqlite-utils: ``station.database``). Ends with one line::

    RESULT start_to_ready_s=… start_cpu_s=… start_to_ready_cold_s=… start_cpu_cold_s=… import_ms_<group>=… …

- ``start_to_ready_s``: the median wall time, with the bytecode compiled (as on the kiosk: pip
  compiles it when it installs the wheel; here a private ``PYTHONPYCACHEPREFIX`` and one warm-up
  run). ``start_cpu_s``: the CPU time those runs took until ready (median), less at the mercy of
  other work on the machine than the wall time.
- ``start_to_ready_cold_s``: the same with ``$PYTHONDONTWRITEBYTECODE`` as this environment
  sets it, which compiles every module of the project at every start (what ``bench.ui``
  measured before).
- ``import_ms_<group>``: from ``python -X importtime`` (median of three runs), every module's
  own import time added to the group of its nearest importer that has one: the project's
  packages (``station.core``, ``station.cloud``, ``station`` for the rest, ``ui``, ``drivers``)
  and the libraries (``httpx`` with httpcore, h11 and the rest of its stack, ``sqlite_utils``,
  ``pygame``, …). ``python`` is what the interpreter loads before the project.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import re
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.ui import READY_LINE, StationRun, write_config
from bench.ui import station_process as run_once

IMPORT_RUNS = 3
# Libraries whose whole import (their own dependencies included) counts as one group.
LIBRARY_GROUPS = {
    "httpx": "httpx",
    "httpcore": "httpx",
    "h11": "httpx",
    "anyio": "httpx",
    "sniffio": "httpx",
    "certifi": "httpx",
    "idna": "httpx",
    "sqlite_utils": "sqlite_utils",
    "pygame": "pygame",
    "segno": "segno",
    "smartcard": "pyscard",
    "ldap3": "ldap3",
    "evdev": "evdev",
    "nfc": "nfcpy",
    "gpiozero": "gpiozero",
    "starlette": "emulator",
    "uvicorn": "emulator",
}
_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)")


def group_of(module: str) -> str | None:
    """The group a module's import time counts for, or None: its importer's."""
    top = module.split(".", maxsplit=1)[0]
    if top == "station":
        for part in ("station.core", "station.cloud", "station.emulator"):
            if module == part or module.startswith(part + "."):
                return part
        return "station"
    if top in ("ui", "drivers"):
        return top
    return LIBRARY_GROUPS.get(top)


def import_groups(lines: list[str]) -> dict[str, float]:
    """Milliseconds per group from ``-X importtime`` lines (children come before their parent)
    until the station said it is ready (what it loads later, on first use, is not counted)."""
    until_ready = itertools.takewhile(lambda line: READY_LINE not in line, lines)
    parsed = [(int(m[1]), len(m[2]) // 2, m[3]) for line in until_ready if (m := _LINE.search(line))]
    totals: dict[str, float] = defaultdict(float)
    ancestors: list[str | None] = []  # the group in force at each depth, read from the top down
    for self_us, depth, module in reversed(parsed):
        del ancestors[depth:]
        inherited = ancestors[-1] if ancestors else None
        group = group_of(module) or inherited or "python"
        ancestors.extend([group] * (depth + 1 - len(ancestors)))
        totals[group] += self_us / 1000
    return dict(totals)


def pair(config_path: Path) -> None:
    """Pair the station once (the emulator approves at once), so every run starts paired."""
    from station.cli.compose import build_station
    from station.config import load_config
    from station.core.health import Ready

    with contextlib.ExitStack() as stack:
        station = build_station(load_config(str(config_path)), stack, restart=lambda: None).station
        station.start()
        stack.callback(station.stop)
        deadline = time.monotonic() + 60
        while not isinstance(station.view.mode, Ready):
            if time.monotonic() > deadline:
                raise SystemExit(f"the station did not pair (last screen: {station.view.mode})")
            time.sleep(0.05)  # a bench waiting for another process's answer; nothing to wake us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    from station.emulator import Emulator

    with (
        tempfile.TemporaryDirectory(prefix="bench-start-") as scratch,
        Emulator(job_duration_s=0.5, poll_interval_s=0) as emulator,
    ):
        emulator.auto_approve_device = emulator.printers[0].id
        config = write_config(Path(scratch), emulator.url)
        pair(config)
        warm_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        warm_env["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")
        run_once(config, 0, "dummy", env=warm_env)  # compiles and caches the bytecode
        cold: list[StationRun] = []
        warm: list[StationRun] = []
        for _ in range(args.runs):  # taking turns, so that a busy moment of the machine hits both
            cold.append(run_once(config, 0, "dummy"))
            warm.append(run_once(config, 0, "dummy", env=warm_env))
        timed = [
            import_groups(
                list(run_once(config, 0, "dummy", env=warm_env, python_options=("-X", "importtime")).output)
            )
            for _ in range(IMPORT_RUNS)
        ]
    ready = statistics.median(run.ready_s for run in warm)
    cpu = statistics.median(run.ready_cpu_s for run in warm)
    cold_ready = statistics.median(run.ready_s for run in cold)
    cold_cpu = statistics.median(run.ready_cpu_s for run in cold)
    groups = sorted({group for run in timed for group in run})
    imports = {group: statistics.median(run.get(group, 0.0) for run in timed) for group in groups}
    print(f"start to ready, {args.runs} runs each (median):")
    print(f"  bytecode compiled: {ready:.3f} s wall, {cpu:.3f} s CPU")
    print(
        f"  compiling at every start ($PYTHONDONTWRITEBYTECODE): {cold_ready:.3f} s wall,"
        f" {cold_cpu:.3f} s CPU"
    )
    print(f"imports until ready (ms, median of {IMPORT_RUNS}; {sum(imports.values()):.0f} ms in all):")
    for group, ms in sorted(imports.items(), key=lambda item: -item[1]):
        print(f"  {group:<16} {ms:7.1f}")
    groups_result = " ".join(f"import_ms_{group.replace('.', '_')}={ms:.1f}" for group, ms in imports.items())
    print(
        f"RESULT start_to_ready_s={ready:.3f} start_cpu_s={cpu:.3f} start_to_ready_cold_s={cold_ready:.3f}"
        f" start_cpu_cold_s={cold_cpu:.3f}"
        f" {groups_result}"
    )


if __name__ == "__main__":
    main()
