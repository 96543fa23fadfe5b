"""A checked thing and what to do about it: what ``release-station doctor`` prints, one per line.

Its own module so that the checks of each reader kind (in its driver module) and the doctor's
own checks give the same value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail", "unknown"]  # unknown: could not be told (doctor --live)


@dataclass(frozen=True)
class Finding:
    """One checked thing: how it stands, what was found, and what to do if it is a problem."""

    status: Status
    topic: str
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        mark = {"ok": "ok", "warn": "warn", "fail": "FAIL", "unknown": "unknown"}[self.status]
        out = [f"{mark:<5} {self.topic}: {self.detail}"]
        if self.fix and self.status != "ok":
            out.append(f"      fix: {self.fix}")
        return out
