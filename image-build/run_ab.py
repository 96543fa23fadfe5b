#!/usr/bin/env python3
"""Prove a whole-card A/B update under QEMU ``virt``, booted the Pi's way: U-Boot and boot.scr.

    run_ab.py [--image IMG] [--bundle RAUCB] [--timeout S] [--log FILE]

It boots a sparse scratch copy of the image (made and filled like ``run_qemu.py``'s: the
first-boot files pointing at the ezeep emulator in this process, the NTP bridge, the relay)
with Debian's ``qemu_arm64`` U-Boot as the machine's firmware (``-bios``), so ``boot.scr``
chooses the slot from ``boot-state.env`` exactly as on a Pi; the kernel command line comes from
``cmdline.txt``. Instead of ``smoke.sh`` the guest runs ``smoke/update-check.sh``:

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
   is marked good, the pairing and the badge (data partition) are still there, the updater does
   not take the same bundle again; the boot-count state says B first, 3 attempts.

Prints ``AB_RESULT status=PASSED|FAILED|SKIPPED`` with the figures (install time in the guest,
time from the kernel's start to the idle screen in slot B, bundle size) and exits 0 when passed,
1 when failed, 3 when it could not run (never counted as passed).
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
from collections.abc import Iterator
from contextlib import contextmanager
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


def boot_state(copy: Path, boot: rq.Partition, scratch: Path) -> dict[str, str]:
    """boot-state.env as U-Boot and RAUC left it, read on this host with fw_printenv."""
    state = scratch / "boot-state.env"
    rq._run("mcopy", "-o", "-i", boot.mtools(copy), "::/boot-state.env", str(state))
    config = scratch / "fw_env.config"
    config.write_text(f"{state} 0x0000 0x4000\n")
    return dict(line.split("=", 1) for line in rq._run("fw_printenv", "-c", str(config)).splitlines())


def second_boot(
    copy: Path,
    *,
    boot: rq.Partition,
    scratch: Path,
    command: list[str],
    url: str,
    timeout_s: float,
    log_path: Path,
) -> tuple[dict[str, str], list[str]]:
    """The boot after the install: the guest checks the slot it came up in."""
    set_cmdline(copy, boot, scratch, "check", url)
    second = rq.boot(command, timeout_s, log_path.with_name(log_path.name.replace(".serial", "-b.serial")))
    return results(second), second.lines("AB_STATUS")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--image", type=Path, default=Path(os.environ.get("RELEASE_STATION_IMAGE", rq.DEFAULT_IMAGE))
    )
    parser.add_argument(
        "--bundle", type=Path, help="the signed bundle (default: the newest in image-build/out)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for each boot")
    parser.add_argument("--log", type=Path, help="serial console log (default: next to the image)")
    args = parser.parse_args()
    log_path: Path = args.log or args.image.parent / "boot-ab.serial.log"
    bundle: Path | None = args.bundle or max(
        (rq.HERE / "out").glob("release-station-*.raucb"), key=os.path.getmtime, default=None
    )
    missing = [
        t
        for t in ("qemu-system-aarch64", "debugfs", "mcopy", "fw_printenv", "openssl")
        if not shutil.which(t)
    ]
    reason = (
        f"missing tools: {' '.join(missing)}" if missing
        else f"no U-Boot at {UBOOT} (u-boot-qemu)" if not UBOOT.exists()
        else f"no image at {args.image}" if not args.image.exists()
        else "no bundle (build.sh makes it)" if bundle is None or not bundle.exists()
        else ""
    )  # fmt: skip
    if reason or bundle is None:
        print(f"AB_RESULT status=SKIPPED reason={json.dumps(reason)}", flush=True)
        return rq.EXIT_SKIPPED
    return _ab_test(args.image, bundle, args.timeout, log_path)


def _ab_test(image: Path, bundle: Path, timeout_s: float, log_path: Path) -> int:
    from station.emulator import Emulator

    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="qemu-ab-", dir=image.parent) as tmp:
        scratch = Path(tmp)
        copy = scratch / "sd.img"
        ca, crt, key = certificates(scratch)
        www = served_bundles(bundle, scratch)
        manifest_url = manifest(www, bundle)
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
            url = f"https://{rq.GUEST_FORWARD}:{HTTPS_GUEST_PORT}/{bundle.name}"
            command = uboot_command(
                rq.qemu_command("virt", scratch, files, cmdline, port, mode="plain"), https_port
            )
            print(f"== A/B: {' '.join(command)}", flush=True)
            set_cmdline(copy, parts[0], scratch, "install", url)
            first = rq.boot(command, timeout_s, log_path)
            a = results(first)
            if (a.get("slot"), a.get("mark_good"), a.get("rc")) != ("A", "success", "0"):
                problems.append(f"slot A: {a or 'no AB_RESULT'} (expected slot=A mark_good=success rc=0)")
            if a.get("reboot_waits") != "yes":
                problems.append(f"the update's reboot did not wait for the session: {a.get('reboot_waits')}")
            if a.get("foreign_rc") in (None, "0") or a.get("foreign_refused") != "yes":
                problems.append(
                    f"the foreign bundle: rc={a.get('foreign_rc')} refused={a.get('foreign_refused')}"
                )
            state_after_install = boot_state(copy, parts[0], scratch)
            b: dict[str, str] = {}
            status_lines: list[str] = []
            if not problems:  # slot B is there to boot, as the bundle wrote it: add the test's units
                placeholders = {"@PORT@": str(port), "@TAPPER_ID@": tapper_id}
                rq._inject_units(copy, parts[2], scratch, "virt", placeholders)
                prepare_guest(copy, parts[2], scratch, ca)
                b, status_lines = second_boot(
                    copy,
                    boot=parts[0],
                    scratch=scratch,
                    command=command,
                    url=url,
                    timeout_s=timeout_s,
                    log_path=log_path,
                )
            expect = {"slot": "B", "mark_good": "success", "station": "active", "badge": "1"}
            expect["update_again"] = "no_update"  # the same bundle is not taken twice
            wrong = {k: b.get(k) for k, v in expect.items() if b.get(k) != v}
            if wrong or b.get("paired_lines", "0") == "0":
                problems.append(f"slot B: {wrong or b} (expected {expect} and the pairing kept)")
            state = boot_state(copy, parts[0], scratch)
            if (state.get("BOOT_ORDER"), state.get("BOOT_B_LEFT")) != ("B A", "3"):
                problems.append(f"boot-state.env after slot B: {state} (expected B first, 3 attempts)")
    status = "FAILED" if problems else "PASSED"
    print(
        f"AB_RESULT status={status} bundle_mb={bundle.stat().st_size >> 20}"
        f" install_s={a.get('install_s', 'none')}"
        f" b_ready_s={b.get('ready_s', 'none')} a_ready_s={a.get('ready_s', 'none')}"
        f" state_after_install={json.dumps(state_after_install)} log={log_path}",
        flush=True,
    )
    for problem in problems:
        print(f"  - {problem}", flush=True)
    for line in status_lines:
        print(f"  rauc| {line}")
    return rq.EXIT_FAILED if problems else rq.EXIT_PASSED


if __name__ == "__main__":
    sys.exit(main())
