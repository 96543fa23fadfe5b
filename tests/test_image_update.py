"""The station's update path on the image: release-station-update installs a bundle into its own
venv on the data partition, switches atomically, refuses a damaged bundle and rolls back.

The bundles here hold a stand-in ``release-station`` wheel (a console script that prints its
version): the mechanism is what is tested; the real bundle comes from image-build/build.sh.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from station.host_facts import last_update

ROOT = Path(__file__).resolve().parent.parent
UPDATE = ROOT / "image-build" / "overlay" / "usr" / "local" / "sbin" / "release-station-update"

pytestmark = pytest.mark.slow


def _wheel(tmp: Path, version: str) -> Path:
    source = tmp / f"src-{version}"
    (source / "fake_station").mkdir(parents=True)
    (source / "fake_station" / "__init__.py").write_text(
        f"def main() -> None:\n    print('release-station {version}')\n"
    )
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "release-station"\nversion = "{version}"\n'
        '[project.scripts]\nrelease-station = "fake_station:main"\n'
    )
    out = tmp / f"wheels-{version}"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("*.whl"))


def _bundle(tmp: Path, version: str, *, damage: bool = False) -> Path:
    wheel = _wheel(tmp, version)
    data = wheel.read_bytes()
    version_file = version.encode() + b"\n"
    sums = f"{hashlib.sha256(version_file).hexdigest()}  VERSION\n"
    sums += f"{hashlib.sha256(data).hexdigest()}  wheels/{wheel.name}\n"
    if damage:
        data = data[:-10] + b"x" * 10
    bundle = tmp / f"release-station-{version}{'-damaged' if damage else ''}-update.tar"
    with tarfile.open(bundle, "w") as tar:
        for name, content in (
            ("VERSION", version.encode() + b"\n"),
            ("SHA256SUMS", sums.encode()),
            (f"wheels/{wheel.name}", data),
        ):
            path = tmp / "member"
            path.write_bytes(content)
            tar.add(path, arcname=name)
    return bundle


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("bundles")
    return {
        "1.0": _bundle(tmp, "1.0"),
        "2.0": _bundle(tmp, "2.0"),
        "2.1": _bundle(tmp, "2.1"),
        "bad": _bundle(tmp, "3.0", damage=True),
    }


def _update(apps: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RS_APP_DIR": str(apps),
        "RS_PYTHON": sys.executable,
        "RS_RESTART": f"touch {apps.parent / 'restarted'}",
    }
    return subprocess.run([str(UPDATE), *args], capture_output=True, text=True, env=env)


def _running(apps: Path) -> str:
    result = subprocess.run(
        [str(apps / "current" / "bin" / "release-station")], capture_output=True, text=True
    )
    return result.stdout.strip()


def test_install_switch_refuse_and_roll_back(tmp_path: Path, bundles: dict[str, Path]) -> None:
    apps = tmp_path / "app"
    restarted = tmp_path / "restarted"

    first = _update(apps, str(bundles["1.0"]))
    assert first.returncode == 0, first.stderr
    assert _running(apps) == "release-station 1.0" and restarted.exists()

    restarted.unlink()
    assert _update(apps, str(bundles["2.0"])).returncode == 0
    assert _running(apps) == "release-station 2.0" and restarted.exists()
    assert os.readlink(apps / "previous") == "1.0"
    installed = last_update(apps)  # what the station's metrics say about it
    assert installed.result == "installed" and installed.version == "2.0"

    restarted.unlink()
    damaged = _update(apps, str(bundles["bad"]))
    assert damaged.returncode != 0 and "FAILED" in damaged.stdout + damaged.stderr
    assert _running(apps) == "release-station 2.0" and not restarted.exists()  # nothing changed
    assert not [p for p in apps.iterdir() if p.name.startswith(".")]  # no leftovers

    assert _update(apps, "--rollback").returncode == 0
    assert _running(apps) == "release-station 1.0" and restarted.exists()
    assert "current: 1.0" in _update(apps, "--status").stdout
    rolled_back = last_update(apps)
    assert rolled_back.result == "rolled_back" and rolled_back.version == "1.0"
    assert rolled_back.at >= installed.at


def test_rolling_back_the_first_update_returns_to_the_image_version(
    tmp_path: Path, bundles: dict[str, Path]
) -> None:
    apps = tmp_path / "app"
    assert _update(apps, str(bundles["1.0"])).returncode == 0
    assert _update(apps, "--rollback").returncode == 0
    assert not (apps / "current").exists()  # the launcher falls back to /opt/release-station
    assert last_update(apps).result == "rolled_back"
    assert "the version the image came with" in _update(apps, "--status").stdout


def test_only_the_current_and_the_previous_version_are_kept(tmp_path: Path, bundles: dict[str, Path]) -> None:
    apps = tmp_path / "app"
    for version in ("1.0", "2.0", "2.1"):
        assert _update(apps, str(bundles[version])).returncode == 0
    assert sorted(p.name for p in apps.iterdir()) == ["2.0", "2.1", "current", "previous"]
    assert _update(apps, "--rollback").returncode == 0
    assert _running(apps) == "release-station 2.0"
    assert sorted(p.name for p in apps.iterdir()) == ["2.0", "2.1", "current", "previous"]
    # Installing the running version again keeps the way back.
    assert _update(apps, str(bundles["2.0"])).returncode == 0
    assert _running(apps) == "release-station 2.0" and os.readlink(apps / "previous") == "2.1"
