"""``release-station doctor``: each check against the real thing on loopback, and its advice."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.readers.auto import PcscdState, Survey, UsbReader
from station.cli import main
from station.cli.cmd_doctor import check_paired, check_state_dir, check_technician_pin, reader_findings
from station.cloud.models import TokenPair
from station.cloud.tokens import TokenStore
from station.config import ReaderSection
from station.database import open_database
from station.emulator import Emulator
from station.pin import MAX_LOCK_S, PERMANENT_AFTER, Pins
from station.reader_kinds import PcscSettings, WedgeSettings
from tests.support.clock import FakeClock
from tests.support.connect_proxy import ConnectProxy, TlsFront
from tests.support.tls_files import self_signed

ACR122U = UsbReader(0x072F, 0x2200, "ACS ACR122U PICC Interface", "acr122", True)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A TLS server on 127.0.0.1 with a self-signed certificate; yields its port and the cert."""
    cert_path, key_path = self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5.0)
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()  # the client refused our certificate: that is a test case

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], cert_path
    stop.set()
    thread.join(5.0)
    listener.close()


def _config(tmp_path: Path, *, cloud: str, api: str = "", ca_file: str = "", proxy: str = "") -> Path:
    """A configuration with the simulated reader; ``api`` also serves the print URL if given."""
    path = tmp_path / "station.toml"
    hosts = {"account_url": cloud, "api_url": api or cloud, "print_url": api or cloud}
    urls = "".join(f'{key} = "{url}"\n' for key, url in hosts.items())
    path.write_text(
        f'[station]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[cloud]\n{urls}ca_file = "{ca_file}"\nproxy = "{proxy}"\n[reader]\nkind = "simulated"\n'
    )
    return path


def _doctor(config: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, str]:
    code = main(["--config", str(config), "doctor", *(options or ("--timeout", "10"))])
    return code, capsys.readouterr().out


def _pair(tmp_path: Path) -> None:
    db = open_database(tmp_path / "state" / "station.db")
    store = TokenStore(db, boot_id="test")
    store.save(TokenPair("access", "refresh", 3600, 0.0), hardware_id="hw", tp_id=7)
    store.set_printer("p-1", "Floor 3")
    Pins(db).set_technician("24681357")
    db.conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_all_good(tmp_path: Path, tls_server: tuple[int, Path], capsys: pytest.CaptureFixture[str]) -> None:
    port, cert = tls_server
    _pair(tmp_path)
    config = _config(tmp_path, cloud=f"https://127.0.0.1:{port}", ca_file=str(cert))
    code, out = _doctor(config, capsys)
    assert f"ok    configuration: {config}" in out
    assert f"ok    state directory: {tmp_path / 'state'} is writable" in out
    assert f"ok    cloud 127.0.0.1:{port}: reachable, TLSv1" in out
    assert out.count("cloud 127.0.0.1") == 1  # three URLs on one host: checked once
    assert "ok    paired: yes, to Floor 3" in out
    assert "ok    reader (kind = simulated): uses simulated (simulated)" in out
    assert "FAIL" not in out, out
    assert code == 0


def test_untrusted_certificate_points_to_ca_file(
    tmp_path: Path, tls_server: tuple[int, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    port, _ = tls_server
    code, out = _doctor(_config(tmp_path, cloud=f"https://127.0.0.1:{port}"), capsys)
    assert code == 1
    assert f"FAIL  cloud 127.0.0.1:{port}: its certificate is not trusted" in out
    assert "set cloud.ca_file" in out
    assert "warn  paired: no (no database yet)\n      fix: pair the station: release-station pair" in out


def test_nothing_listening_and_the_emulator(
    tmp_path: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = _free_port()
    code, out = _doctor(_config(tmp_path, cloud=f"https://127.0.0.1:{closed}", api=emulator.url), capsys)
    assert code == 1
    assert f"FAIL  cloud 127.0.0.1:{closed}: cannot connect: Connection refused" in out
    assert "fix: nothing listens there: start the emulator" in out
    assert "reachable (plain http: the emulator on loopback)" in out


def test_the_cloud_is_checked_through_the_proxy_the_station_uses(
    tmp_path: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a network where only the proxy reaches ezeep (here: only it resolves ezeep.test), the
    doctor goes the station's way: a CONNECT tunnel, TLS verified inside it."""
    cert, key = self_signed(tmp_path, "ezeep.test")
    with TlsFront(emulator.url, cert, key) as front, ConnectProxy({"ezeep.test": "127.0.0.1"}) as proxy:
        port = front.authority.rpartition(":")[2]
        ezeep = f"https://ezeep.test:{port}"
        code, out = _doctor(_config(tmp_path, cloud=ezeep, ca_file=str(cert), proxy=proxy.url), capsys)
        assert f"ok    cloud ezeep.test:{port}: reachable through the proxy {proxy.url}, TLSv1" in out
        assert proxy.tunnels == [f"ezeep.test:{port}"]  # three URLs on one host: checked once
        # The environment's proxy, as the station reads it; its password is never shown.
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("//", "//tech:s3cret@"))
        code, out = _doctor(_config(tmp_path, cloud=ezeep, ca_file=str(cert)), capsys)
        assert f"ok    cloud ezeep.test:{port}: reachable through the proxy {proxy.url}, TLSv1" in out
        assert "s3cret" not in out
        # A host the proxy cannot reach: its answer, and who to ask.
        closed = _free_port()
        code, out = _doctor(_config(tmp_path, cloud=f"https://127.0.0.1:{closed}"), capsys)
        assert (
            f"FAIL  cloud 127.0.0.1:{closed}: the proxy {proxy.url} opened no tunnel to it: HTTP/1.1 502"
            in out
        )
        assert f"fix: ask the proxy's administrators to allow CONNECT to 127.0.0.1:{closed}" in out
        assert code == 1
    # The proxy is down: said so, not blamed on ezeep.
    code, out = _doctor(_config(tmp_path, cloud=ezeep, ca_file=str(cert)), capsys)
    assert (
        f"FAIL  cloud ezeep.test:{port}: cannot connect through the proxy {proxy.url}: Connection refused"
        in out
    )
    assert "fix: check that the proxy is up and that cloud.proxy, or HTTPS_PROXY" in out


def test_broken_config_is_reported_and_the_rest_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "station.toml"
    config.write_text("[reader]\nkind = 'laser'\n")
    code, out = _doctor(config, capsys, "--offline")
    assert code == 1
    assert f"FAIL  configuration: {config}: reader.kind: must be one of" in out
    assert "fix: correct that key; `release-station config check`" in out
    assert "state directory: /var/lib/release-station" in out
    assert "cloud" not in out  # --offline


def test_a_broken_transform_chain_is_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "station.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n[transforms]\nwedge = "reverse hex2dec"\n')
    code, out = _doctor(config, capsys, "--offline")
    assert code == 1
    assert (
        f"FAIL  configuration: {config}: transforms.wedge: expected "
        "\"|\" between steps, found 'hex2dec' (at character 9); the station will not start\n"
        "      fix: correct that chain; `release-station card learn`"
    ) in out
    assert f"state directory: {tmp_path} is writable" in out  # the rest uses the file's settings


def test_state_dir_problems(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert check_state_dir(a_file).status == "fail"
    assert "is not a directory" in check_state_dir(a_file).detail
    under_file = check_state_dir(a_file / "state")
    assert (under_file.status, under_file.fix) == (
        "fail",
        f"create it: sudo install -d -o release-station -m 700 {a_file / 'state'}",
    )
    unwritable = check_state_dir(Path("/proc"))  # as root too: /proc takes no files
    assert unwritable.status == "fail"
    assert "chown -R release-station" in unwritable.fix
    assert check_state_dir(tmp_path / "new" / "state").status == "ok"


def test_paired_reads_the_tokens_table(tmp_path: Path) -> None:
    database = tmp_path / "state" / "station.db"
    assert check_paired(database).status == "warn"
    _pair(tmp_path)
    before = database.stat().st_mtime_ns
    assert check_paired(database).detail == "yes, to Floor 3"
    assert database.stat().st_mtime_ns == before
    db = open_database(database)
    TokenStore(db, boot_id="test").reject()
    db.conn.close()
    rejected = check_paired(database)
    assert (rejected.status, rejected.fix) == ("fail", "pair again: release-station pair")
    database.write_bytes(b"not a database at all" * 100)
    assert check_paired(database).status == "fail"


def test_kernel_driver_is_a_failure_when_it_holds_a_reader() -> None:
    found = Survey(
        PcscdState(False, error="pcscd is not available"), (ACR122U,), ("pn533_usb", "pn533", "nfc")
    )
    findings = {f.topic: f for f in reader_findings(ReaderSection(), found)}
    kernel = findings["kernel NFC driver"]
    assert kernel.status == "fail"
    assert kernel.fix.startswith("sudo modprobe -r pn533_usb pn533 nfc")
    assert findings["USB reader"].detail == (
        "ACS ACR122U PICC Interface [072f:2200], usable by nfcpy (acr122) or pcscd (CCID)"
    )
    assert findings["pcscd"].status == "warn"
    assert "systemctl enable --now pcscd.socket" in findings["pcscd"].fix
    assert findings["reader (kind = auto)"].detail == "uses nfc (nfc usb)"


def test_reader_choice_problems() -> None:
    nothing = Survey(PcscdState(True), (), ())
    auto = {f.topic: f for f in reader_findings(ReaderSection(), nothing)}
    assert auto["reader (kind = auto)"].status == "warn"
    assert auto["pcscd"].detail == "running, but it sees no reader"
    pcsc = {
        f.topic: f
        for f in reader_findings(
            ReaderSection(kind="pcsc", settings=(PcscSettings(pcsc_readers=("ACR122",)),)), nothing
        )
    }
    assert pcsc["reader (kind = pcsc)"].detail == "pcscd sees no reader named ACR122"
    nfc = {f.topic: f for f in reader_findings(ReaderSection(kind="nfc"), nothing)}
    assert nfc["reader (kind = nfc)"].status == "fail"
    wedge = {
        f.topic: f
        for f in reader_findings(
            ReaderSection(kind="wedge", settings=(WedgeSettings(wedge_usb_id="08ff:0009"),)), nothing
        )
    }
    assert wedge["reader (kind = wedge)"].detail == "the keyboard-wedge reader 08ff:0009 is not attached"


@pytest.mark.pcscd
def test_lists_what_pcscd_sees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.vpcd_card import vpcd_session

    config = tmp_path / "station.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n')
    with vpcd_session():
        _, out = _doctor(config, capsys, "--offline")
    assert "ok    pcscd: running; readers: Virtual PCD 00 00, Virtual PCD 00 01" in out
    assert "ok    reader (kind = auto): uses pcsc (PC/SC)" in out


def test_no_technician_pin_is_a_failure_that_says_how_to_set_one(tmp_path: Path) -> None:
    database = tmp_path / "station.db"
    missing = check_technician_pin(database)
    assert (missing.status, missing.detail) == ("fail", "not set (no database yet)")
    clock = FakeClock(0.0)
    pins = Pins(open_database(database), clock=clock)
    finding = check_technician_pin(database)
    assert finding.status == "fail" and "release-station pin set" in finding.fix
    assert "release-station pin hash" in finding.fix
    pins.set_technician("24681357")
    assert check_technician_pin(database).status == "ok"
    for _ in range(PERMANENT_AFTER):
        clock.advance(MAX_LOCK_S)
        pins.check_technician("0")
    locked = check_technician_pin(database)
    assert locked.status == "warn" and "locked after 10 wrong PINs" in locked.detail
