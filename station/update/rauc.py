"""The real ``rauc``: check a downloaded bundle's signature, then install it.

``rauc info`` verifies the signature against the keyring of ``/etc/rauc/system.conf`` (the
project's CA) and reads the bundle's manifest; the run refuses a bundle whose version is not the
one the update manifest promised. ``rauc install FILE`` hands the file to RAUC's service over
D-Bus, which checks the signature again, writes the other slot and switches the boot order.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from station.update.manifest import UpdateError


@dataclass(frozen=True)
class BundleInfo:
    """What a bundle's signed manifest says."""

    compatible: str
    version: str


@dataclass(frozen=True)
class Rauc:
    """``command``: how ``rauc`` is run (tests add ``--conf=`` with their own keyring)."""

    command: tuple[str, ...] = ("rauc",)
    timeout_s: float = 3600.0

    def verify(self, bundle: Path) -> BundleInfo:
        """The bundle's compatible and version, once its signature checked out."""
        out = self._run(
            "info", "--output-format=json", str(bundle), what="is not a bundle signed for this station"
        )
        try:
            data = json.loads(out)
            return BundleInfo(str(data["compatible"]), str(data["version"]))
        except (ValueError, KeyError, TypeError):
            raise UpdateError("rauc info gave no compatible and version for the bundle") from None

    def install(self, bundle: Path) -> None:
        """Write the bundle into the other slot and make it the next boot's first."""
        self._run("install", str(bundle), what="was not installed")

    def _run(self, *args: str, what: str) -> str:
        try:
            done = subprocess.run(
                [*self.command, *args], capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UpdateError(f"rauc {args[0]} could not run: {exc}") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise UpdateError(f"the bundle {what}: rauc {args[0]}: {last}")
        return done.stdout
