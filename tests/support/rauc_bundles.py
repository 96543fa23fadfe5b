"""Small signed RAUC bundles made by the image's own scripts, and ``rauc`` judging them as a
station does (the image's system.conf, its keyring pointed at the test CA).

``rauc install`` needs RAUC's service on D-Bus and a card with slots: :func:`rauc_command`
passes every other command to the real ``rauc`` and records an install's bundle (its sha256,
one line each in ``installed``) instead. The install itself is proven by ``run_ab.py`` in QEMU.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAUC_DIR = ROOT / "image-build" / "rauc"
SYSTEM_CONF = ROOT / "image-build" / "overlay" / "etc" / "rauc" / "system.conf"


def signed_bundle(directory: Path, version: str) -> Path:
    """A verity bundle of a small ext4 root, version ``version``, signed with throw-away keys
    (``directory/keys``, made once) that :func:`rauc_command` trusts."""
    keys = directory / "keys"
    if not keys.exists():
        subprocess.run([str(RAUC_DIR / "dev-keys.sh"), str(keys)], check=True, capture_output=True)
    tree = directory / f"tree-{version}"
    tree.mkdir()
    (tree / "payload").write_bytes(random.Random(version).randbytes(300_000))  # verity: > 1 block
    root = directory / f"root-{version}.ext4"
    subprocess.run(["mkfs.ext4", "-q", "-d", str(tree), str(root), "8M"], check=True, capture_output=True)
    out = directory / f"release-station-{version}.raucb"
    subprocess.run(
        [
            str(RAUC_DIR / "bundle.sh"),
            *("--cert", str(keys / "signing.cert.pem"), "--key", str(keys / "signing.key.pem")),
            *("--keyring", str(keys / "ca.cert.pem"), "--version", version, str(root), str(out)),
        ],
        check=True,
        capture_output=True,
    )
    return out


def rauc_command(keys: Path, work: Path) -> tuple[str, ...]:
    """A ``rauc`` command line for :class:`station.update.rauc.Rauc`: the real one with the
    station's rules and the keys of :func:`signed_bundle` (in ``keys``), but ``install`` only
    recorded: the sha256 of each bundle installed, a line each in :func:`installed` of ``work``."""
    conf = work / "system.conf"
    conf.write_text(
        SYSTEM_CONF.read_text()
        .replace("path=/etc/rauc/keyring.pem", f"path={keys / 'keys' / 'ca.cert.pem'}")
        .replace("data-directory=/data/rauc", f"data-directory={work / 'rauc-data'}")
    )
    script = work / "rauc"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = install ]; then sha256sum "$2" | cut -d" " -f1 >> "{work / "installed"}"; exit 0; fi\n'
        f'exec rauc --conf="{conf}" "$@"\n'
    )
    script.chmod(0o755)
    return (str(script),)


def installed(work: Path) -> list[str]:
    """The sha256 of each bundle the :func:`rauc_command` of ``work`` installed, in order."""
    path = work / "installed"
    return path.read_text().split() if path.exists() else []
