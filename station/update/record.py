"""What the last update run did, in a small world-readable JSON file on the data partition.

``release-station-update.service`` (root) writes it at each step of a run; the station (its own
user) reads it at start for its metrics (:mod:`station.host_facts`), and ``release-station
update status`` shows it. ``installed_sha256`` names the last bundle this station installed: the
timer never installs the same bundle twice (after a rollback of it, or a reinstall it asked for,
only a new bundle is taken), so a broken release cannot loop.

Example::

    >>> Record("installed", "1.4.0", 1765094400.0).line()
    'installed 1.4.0 at 2025-12-07T08:00:00Z'
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from station.atomicfile import write_atomic

Result = Literal["no_update", "not_in_share", "downloaded", "installed", "failed"]
RESULTS: tuple[Result, ...] = get_args(Result)
MAX_BYTES = 16 * 1024  # the file is a few hundred bytes; anything bigger is not ours
# Where the timer works (downloads, this record) on the card's data partition.
FOLDER = Path("/data/update")
NAME = "last-run.json"
PATH = FOLDER / NAME


@dataclass(frozen=True)
class Record:
    """One run's ``result``, the ``version`` it concerned, when (Unix time), why (``detail``,
    never a secret) and the last bundle installed (carried from run to run)."""

    result: Result
    version: str = ""
    at: float = 0.0
    detail: str = ""
    installed_sha256: str = ""

    def line(self) -> str:
        """For people: ``installed 1.4.0 at 2025-12-07T08:00:00Z``, with the detail after."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at))
        text = f"{self.result} {self.version or '-'} at {stamp}"
        return f"{text}: {self.detail}" if self.detail else text


def write(path: Path, record: Record) -> None:
    """Replace the file atomically, readable by everyone (the station reads it as its own user)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    write_atomic(path, json.dumps(dataclasses.asdict(record), sort_keys=True).encode() + b"\n", mode=0o644)


def read(path: Path) -> Record | None:
    """The last record, or None when there is none or it cannot be read as one."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_BYTES else None
        if not isinstance(data, dict) or data.get("result") not in RESULTS:
            return None
        fields = {f.name: f.type for f in dataclasses.fields(Record)}
        kept = {k: v for k, v in data.items() if k in fields}
        record = Record(**kept)
    except (OSError, ValueError, TypeError):
        return None
    if not all(isinstance(getattr(record, n), str) for n in ("version", "detail", "installed_sha256")):
        return None
    return record if isinstance(record.at, int | float) else None
