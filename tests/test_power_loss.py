"""The database survives a process killed at any moment of a write.

A child process (this file run as a script) writes badges, multi-row imports, audit entries
and the token pair in a loop, and prints a line after each commit. The test SIGKILLs it at
random moments, many times over the same database; after every kill ``PRAGMA integrity_check``
must say ``ok``, every write the child reported must be there, and each import is all or nothing.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KILLS = 30
GROUP = 5  # badges per import transaction


def _writer(path: Path, run: int) -> None:
    from station.audit import AuditLog
    from station.cloud.models import TokenPair
    from station.cloud.tokens import TokenStore
    from station.database import open_database
    from station.directory import Directory, ImportRow, plan_import

    db = open_database(path)
    directory, audit, tokens = Directory(db), AuditLog(db), TokenStore(db, boot_id="power-loss")
    print("ready", flush=True)
    for i in range(1_000_000):
        tag = f"{run}-{i}"
        directory.enrol(f"B{tag}", f"u{tag}", how="cli")
        print(f"badge {tag}", flush=True)
        rows = [ImportRow(n, f"G{tag}-{n}", user_id=f"g{tag}") for n in range(GROUP)]
        directory.apply_import(plan_import(rows, directory, lambda email: None).changes)
        print(f"group {tag}", flush=True)
        audit.record("tap", badge_id=f"B{tag}", outcome=tag)
        print(f"audit {tag}", flush=True)
        tokens.save(TokenPair(f"access-{tag}", f"refresh-{tag}", 3600, time.monotonic()))
        print(f"token {run} {i}", flush=True)


def _run_and_kill(path: Path, run: int, lines: int) -> list[str]:
    """Start a writer, read ``lines`` reports (0: kill it while it opens the database)."""
    child = subprocess.Popen(
        [sys.executable, __file__, str(path), str(run)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    reports: list[str] = []
    try:
        while len(reports) < lines:
            line = child.stdout.readline()
            assert line, f"the writer stopped by itself (exit {child.poll()})"
            reports.append(line.strip())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    return [r for r in reports if r != "ready"]


def _check(path: Path, reports: list[str], last_token: tuple[int, int] | None) -> tuple[int, int] | None:
    conn = sqlite3.connect(str(path))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        badges = {row[0] for row in conn.execute("SELECT badge_id FROM badges")}
        outcomes = {row[0] for row in conn.execute("SELECT outcome FROM audit")}
        token = conn.execute("SELECT access_token, refresh_token FROM tokens WHERE id = 1").fetchone()
        groups: dict[str, int] = {}
        for badge in badges:
            if badge.startswith("G"):
                tag = badge[1:].rsplit("-", 1)[0]
                groups[tag] = groups.get(tag, 0) + 1
    finally:
        conn.close()
    assert set(groups.values()) <= {GROUP}, "an import was half written"
    for report in reports:
        kind, _, tag = report.partition(" ")
        if kind == "badge":
            assert f"B{tag}" in badges
        elif kind == "group":
            assert groups.get(tag) == GROUP
        elif kind == "audit":
            assert tag in outcomes
        elif kind == "token":
            run, i = (int(part) for part in tag.split())
            last_token = max(last_token or (run, i), (run, i))
    if last_token is not None:
        # The stored pair is whole (both halves from one save) and no older than the last reported.
        assert token is not None
        access, refresh = token[0].removeprefix("access-"), token[1].removeprefix("refresh-")
        assert access == refresh
        run, i = (int(part) for part in access.split("-"))
        assert (run, i) >= last_token
    return last_token


@pytest.mark.slow
def test_sigkill_during_writes_never_damages_the_database(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    path = tmp_path / "state" / "station.db"
    last_token = None
    for run in range(KILLS):
        lines = 0 if run % 10 == 5 else rng.randint(2, 40)
        reports = _run_and_kill(path, run, lines)
        if path.exists():
            last_token = _check(path, reports, last_token)
        assert path.exists() or not reports, f"seed {seed}: reported writes but no database"
    assert last_token is not None


if __name__ == "__main__":
    _writer(Path(sys.argv[1]), int(sys.argv[2]))
