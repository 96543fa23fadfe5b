#!/usr/bin/env python3
"""Prove whole-card A/B updates under QEMU ``virt``, booted the Pi's way: U-Boot and boot.scr.

    run_ab.py [--image IMG] [--bundle RAUCB] [--keys DIR] [--timeout S] [--log FILE]

It boots a sparse scratch copy of the image (made and filled like ``run_qemu.py``'s: the
first-boot files pointing at the ezeep emulator in this process, the NTP bridge, the relay)
with Debian's ``qemu_arm64`` U-Boot as the machine's firmware (``-bios``), so ``boot.scr``
chooses the slot from ``boot-state.env`` exactly as on a Pi; the kernel command line comes from
``cmdline.txt``. Instead of ``smoke.sh`` the guest runs ``smoke/update-check.sh``. Five boots:

1. Slot A: the station pairs and reaches its idle screen, the slot is marked good, a badge is
   added, a bundle signed with another key (made here) is refused, and the update timer's
   service (``release-station-update.service``) reads the manifest (:func:`manifest`, every
   station in its share; ``allow_older``, as the bundle is the image's own version) from an
   HTTPS server in this process (a certificate for the guest's address made here, its CA added
   to the copy's trust store and named by ``[update] ca_file``), fetches the signed bundle
   (``--bundle``, default the newest ``out/*.raucb``) to ``/data/update`` and installs it; its
   reboot waits while the guest holds a session open, and comes when it ends.
2. Slot B, as the bundle wrote it plus the same test-only units (added between the boots, as
   they were to slot A before the first): the station reaches its idle screen again, the slot
   is marked good, the pairing and the badge (data partition) are still there, and the updater
   does not take the same bundle again. Then it installs
   ``broken.raucb`` into slot A: a bundle of the image's own root with one drop-in that makes
   the station exit at once (made here, signed with ``--keys``, the build's key; never
   shipped), and reboots.
3. Slot A, broken: nobody touches it. Its station fails for good, ``release-station-slot``
   marks the slot bad and reboots by itself.
4. Slot B again (U-Boot skips the bad slot): the station is ready, and its metrics say it runs
   B while A was installed last and rolled back. Then it installs the bundle into slot A again,
   and QEMU is killed (a power cut) once 400 MB of it are written.
5. Slot B again (the half-written slot is not chosen): the station is ready, the pairing and
   the badge are there.

Prints ``AB_RESULT status=PASSED|FAILED|SKIPPED`` with the figures (install time in the guest,
time from the kernel's start to the idle screen in slot B, the fallback's time, bundle size, the
whole run) and exits 0 when passed, 1 when failed, 3 when it could not run (never counted as
passed).
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import re
import shutil
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_qemu as rq  # this folder is not a package

UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
HTTPS_GUEST_PORT = 8443
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SMOKE = "/usr/local/lib/release-station-smoke"
SYSTEM = "/etc/systemd/system"
CHECK_UNIT = "release-station-update-check.service"
POWER_CUT = "AB_POWER_CUT_NOW"
# The figures on the AB_RESULT line (seconds from the kernel's start unless said otherwise).
FIGURES = (
    "install_s", "a_ready_s", "b_ready_s", "broken_install_s", "broken_boot_s", "back_ready_s",
    "cut_written_mb", "cut_ready_s", "fallback_state", "cut_state",
)  # fmt: skip
# The broken bundle's only change to the image's root: the station exits at once, every time.
NEVER_READY = """# run_ab.py's broken bundle (never shipped): the station never becomes ready.
[Service]
ExecStart=
ExecStart=/bin/false
"""


def certificates(scratch: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it issued for the guest's view of this host."""
    ca_key, ca, key, csr, crt = (
        scratch / n for n in ("ca.key", "ca.pem", "https.key", "https.csr", "https.pem")
    )
    rq._run(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "2", "-subj", "/CN=release-station A-B test CA", "-keyout", str(ca_key), "-out", str(ca),
    )  # fmt: skip
    rq._run(
        "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", f"/CN={rq.GUEST_FORWARD}", "-keyout", str(key), "-out", str(csr),
    )  # fmt: skip
    (scratch / "https.ext").write_text(f"subjectAltName=IP:{rq.GUEST_FORWARD}\n")
    rq._run(
        "openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "2", "-extfile", str(scratch / "https.ext"), "-out", str(crt),
    )  # fmt: skip
    return ca, crt, key


@contextmanager
def https_server(folder: Path, crt: Path, key: Path) -> Iterator[int]:
    """Serve ``folder`` over HTTPS on 127.0.0.1 (an ephemeral port) while the context lasts."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(crt, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def served_bundles(bundle: Path, scratch: Path) -> Path:
    """A folder with the bundle and ``foreign.raucb``: a small one signed with another key."""
    www = scratch / "www"
    www.mkdir()
    (www / bundle.name).symlink_to(bundle.resolve())
    tree = scratch / "foreign-root"
    tree.mkdir()
    (tree / "payload").write_bytes(os.urandom(300_000))  # verity needs more than one block
    rq._run("mkfs.ext4", "-q", "-d", str(tree), str(scratch / "foreign.ext4"), "8M")
    rq._run(str(rq.HERE / "rauc" / "dev-keys.sh"), str(scratch / "foreign-keys"))
    keys = scratch / "foreign-keys"
    rq._run(
        str(rq.HERE / "rauc" / "bundle.sh"), "--cert", str(keys / "signing.cert.pem"),
        "--key", str(keys / "signing.key.pem"), "--keyring", str(keys / "ca.cert.pem"), "--version", "0.0.0",
        str(scratch / "foreign.ext4"), str(www / "foreign.raucb"),
    )  # fmt: skip
    return www


def broken_bundle(image: Path, root: rq.Partition, keys: Path, scratch: Path, www: Path) -> Path:
    """``www/broken.raucb``: the image's own root slot with :data:`NEVER_READY` as a drop-in,
    signed with the build's ``keys`` (so the card accepts it). It is made beside the first boot's
    preparation, so it works in a folder of its own: :func:`run_qemu._debugfs` keeps its command
    file in the folder it is given, and a shared one let the two runs swap their commands."""
    scratch = scratch / "broken"
    scratch.mkdir()
    ext4 = scratch / "broken-root.ext4"
    rq._run(
        "dd", f"if={image}", f"of={ext4}", "bs=1M", "iflag=skip_bytes,count_bytes", f"skip={root.start}",
        f"count={root.size}", "conv=sparse", "status=none",
    )  # fmt: skip
    dropin = scratch / "never-ready.conf"
    dropin.write_text(NEVER_READY)
    whole = rq.Partition(0, root.size)
    target = f"{SYSTEM}/release-station.service.d/zz-never-ready.conf"
    rq._debugfs(whole, ext4, scratch, [f"write {dropin} {target}", f"sif {target} mode 0100644"])
    out = www / "broken.raucb"
    rq._run(
        str(rq.HERE / "rauc" / "bundle.sh"), "--cert", str(keys / "signing.cert.pem"),
        "--key", str(keys / "signing.key.pem"), "--keyring", str(keys / "ca.cert.pem"),
        "--version", "0.0.0-never-ready", str(ext4), str(out),
    )  # fmt: skip
    ext4.unlink()
    return out


def manifest(www: Path, bundle: Path) -> str:
    """``manifest.json`` beside the bundle, as image-build/README.md describes it; its URL."""
    version = re.search(r'^version = "(.*)"', (rq.HERE.parent / "pyproject.toml").read_text(), re.M)
    digest = hashlib.sha256()
    with bundle.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    offer = {
        "version": version.group(1) if version else "0",
        "bundle": bundle.name,
        "sha256": digest.hexdigest(),
        "size": bundle.stat().st_size,
        "share": 100,
        "allow_older": True,  # the bundle is the image's own version
    }
    (www / "manifest.json").write_text(json.dumps({"format": 1, "channels": {"stable": offer}}))
    return f"https://{rq.GUEST_FORWARD}:{HTTPS_GUEST_PORT}/manifest.json"


def update_config(port: int, manifest_url: str) -> str:
    """The station's configuration of run_qemu, with ``[update]`` naming the manifest."""
    return rq.station_config(port, "virt") + f'[update]\nurl = "{manifest_url}"\nca_file = "{CA_BUNDLE}"\n'


def uboot_command(command: list[str], https_port: int) -> list[str]:
    """``run_qemu``'s virt command with U-Boot as firmware instead of QEMU loading the kernel."""
    out: list[str] = []
    words = iter(command)
    for word in words:
        if word in ("-kernel", "-initrd", "-append"):
            next(words)
            continue
        out.append(word)
        if word == "-netdev":
            relay = f"{sys.executable} {Path(rq.__file__).resolve()} --relay {https_port}"
            out.append(f"{next(words)},guestfwd=tcp:{rq.GUEST_FORWARD}:{HTTPS_GUEST_PORT}-cmd:{relay}")
    # 2 GB, not the Pi 3's 1 GB: Debian's RAUC downloads an https:// bundle whole into /tmp (RAM).
    memory = out.index("-m") + 1
    out[memory] = "2048"
    return [*out, "-bios", str(UBOOT)]


def set_cmdline(copy: Path, boot: rq.Partition, scratch: Path, step: str, url: str) -> None:
    """cmdline.txt as the card has it (first boot rewrites its root=), for the guest's next step."""
    words = [
        w
        for w in rq._run("mtype", "-i", boot.mtools(copy), "::/cmdline.txt").split()
        if not w.startswith(("console=", "release-station.")) and w != "quiet"
    ]
    words = ["console=ttyAMA0", *words, f"release-station.ab={step}", f"release-station.ab_url={url}"]
    rq.put_on_boot_partition(copy, boot, scratch, "cmdline.txt", " ".join(words) + "\n")


def prepare_guest(copy: Path, root: rq.Partition, scratch: Path, ca: Path) -> None:
    """Replace smoke.sh by update-check.sh and trust the test CA in a root slot (debugfs, no mount)."""
    bundle = scratch / "ca-certificates.crt"
    rq._run("debugfs", "-R", f"dump {CA_BUNDLE} {bundle}", root.debugfs(copy))
    bundle.write_text(bundle.read_text() + ca.read_text())
    units = scratch / "units"
    rq._debugfs(
        root, copy, scratch,
        [
            f"rm {SYSTEM}/multi-user.target.wants/release-station-smoke.service",
            f"write {units / 'update-check.sh'} {SMOKE}/update-check.sh",
            f"sif {SMOKE}/update-check.sh mode 0100755",
            f"write {units / CHECK_UNIT} {SYSTEM}/{CHECK_UNIT}",
            f"sif {SYSTEM}/{CHECK_UNIT} mode 0100644",
            f"symlink {SYSTEM}/multi-user.target.wants/{CHECK_UNIT} {SYSTEM}/{CHECK_UNIT}",
            f"rm {CA_BUNDLE}",
            f"write {bundle} {CA_BUNDLE}",
            f"sif {CA_BUNDLE} mode 0100644",
        ],
    )  # fmt: skip


def results(outcome: rq.Boot) -> dict[str, str]:
    """Every ``AB_RESULT key=value`` the guest printed, merged."""
    found: dict[str, str] = {}
    for line in outcome.lines("AB_RESULT"):
        found.update(re.findall(r"(\w+)=(\S*)", line))
    return found


def booted_slot(outcome: rq.Boot) -> str:
    """The slot boot.scr chose (its "AB: booting slot X" line), or "none"."""
    chosen = re.findall(r"AB: booting slot (\w+)", outcome.log)
    return chosen[-1] if chosen else "none"


def boot_state(copy: Path, boot: rq.Partition, scratch: Path) -> dict[str, str]:
    """boot-state.env as U-Boot and RAUC left it, read on this host with fw_printenv."""
    state = scratch / "boot-state.env"
    rq._run("mcopy", "-o", "-i", boot.mtools(copy), "::/boot-state.env", str(state))
    config = scratch / "fw_env.config"
    config.write_text(f"{state} 0x0000 0x4000\n")
    return dict(line.split("=", 1) for line in rq._run("fw_printenv", "-c", str(config)).splitlines())


@dataclass(frozen=True)
class Card:
    """The scratch card and how to boot it: each boot sets its step in ``cmdline.txt`` first."""

    copy: Path
    parts: list[rq.Partition]
    scratch: Path
    command: list[str]
    url: str
    timeout_s: float
    log_path: Path

    def boot(self, step: str, name: str, *, power_cut: bool = False) -> rq.Boot:
        """Boot with update-check.sh's ``step`` (read by the test's units in slot B and in
        slot A before the first install); the console goes to the log named ``name``."""
        set_cmdline(self.copy, self.parts[0], self.scratch, step, self.url)
        log = self.log_path.with_name(self.log_path.name.replace(".serial", f"-{name}.serial"))
        if name == "a":  # the first boot keeps the log's own name
            log = self.log_path
        return rq.boot(self.command, self.timeout_s, log, power_cut_on=POWER_CUT if power_cut else None)

    def state(self) -> dict[str, str]:
        return boot_state(self.copy, self.parts[0], self.scratch)


def expect(problems: list[str], what: str, found: dict[str, str], wanted: dict[str, str]) -> None:
    """Add a problem when ``found`` differs from ``wanted`` in any of its keys."""
    wrong = {k: found.get(k) for k, v in wanted.items() if found.get(k) != v}
    if wrong:
        problems.append(f"{what}: {wrong} (expected {wanted}; all: {found or 'nothing'})")


def guest_state(line: str) -> dict[str, str]:
    """The boot state as the guest printed it (fw_printenv's lines joined by commas)."""
    return dict(pair.split("=", 1) for pair in line.split(",") if "=" in pair)


def install_phase(card: Card, problems: list[str]) -> dict[str, str]:
    """Boot 1: slot A refuses a foreign bundle, and its update timer's service installs the
    signed one into B and reboots once the session the guest holds has ended."""
    a = results(card.boot("install", "a"))
    wanted = {"slot": "A", "mark_good": "success", "install_rc": "0", "reboot_waits": "yes"}
    expect(problems, "slot A", a, wanted)
    if a.get("foreign_rc") in (None, "0") or a.get("foreign_refused") != "yes":
        problems.append(f"the foreign bundle: rc={a.get('foreign_rc')} refused={a.get('foreign_refused')}")
    return {"a_ready_s": a.get("ready_s", "none"), "install_s": a.get("install_s", "none")}


def new_slot_phase(card: Card, problems: list[str]) -> dict[str, str]:
    """Boot 2: slot B is ready and good with the data kept, then installs the broken bundle."""
    b = results(card.boot("broken", "b"))
    wanted = {"slot": "B", "mark_good": "success", "station": "active", "badge": "1", "broken_rc": "0"}
    wanted["update_again"] = "no_update"  # the same bundle is not taken twice
    expect(problems, "slot B", b, wanted)
    if b.get("paired_lines", "0") == "0":
        problems.append("slot B: the pairing was lost")
    state = guest_state(b.get("broken_boot_state", ""))
    if not state.get("BOOT_ORDER", "").startswith("A"):
        problems.append(f"after installing the broken bundle: {state} (expected slot A first)")
    return {"b_ready_s": b.get("ready_s", "none"), "broken_install_s": b.get("broken_s", "none")}


def fallback_phase(card: Card, problems: list[str]) -> dict[str, str]:
    """Boots 3 and 4: the broken slot A gives itself up, slot B is back with the rollback in its
    metrics; then a new install into A is cut by a power loss."""
    broken = card.boot("cut", "broken")  # slot A has no test units: this step is for slot B's
    slot, rebooted = booted_slot(broken), broken.exited_at_s is not None
    if (slot, rebooted) != ("A", True):
        problems.append(f"the broken slot: booted {slot}, rebooted by itself: {rebooted}")
    # release-station-slot's own words (the unit's start line is hidden by the quiet console).
    if "slot A failed its trial" not in broken.log:
        problems.append("the broken slot: release-station-slot did not give it up")
    state = card.state()
    if state.get("BOOT_A_LEFT") != "0":
        problems.append(f"after the fallback: {state} (expected slot A marked bad)")
    back = card.boot("cut", "back", power_cut=True)
    found = results(back)
    expect(problems, "back in slot B", {**found, "booted": booted_slot(back)}, {"booted": "B", "slot": "B"})
    metrics = back.lines("AB_METRIC")
    for wanted in (
        'release_station_slot_info{booted="B",installed="A"} 1',
        'release_station_update_result{result="rolled_back"} 1',
    ):
        if wanted not in metrics:
            problems.append(f"the metrics after the fallback lack {wanted}: {metrics}")
    # RAUC's post-install handler named the bundle it wrote (read from the mounted bundle).
    record = back.lines("AB_RECORD")
    if "version=0.0.0-never-ready" not in record or "trial=rolled_back" not in record:
        problems.append(f"the slot record after the fallback: {record}")
    if int(found.get("cut_written_mb", "0")) < 400 or back.returncode != -9:
        problems.append(
            f"the power cut: {found.get('cut_written_mb')} MB written, QEMU ended {back.returncode}"
        )
    return {
        "broken_boot_s": f"{broken.exited_at_s or 0:.0f}",
        "fallback_state": ",".join(f"{k}={v}" for k, v in sorted(state.items())),
        "back_ready_s": found.get("ready_s", "none"),
        "cut_written_mb": found.get("cut_written_mb", "none"),
    }


def power_cut_phase(card: Card, problems: list[str]) -> dict[str, str]:
    """Boot 5: after the power cut the card boots slot B, ready, data kept; A is not chosen."""
    after = card.boot("check", "after-cut")
    found = {**results(after), "booted": booted_slot(after)}
    wanted = {"booted": "B", "slot": "B", "mark_good": "success", "station": "active", "badge": "1"}
    expect(problems, "after the power cut", found, wanted)
    state = card.state()
    if state.get("BOOT_ORDER", "").startswith("A") and state.get("BOOT_A_LEFT") != "0":
        problems.append(f"after the power cut: {state} (slot A, half written, would be chosen)")
    return {
        "cut_ready_s": found.get("ready_s", "none"),
        "cut_state": ",".join(f"{k}={v}" for k, v in sorted(state.items())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--image", type=Path, default=Path(os.environ.get("RELEASE_STATION_IMAGE", rq.DEFAULT_IMAGE))
    )
    parser.add_argument(
        "--bundle", type=Path, help="the signed bundle (default: the newest in image-build/out)"
    )
    parser.add_argument(
        "--keys", type=Path, default=rq.HERE / "work" / "keys",
        help="the build's signing keys (rauc/dev-keys.sh), for the broken bundle",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for each boot")
    parser.add_argument("--log", type=Path, help="serial console log (default: next to the image)")
    args = parser.parse_args()
    log_path: Path = args.log or args.image.parent / "boot-ab.serial.log"
    bundle: Path | None = args.bundle or max(
        (rq.HERE / "out").glob("release-station-*.raucb"), key=os.path.getmtime, default=None
    )
    missing = [
        t
        for t in ("qemu-system-aarch64", "debugfs", "mcopy", "fw_printenv", "openssl", "rauc")
        if not shutil.which(t)
    ]
    reason = (
        f"missing tools: {' '.join(missing)}" if missing
        else f"no U-Boot at {UBOOT} (u-boot-qemu)" if not UBOOT.exists()
        else f"no image at {args.image}" if not args.image.exists()
        else "no bundle (build.sh makes it)" if bundle is None or not bundle.exists()
        else f"no signing key in {args.keys} (ci.sh)" if not (args.keys / "signing.key.pem").exists()
        else ""
    )  # fmt: skip
    if reason or bundle is None:
        print(f"AB_RESULT status=SKIPPED reason={json.dumps(reason)}", flush=True)
        return rq.EXIT_SKIPPED
    return _ab_test(args.image, bundle, args.keys, args.timeout, log_path)


def _ab_test(image: Path, bundle: Path, keys: Path, timeout_s: float, log_path: Path) -> int:
    from station.emulator import Emulator

    started = time.monotonic()
    problems: list[str] = []
    figures: dict[str, str] = {}
    with (
        tempfile.TemporaryDirectory(prefix="qemu-ab-", dir=image.parent) as tmp,
        ThreadPoolExecutor(1) as background,
    ):
        scratch = Path(tmp)
        copy = scratch / "sd.img"
        ca, crt, key = certificates(scratch)
        www = served_bundles(bundle, scratch)
        manifest_url = manifest(www, bundle)
        # Made while slot A boots: boot 2 installs it.
        broken: Future[Path] = background.submit(
            broken_bundle, image, rq.partitions(image)[1], keys, scratch, www
        )
        with (
            Emulator(poll_interval_s=1, job_duration_s=2.0) as emulator,
            https_server(www, crt, key) as https_port,
        ):
            emulator.auto_approve_device = emulator.printers[0].id
            port = int(emulator.url.rsplit(":", 1)[1])
            tapper_id = emulator.users[1].id  # as run_qemu: a user with waiting jobs
            parts, files, cmdline = rq.prepare(image, scratch, "virt", port, tapper_id=tapper_id)
            config = update_config(port, manifest_url)
            rq.put_on_boot_partition(copy, parts[0], scratch, "release-station.toml", config)
            rq.usb_stick(scratch)
            prepare_guest(copy, parts[1], scratch, ca)
            command = uboot_command(
                rq.qemu_command("virt", scratch, files, cmdline, port, mode="plain"), https_port
            )
            print(f"== A/B: {' '.join(command)}", flush=True)
            url = f"https://{rq.GUEST_FORWARD}:{HTTPS_GUEST_PORT}/{bundle.name}"
            card = Card(copy, parts, scratch, command, url, timeout_s, log_path)
            figures.update(install_phase(card, problems))
            broken.result()  # raises when the broken bundle could not be made
            if not problems:  # slot B is there to boot, as the bundle wrote it: add the test's units
                placeholders = {"@PORT@": str(port), "@TAPPER_ID@": tapper_id}
                rq._inject_units(copy, parts[2], scratch, "virt", placeholders)
                prepare_guest(copy, parts[2], scratch, ca)
            for phase in (new_slot_phase, fallback_phase, power_cut_phase):
                if not problems:
                    figures.update(phase(card, problems))
    status = "FAILED" if problems else "PASSED"
    # From the start of the broken install to the idle screen in the old slot again.
    fallback_s = sum(
        float(figures[k]) for k in ("broken_install_s", "broken_boot_s", "back_ready_s") if k in figures
    )
    shown = " ".join(f"{k}={figures.get(k, 'none')}" for k in FIGURES)
    print(
        f"AB_RESULT status={status} bundle_mb={bundle.stat().st_size >> 20} {shown}"
        f" fallback_s={fallback_s:.0f} wall_s={time.monotonic() - started:.0f} log={log_path}",
        flush=True,
    )
    for problem in problems:
        print(f"  - {problem}", flush=True)
    return rq.EXIT_FAILED if problems else rq.EXIT_PASSED


if __name__ == "__main__":
    sys.exit(main())
