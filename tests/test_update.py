"""The update timer's run (station.update) against an HTTPS update server on loopback.

The server (tests/support/update_server.py) serves a manifest and real bundles, signed by the
image's own scripts and checked by the real ``rauc info`` with the station's system.conf; only
``rauc install`` is recorded instead of writing a slot (tests/support/rauc_bundles.py; the
install itself is proven in QEMU by image-build/run_ab.py). The full data partition is a real
tmpfs of 256 KiB in a mount namespace of a child process.
"""

from __future__ import annotations

import dataclasses
import doctest
import fcntl
import hashlib
import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from station.cli import main
from station.cloud.http import trust
from station.config import UpdateSection, parse_config
from station.core.health import Offline, Ready
from station.core.identify import Identifying
from station.core.pairing import Pairing, Unpaired
from station.core.pins import PinSetup
from station.core.state import Booting
from station.core.view import StationInfo, View
from station.errors import ConfigError
from station.update import manifest, record
from station.update.busy import SessionLock
from station.update.manifest import Offer, UpdateError, in_share
from station.update.pending import SlotFiles
from station.update.rauc import Rauc
from station.update.run import Updater
from tests.support.rauc_bundles import installed, rauc_command, signed_bundle
from tests.support.tls_files import self_signed
from tests.support.update_server import UpdateServer

ROOT = Path(__file__).resolve().parent.parent
HW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("rauc", "mkfs.ext4", "openssl")),
    reason="needs rauc, e2fsprogs and openssl (image-build/ci.sh installs them)",
)


@dataclasses.dataclass(frozen=True)
class Bundles:
    directory: Path
    new: bytes  # version 2.0.0
    old: bytes  # version 0.9.0


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    directory = tmp_path_factory.mktemp("bundles")
    new = signed_bundle(directory, "2.0.0").read_bytes()
    old = signed_bundle(directory, "0.9.0").read_bytes()
    return Bundles(directory, new, old)


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


@pytest.fixture
def server(tls: tuple[Path, Path]) -> Iterator[UpdateServer]:
    with UpdateServer(*tls) as running:
        yield running


@pytest.fixture
def client(tls: tuple[Path, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(verify=trust(str(tls[0])), timeout=5) as made:
        yield made


def _updater(tmp_path: Path, bundles: Bundles, url: str, *, max_bundle_bytes: int = 1 << 30) -> Updater:
    """An updater running 1.0.0 with its data partition, session lock and reboot in ``tmp_path``;
    what its ``rauc install`` took is :func:`installed` of ``tmp_path``."""
    section = UpdateSection(url=url, max_bundle_bytes=max_bundle_bytes, data_reserve_bytes=0)
    return Updater(
        section,
        "1.0.0",
        HW,
        folder=tmp_path / "data" / "update",
        rauc=Rauc(rauc_command(bundles.directory, tmp_path)),
        session_lock=tmp_path / "session.lock",
        reboot_command=("touch", str(tmp_path / "rebooted")),
        slot_files=_card(tmp_path),
    )


def _card(tmp_path: Path) -> SlotFiles:
    """The slot record, kernel command line and boot id of the card, in ``tmp_path``/card."""
    card = tmp_path / "card"
    return SlotFiles(card / "last-install", (card / "cmdline",), card / "boot_id")


def _bundle_files(updater: Updater) -> list[str]:
    return sorted(p.name for p in updater.folder.glob("*.raucb*"))


def test_the_examples_run() -> None:
    assert doctest.testmod(manifest).failed == 0
    assert doctest.testmod(record).failed == 0


def test_a_station_in_the_share_installs_a_newer_bundle_and_reboots(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client
) -> None:
    updater = _updater(tmp_path, bundles, server.publish(bundles.new, version="2.0.0"))
    done = updater.run(client)
    assert (done.result, done.version) == ("installed", "2.0.0")
    assert installed(tmp_path)[-1] == hashlib.sha256(bundles.new).hexdigest() == done.installed_sha256
    assert (tmp_path / "rebooted").exists()
    assert _bundle_files(updater) == []  # the bundle is deleted once installed
    assert record.read(updater.record_path) == done
    assert (updater.record_path.stat().st_mode & 0o777) == 0o644  # the station reads it as its user
    # The next run is not taken in again by the same bundle (nor after a rollback of it).
    again = updater.run(client)
    assert again.result == "no_update" and "was installed here" in again.detail
    assert again.installed_sha256 == done.installed_sha256


@pytest.mark.parametrize(
    ("trial", "booted", "boot", "reboots"),
    [
        ("pending", "A", "this", True),  # the reboot's wait was killed: the card still runs A
        ("pending", "B", "this", False),  # B runs (a power cut started it)
        ("good", "A", "this", False),  # not on trial
        ("pending", "A", "earlier", False),  # installed in an earlier boot: B was tried and left
    ],
)
def test_an_install_whose_reboot_never_came_is_rebooted_by_the_next_run(
    tmp_path: Path,
    bundles: Bundles,
    server: UpdateServer,
    client: httpx.Client,
    trial: str,
    booted: str,
    boot: str,
    reboots: bool,
) -> None:
    updater = _updater(tmp_path, bundles, server.publish(bundles.new, version="2.0.0"))
    assert updater.run(client, reboot=False).result == "installed"  # as if the wait was killed
    # What RAUC's post-install handler (release-station-slot) and the kernel left on the card.
    files = updater.slot_files
    files.record.parent.mkdir()
    files.record.write_text(f"slot=B\nversion=2.0.0\ninstalled_at=1\nboot={boot}-id\ntrial={trial}\n")
    files.cmdlines[0].write_text(f"console=ttyAMA0 root=PARTUUID=9528807c-02 rauc.slot={booted} rootwait\n")
    files.boot_id.write_text("this-id\n")
    assert not (tmp_path / "rebooted").exists()

    again = updater.run(client)
    assert again.result == "no_update" and "was installed here" in again.detail
    assert ("slot B still waits for the reboot" in again.detail) == reboots
    assert (tmp_path / "rebooted").exists() == reboots
    assert len(installed(tmp_path)) == 1  # never installed twice


def test_a_station_outside_the_share_waits_and_nothing_is_fetched(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client
) -> None:
    updater = _updater(tmp_path, bundles, server.publish(bundles.new, version="2.0.0", share=0))
    done = updater.run(client)
    assert done.result == "not_in_share" and "first 0%" in done.detail
    assert [path for path, _ in server.requests] == ["/manifest.json"]
    assert not (tmp_path / "rebooted").exists()


def test_the_share_is_stable_per_station_and_grows_with_it() -> None:
    stations = [f"00000000-0000-0000-0000-{n:012x}" for n in range(2000)]
    tenth = {hw for hw in stations if in_share(hw, "2.0.0", 10)}
    half = {hw for hw in stations if in_share(hw, "2.0.0", 50)}
    assert 150 < len(tenth) < 250 and 900 < len(half) < 1100
    assert tenth <= half  # raising the share keeps the first stations in
    assert tenth != {hw for hw in stations if in_share(hw, "2.1.0", 10)}  # each version picks anew
    assert all(in_share(hw, "2.0.0", 100) and not in_share(hw, "2.0.0", 0) for hw in stations[:50])


def test_an_older_or_equal_version_is_refused_unless_the_manifest_allows_it(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client
) -> None:
    updater = _updater(tmp_path, bundles, server.publish(bundles.old, version="0.9.0"))
    refused = updater.run(client)
    assert refused.result == "no_update" and "not newer than the running 1.0.0" in refused.detail
    assert installed(tmp_path) == []
    server.publish(bundles.old, version="0.9.0", allow_older=True)  # the operator's way back
    back = updater.run(client)
    assert (back.result, back.version) == ("installed", "0.9.0")


@pytest.mark.parametrize(
    ("wrong", "problem"),
    [
        ("sha256", "the bundle's sha256 is not the manifest's"),
        ("key", "not a bundle signed for this station: rauc info: signature verification failed"),
        ("version", "the bundle is 0.9.0, the manifest said 3.0.0"),
    ],
)
def test_a_bundle_that_is_not_the_promised_one_is_refused_and_deleted(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client, wrong: str, problem: str
) -> None:
    if wrong == "sha256":
        url = server.publish(bundles.new, version="2.0.0", sha256=hashlib.sha256(b"x").hexdigest())
    elif wrong == "key":
        (tmp_path / "other").mkdir()
        foreign = signed_bundle(tmp_path / "other", "2.0.0")  # its own throw-away keys
        url = server.publish(foreign.read_bytes(), version="2.0.0")
    else:
        url = server.publish(bundles.old, version="3.0.0")
    updater = _updater(tmp_path, bundles, url)
    done = updater.run(client)
    assert done.result == "failed" and problem in done.detail
    assert _bundle_files(updater) == [] and installed(tmp_path) == []
    assert not (tmp_path / "rebooted").exists()


def test_a_bundle_too_big_is_refused_before_a_byte_is_fetched(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client
) -> None:
    url = server.publish(bundles.new, version="2.0.0", size=2 * 1024 * 1024)
    done = _updater(tmp_path, bundles, url, max_bundle_bytes=1024 * 1024).run(client)
    assert done.result == "failed" and "more than [update] max_bundle_bytes (1048576)" in done.detail
    assert [path for path, _ in server.requests] == ["/manifest.json"]


def test_a_server_sending_more_than_the_manifests_size_is_cut_off(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client
) -> None:
    url = server.publish(bundles.new, version="2.0.0", size=1000)
    done = _updater(tmp_path, bundles, url).run(client)
    assert done.result == "failed" and "more than the manifest's size" in done.detail
    assert installed(tmp_path) == []


def test_a_download_cut_off_resumes_where_it_stopped(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client
) -> None:
    updater = _updater(tmp_path, bundles, server.publish(bundles.new, version="2.0.0"))
    server.cut_after = 100_000  # the link drops (or the power goes) after 100 kB
    first = updater.run(client)
    assert first.result == "failed" and installed(tmp_path) == []
    assert [p.stat().st_size for p in updater.folder.glob("*.part")] == [100_000]
    server.cut_after = None
    done = updater.run(client)
    assert done.result == "installed"
    assert server.requests[-1][1] == "bytes=100000-"
    assert installed(tmp_path) == [hashlib.sha256(bundles.new).hexdigest()]


def test_a_server_that_ignores_the_range_starts_the_download_over(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client
) -> None:
    updater = _updater(tmp_path, bundles, server.publish(bundles.new, version="2.0.0"))
    server.cut_after = 50_000
    updater.run(client)
    server.cut_after, server.ignore_range = None, True
    done = updater.run(client)
    assert done.result == "installed" and server.requests[-1][1] == "bytes=50000-"
    assert installed(tmp_path) == [hashlib.sha256(bundles.new).hexdigest()]


def test_a_finished_download_is_installed_without_fetching_it_again(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client
) -> None:
    """Power lost after the download, before the install: the next run checks and installs it."""
    updater = _updater(tmp_path, bundles, server.publish(bundles.new, version="2.0.0"))
    updater.folder.mkdir(parents=True)
    (updater.folder / f"{hashlib.sha256(bundles.new).hexdigest()}.raucb").write_bytes(bundles.new)
    (updater.folder / f"{'0' * 64}.raucb.part").write_bytes(b"an offer that changed since")
    done = updater.run(client)
    assert done.result == "installed"
    assert [path for path, _ in server.requests] == ["/manifest.json"]
    assert _bundle_files(updater) == []


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_full_data_partition_fails_clearly_and_loses_nothing(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, tls: tuple[Path, Path]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # The station's own data is on the same partition: it must stay as it was.
    mount = 'mount -t tmpfs -o size=256k tmpfs "$0" && echo kept > "$0/station.db"'
    script = f'{mount} && "$@"; cat "$0/station.db"'
    child = subprocess.run(
        [
            "unshare", "-Urm", "sh", "-c", script, str(data),
            sys.executable, "-m", "tests.support.update_child",
            server.publish(bundles.new, version="2.0.0"), str(tls[0]), str(data / "update"),
            rauc_command(bundles.directory, tmp_path)[0],
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if "Operation not permitted" in child.stderr:
        pytest.skip(f"no mount namespace here: {child.stderr.strip()}")
    done = json.loads(child.stdout.splitlines()[0])
    assert done["result"] == "failed", child.stderr
    assert "not enough room on the data partition" in done["detail"]
    assert "only 0.2 MB are free; nothing was deleted" in done["detail"]
    assert installed(tmp_path) == [] and child.stdout.splitlines()[1] == "kept"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"[1, 2]", '"format": 1'),
        (b'{"format": 2, "channels": {}}', '"format": 1'),
        (b'{"format": 1, "channels": {"beta": {}}}', "no channel 'stable' (it has: beta)"),
        (b"[" * 100_000, "larger than"),
        (b"[" * 5000 + b"]" * 5000, "not JSON"),
    ],
)
def test_a_manifest_that_is_not_one_is_refused_clearly(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client, body: bytes, problem: str
) -> None:
    server.files["/manifest.json"] = body
    done = _updater(tmp_path, bundles, server.url("/manifest.json")).run(client)
    assert done.result == "failed" and problem in done.detail


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"version": "2.0.0-rc1"}, "dotted numbers"),
        ({"version": 2}, '"version" must be a string'),
        ({"sha256": "ABC"}, '"sha256" must be 64'),
        ({"size": -1}, '"size" must be'),
        ({"size": True}, '"size" must be'),
        ({"share": 101}, '"share" must be'),
        ({"share": "10%"}, '"share" must be'),
        ({"allow_older": "yes"}, '"allow_older" must be'),
        ({"bundle": "http://updates.example/x.raucb"}, "must be on https://"),
        ({"bundle": ""}, '"bundle" must be'),
    ],
)
def test_a_channel_entry_with_a_wrong_value_names_it(entry: dict[str, object], problem: str) -> None:
    good = {"version": "2.0.0", "bundle": "b.raucb", "sha256": "a" * 64, "size": 10, "share": 5}
    body = json.dumps({"format": 1, "channels": {"stable": good | entry}}).encode()
    with pytest.raises(UpdateError) as raised:
        manifest.parse(body, "https://updates.example/m.json", "stable", max_bundle_bytes=1 << 30)
    assert problem in str(raised.value)


def test_a_relative_bundle_is_fetched_beside_the_manifest() -> None:
    body = json.dumps(
        {
            "format": 1,
            "channels": {
                "s": {"version": "2.0", "bundle": "b/x.raucb", "sha256": "a" * 64, "size": 1, "share": 0}
            },
        }
    ).encode()
    offer = manifest.parse(body, "https://updates.example/fleet/m.json", "s", max_bundle_bytes=10)
    assert offer == Offer("2.0", "https://updates.example/fleet/b/x.raucb", "a" * 64, 1, 0)


def test_a_slow_or_absent_server_fails_the_run_with_a_message(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, tls: tuple[Path, Path]
) -> None:
    url = server.publish(bundles.new, version="2.0.0")
    server.stall = threading.Event()
    with httpx.Client(verify=trust(str(tls[0])), timeout=0.5) as impatient:
        slow = _updater(tmp_path, bundles, url).run(impatient)
    server.stall.set()
    assert slow.result == "failed" and "could not be fetched" in slow.detail
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with httpx.Client(verify=trust(str(tls[0])), timeout=2) as client:
        down = _updater(tmp_path, bundles, f"https://127.0.0.1:{port}/manifest.json").run(client)
    assert down.result == "failed" and f"from https://127.0.0.1:{port}/manifest.json" in down.detail


def test_an_untrusted_server_is_refused(tmp_path: Path, bundles: Bundles, server: UpdateServer) -> None:
    url = server.publish(bundles.new, version="2.0.0")
    with httpx.Client(verify=trust(""), timeout=5) as public_cas_only:
        done = _updater(tmp_path, bundles, url).run(public_cas_only)
    assert done.result == "failed" and "CERTIFICATE_VERIFY_FAILED" in done.detail


def _view(mode: object) -> View:
    return View(StationInfo(cloud="ok"), mode)  # type: ignore[arg-type]


class _Said(logging.Handler):
    """Sets ``event`` when a record with ``text`` is logged (from any thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = threading.Event()

    def emit(self, entry: logging.LogRecord) -> None:
        if self.text in entry.getMessage():
            self.event.set()


def test_the_reboot_waits_for_the_end_of_a_session(
    tmp_path: Path,
    bundles: Bundles,
    server: UpdateServer,
    client: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="station.update.busy")
    updater = _updater(tmp_path, bundles, server.publish(bundles.new, version="2.0.0"))
    station = SessionLock(tmp_path / "session.lock")
    station.view(_view(Identifying(ticket=1, badge_id="04AB15C0")))  # someone tapped
    said = _Said("the reboot waits")
    logging.getLogger("station.update.busy").addHandler(said)
    outcome: list[record.Record] = []
    run = threading.Thread(target=lambda: outcome.append(updater.run(client)))
    try:
        run.start()
        assert said.event.wait(30)
        assert record.read(updater.record_path) is not None
        assert record.read(updater.record_path).result == "installed"  # type: ignore[union-attr]
        assert not (tmp_path / "rebooted").exists()
        station.view(_view(Ready()))  # the session ends
        run.join(30)
    finally:
        logging.getLogger("station.update.busy").removeHandler(said)
        station.close()
    assert outcome[0].result == "installed" and (tmp_path / "rebooted").exists()


def test_no_station_running_means_no_wait(
    tmp_path: Path, bundles: Bundles, server: UpdateServer, client: httpx.Client
) -> None:
    updater = _updater(tmp_path, bundles, server.publish(bundles.new, version="2.0.0"))
    assert not updater.session_lock.exists()
    assert updater.run(client).result == "installed" and (tmp_path / "rebooted").exists()


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ('url = "http://updates.example/m.json"', "update.url", "plain http is allowed only on loopback"),
        ('url = "ftp://updates.example/m.json"', "update.url", "https:// URL"),
        ('channel = "Stable Channel"', "update.channel", "lower-case letters"),
        ("max_bundle_bytes = 10", "update.max_bundle_bytes", "between"),
        ('timeout_s = "soon"', "update.timeout_s", "a number"),
        ("verify = false", "update.verify", "unknown key"),
    ],
)
def test_a_wrong_update_setting_is_refused_naming_the_key(table: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f"[update]\n{table}\n", "station.toml")
    assert raised.value.key == key and problem in raised.value.problem


def test_the_cli_checks_and_shows_the_last_run(
    tmp_path: Path,
    bundles: Bundles,
    server: UpdateServer,
    tls: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = server.publish(bundles.new, version="99.0.0", share=100)
    config = tmp_path / "station.toml"
    config.write_text(
        f'[station]\nstate_dir = "{tmp_path / "state"}"\nhardware_id = "{HW}"\n'
        f'[update]\nurl = "{url}"\nca_file = "{tls[0]}"\n'
    )
    assert main(["--config", str(config), "update", "check"]) == 0
    assert capsys.readouterr().out.startswith("take: 99.0.0 is newer than the running ")
    assert main(["--config", str(config), "update", "status"]) == 0
    assert "last run: none" in capsys.readouterr().out
    unset = tmp_path / "unset.toml"
    unset.write_text(f'[station]\nstate_dir = "{tmp_path / "state"}"\n')
    assert main(["--config", str(unset), "update", "run"]) == 0  # no url: nothing, no record
    assert capsys.readouterr().out.startswith("no [update] url is configured")
    config.write_text(config.read_text().replace("/manifest.json", "/gone.json"))
    assert main(["--config", str(config), "update", "check"]) == 1
    assert "failed: the manifest's server answered 404" in capsys.readouterr().out


def test_the_station_holds_the_lock_only_while_someone_is_there(tmp_path: Path) -> None:
    lock = tmp_path / "session.lock"
    station = SessionLock(lock)

    def someone_there() -> bool:
        with lock.open("rb") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False

    try:
        seen = []
        for mode in (
            Booting(),
            Unpaired(ticket=1),
            Pairing(ticket=1, code="K7QF-2M9D", auth_url="https://ezeep.test/pair", expires_at=300.0),
            Ready(),
            Identifying(ticket=1, badge_id="04AB15C0"),
            Offline("network", None, since=0.0),
            PinSetup(ticket=2, purpose="technician"),  # a fresh card shows it by itself, for days
            PinSetup(ticket=3, purpose="release", expires_at=60.0),  # a badge holder chooses one
            Ready(),
        ):
            station.view(_view(mode))
            seen.append(someone_there())
    finally:
        station.close()
    assert seen == [False, False, False, False, True, False, False, True, False]
