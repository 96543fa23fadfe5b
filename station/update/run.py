"""One update run, as the timer starts it: check, fetch, verify, install, reboot when no one waits.

Each step leaves its :class:`~station.update.record.Record` (``downloaded``, ``installed``, or
``no_update``, ``not_in_share``, ``failed`` with the reason), so a power cut at any point leaves
a true record and the next run picks up: a partial bundle is resumed, a finished one is checked
again and installed. The reboot into the new slot waits for the end of the session at the
station (:mod:`station.update.busy`); ``reboot=False`` (``update run --no-reboot``) leaves it to
a person. A bundle installed here before is not installed again, but if its slot still waits
for the reboot (:mod:`station.update.pending`: that wait was killed), the run waits for it again.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from station.config import UpdateSection
from station.update import busy, download, manifest, pending, record
from station.update.manifest import Decision, UpdateError, shown
from station.update.rauc import Rauc

log = logging.getLogger(__name__)

REBOOT = ("systemctl", "reboot")


@dataclass(frozen=True)
class Updater:
    """Everything a run needs: the ``[update]`` settings, the running version, this station's
    hardware id, and where things are (tests point them at a temporary directory)."""

    settings: UpdateSection
    running: str
    hardware_id: str
    folder: Path = record.FOLDER
    rauc: Rauc = field(default_factory=Rauc)
    session_lock: Path = busy.LOCK_FILE
    reboot_command: Sequence[str] = REBOOT
    slot_files: pending.SlotFiles = field(default_factory=pending.SlotFiles)
    clock: Callable[[], float] = time.time

    @property
    def record_path(self) -> Path:
        return self.folder / record.NAME

    def last(self) -> record.Record | None:
        return record.read(self.record_path)

    def check(self, client: httpx.Client) -> Decision:
        """Read the manifest and decide; nothing is written."""
        settings = self.settings
        if not settings.url:
            raise UpdateError("no [update] url is configured: this station does not look for updates")
        try:
            response = client.get(settings.url)
            body = response.read()
        except httpx.HTTPError as exc:
            raise UpdateError(
                f"the manifest could not be fetched from {shown(settings.url)}: {exc or type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise UpdateError(
                f"the manifest's server answered {response.status_code} for {shown(settings.url)}"
            )
        offer = manifest.parse(
            body, str(response.url), settings.channel, max_bundle_bytes=settings.max_bundle_bytes
        )
        last = self.last()
        return manifest.decide(
            offer,
            running=self.running,
            hardware_id=self.hardware_id,
            installed_sha256=last.installed_sha256 if last else "",
        )

    def run(self, client: httpx.Client, *, reboot: bool = True) -> record.Record:
        """The whole run; the record it ends with (also written to :attr:`record_path`)."""
        last = self.last()
        installed = last.installed_sha256 if last else ""
        version = ""
        try:
            decision = self.check(client)
            version = decision.offer.version
            if decision.verdict != "take":
                ours = decision.offer.sha256 == installed  # "installed here before"
                slot = pending.slot_awaiting_reboot(self.slot_files) if ours else ""
                if not slot:
                    return self._note(decision.verdict, version, decision.reason, installed)
                reason = f"{decision.reason}; slot {slot} still waits for the reboot"
                done = self._note(decision.verdict, version, reason, installed)
                self._reboot(version, reboot=reboot)
                return done
            log.info("taking %s: %s", version, decision.reason)
            offer = decision.offer
            bundle = download.fetch(
                client, offer, self.folder, reserve_bytes=self.settings.data_reserve_bytes
            )
            self._note("downloaded", version, f"{bundle.name} ({offer.size} bytes)", installed)
            self._verify(bundle, offer.version)
            started = self.clock()
            self.rauc.install(bundle)
            bundle.unlink()
            done = self._note(
                "installed",
                version,
                f"in {self.clock() - started:.0f} s; boots at the next restart",
                offer.sha256,
            )
        except UpdateError as exc:
            log.error("update: %s", exc)
            return self._note("failed", version, str(exc), installed)
        self._reboot(version, reboot=reboot)
        return done

    def _reboot(self, version: str, *, reboot: bool) -> None:
        """Reboot into the installed slot once no session runs (``reboot=False``: not at all)."""
        if reboot:
            with busy.wait_for_no_session(self.session_lock):
                log.info("rebooting into %s", version)
                subprocess.run(list(self.reboot_command), check=False)

    def _verify(self, bundle: Path, version: str) -> None:
        """``rauc info`` checks the signature; the bundle must be the version promised. A bundle
        refused here is deleted (it would be refused again)."""
        try:
            info = self.rauc.verify(bundle)
            if info.version != version:
                raise UpdateError(f"the bundle is {info.version}, the manifest said {version}: deleted")
        except UpdateError:
            bundle.unlink()
            raise

    def _note(self, result: record.Result, version: str, detail: str, installed: str) -> record.Record:
        entry = record.Record(result, version, self.clock(), detail, installed)
        record.write(self.record_path, entry)
        log.info("update: %s", entry.line())
        return entry
