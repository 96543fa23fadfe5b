"""RAUC bundles on the build host: the image's keyring accepts what build.sh signs, nothing else.

The bundles are made by the image's own scripts (``rauc/dev-keys.sh``, ``rauc/bundle.sh``)
from a small ext4 root, and judged by Debian's ``rauc`` with the image's own
``/etc/rauc/system.conf`` (only its keyring path points at the test's CA). ``rauc extract``
checks a verity bundle's payload against the hash tree its signed manifest names, as
``rauc install`` does on the station through dm-verity.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RAUC_DIR = ROOT / "image-build" / "rauc"
SYSTEM_CONF = ROOT / "image-build" / "overlay" / "etc" / "rauc" / "system.conf"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("rauc", "mksquashfs", "mkfs.ext4", "openssl")),
    reason="needs rauc, squashfs-tools, e2fsprogs and openssl (image-build/ci.sh installs them)",
)


@dataclass(frozen=True)
class Keys:
    ca: Path
    cert: Path
    key: Path


def _keys(directory: Path) -> Keys:
    subprocess.run([str(RAUC_DIR / "dev-keys.sh"), str(directory)], check=True, capture_output=True)
    return Keys(directory / "ca.cert.pem", directory / "signing.cert.pem", directory / "signing.key.pem")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return _keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def root_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small ext4 root: verity needs more than one 4 KiB block of payload."""
    tmp = tmp_path_factory.mktemp("root")
    tree = tmp / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "os-release").write_text('PRETTY_NAME="release-station test root"\n')
    # Random bytes, so squashfs cannot squeeze them below a block.
    (tree / "payload").write_bytes(random.Random(15).randbytes(300_000))
    image = tmp / "root.ext4"
    subprocess.run(
        ["mkfs.ext4", "-q", "-L", "rootfs", "-d", str(tree), str(image), "8M"],
        check=True,
        capture_output=True,
    )
    return image


def _bundle(keys: Keys, keyring: Path, root: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(RAUC_DIR / "bundle.sh"),
            *("--cert", str(keys.cert), "--key", str(keys.key), "--keyring", str(keyring)),
            *("--version", "1.2.3", str(root), str(out)),
        ],
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def bundle(keys: Keys, root_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "update.raucb"
    made = _bundle(keys, keys.ca, root_image, out)
    assert made.returncode == 0, made.stderr
    return out


def _station_conf(keyring: Path, tmp_path: Path) -> Path:
    """The image's system.conf, trusting ``keyring``, its data directory (/data) in ``tmp_path``."""
    text = SYSTEM_CONF.read_text()
    for line in ("path=/etc/rauc/keyring.pem", "data-directory=/data/rauc"):
        assert f"\n{line}\n" in text
    conf = tmp_path / "system.conf"
    conf.write_text(
        text.replace("path=/etc/rauc/keyring.pem", f"path={keyring}").replace(
            "data-directory=/data/rauc", f"data-directory={tmp_path / 'rauc-data'}"
        )
    )
    return conf


def _rauc(conf: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rauc", f"--conf={conf}", *args], capture_output=True, text=True)


def _flip_byte(source: Path, target: Path, offset: int) -> None:
    data = bytearray(source.read_bytes())
    data[offset] ^= 0xFF
    target.write_bytes(bytes(data))


def test_a_bundle_signed_with_the_images_key_verifies_and_carries_the_same_root(
    keys: Keys, bundle: Path, root_image: Path, tmp_path: Path
) -> None:
    conf = _station_conf(keys.ca, tmp_path)
    info = _rauc(conf, "info", str(bundle))
    assert info.returncode == 0, info.stderr
    assert "Compatible: \t'release-station-arm64'" in info.stdout
    assert "Version:    \t'1.2.3'" in info.stdout
    assert "Bundle Format: \tverity" in info.stdout
    extracted = tmp_path / "extracted"
    done = _rauc(conf, "extract", str(bundle), str(extracted))
    assert done.returncode == 0, done.stderr
    assert (extracted / "rootfs.ext4").read_bytes() == root_image.read_bytes()


def test_a_bundle_signed_with_another_key_is_refused(keys: Keys, root_image: Path, tmp_path: Path) -> None:
    other = _keys(tmp_path / "other")
    foreign = tmp_path / "foreign.raucb"
    # bundle.sh checks what it signed against the keyring it is given: the wrong key fails there.
    refused_at_build = _bundle(other, keys.ca, root_image, foreign)
    assert refused_at_build.returncode != 0
    assert not foreign.exists()
    made = _bundle(other, other.ca, root_image, foreign)
    assert made.returncode == 0, made.stderr
    info = _rauc(_station_conf(keys.ca, tmp_path), "info", str(foreign))
    assert info.returncode != 0
    assert "signature verification failed" in info.stderr


def test_a_bundle_with_a_changed_payload_byte_is_refused(keys: Keys, bundle: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.raucb"
    _flip_byte(bundle, tampered, 100_000)  # inside the root image
    extracted = tmp_path / "extracted"
    done = _rauc(_station_conf(keys.ca, tmp_path), "extract", str(tampered), str(extracted))
    assert done.returncode != 0
    assert "bundle payload is corrupted" in done.stderr
    assert not (extracted / "rootfs.ext4").exists()


def test_a_bundle_with_a_changed_signature_byte_is_refused(keys: Keys, bundle: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.raucb"
    # The signature (CMS, with the manifest inside) sits before the bundle's last 8 bytes (its size).
    _flip_byte(bundle, tampered, bundle.stat().st_size - 600)
    info = _rauc(_station_conf(keys.ca, tmp_path), "info", str(tampered))
    assert info.returncode != 0


def test_a_plain_bundle_is_refused_even_when_signed_with_the_images_key(
    keys: Keys, root_image: Path, tmp_path: Path
) -> None:
    """Plain bundles are checked only as a whole before install: the station takes verity only."""
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(root_image, content / "rootfs.ext4")
    (content / "manifest.raucm").write_text(
        "[update]\ncompatible=release-station-arm64\nversion=1\n"
        "[bundle]\nformat=plain\n[image.rootfs]\nfilename=rootfs.ext4\n"
    )
    conf = _station_conf(keys.ca, tmp_path)
    plain = tmp_path / "plain.raucb"
    made = _rauc(conf, "bundle", f"--cert={keys.cert}", f"--key={keys.key}", str(content), str(plain))
    assert made.returncode == 0, made.stderr
    info = _rauc(conf, "info", str(plain))
    assert info.returncode != 0
    assert "Bundle format 'plain' not allowed" in info.stderr
