"""``release-station doctor``: check the station's setup and say what to do about each problem.

Checks, in this order, and prints one line each (``ok``, ``warn`` or ``FAIL``), with a plain
``fix:`` line under every problem:

- the configuration file is valid, its card-number transform chains included (when the file
  is not, the rest is checked with the defaults);
- the state directory is writable and has room;
- the badge readers: what is attached (USB readers), what each reader kind's driver reports
  (pcscd and the readers it sees, a kernel NFC driver that would take a reader away), and which
  reader the configuration ends up using, with the kind's own advice when it is not attached;
- the cloud: for each configured ezeep host, DNS and a TLS handshake with the station's own trust
  store (each bounded by ``--timeout``), through the proxy the station's requests to that host
  go through (``cloud.proxy``, or the environment's ``HTTPS_PROXY``…: a CONNECT tunnel, the
  proxy named without its credentials), and whether the station is paired (the ``tokens``
  table, read without changing anything);
- the ``[directory]`` source, if any: its bind password file and CA file, and its last sync.

Exit code 0 when nothing failed (warnings are fine), 1 otherwise.

``--live`` checks instead, after the configuration, what the station assumes about ezeep, on the
configured ezeep with the station's own token (:mod:`station.cli.doctor_live`), and
``--release-test USER`` releases a page that user prints meanwhile.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ipaddress
import itertools
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from station.cli import EXIT_FAILURE, EXIT_OK, Context
from station.cloud.http import proxy_for, trust, without_credentials
from station.config import CloudSection, Config, ReaderSection
from station.errors import ConfigError, StorageError
from station.findings import Finding

if TYPE_CHECKING:
    import ssl

    from drivers.readers.auto import Survey
    from station.database import Database

MIN_FREE_BYTES = 50 * 1024 * 1024


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check configuration, state directory, readers and cloud, and say what to fix"
    )
    parser.add_argument(
        "--timeout", type=float, default=3.0, metavar="S", help="seconds for each network check (default 3)"
    )
    parser.add_argument("--offline", action="store_true", help="skip the network checks")
    parser.add_argument(
        "--live",
        action="store_true",
        help="check instead what the station assumes about ezeep, against the configured ezeep"
        " with the station's token (a paired station; exit 1 on any FAIL)",
    )
    parser.add_argument(
        "--release-test",
        metavar="USER",
        help="with --live: release a page this ezeep user (id or e-mail) prints to AnyPrinter meanwhile,"
        " and follow it until it is printed",
    )
    parser.add_argument(
        "--release-wait",
        type=float,
        default=120.0,
        metavar="S",
        help="with --release-test: seconds to wait for the page, and then for it to print (default 120)",
    )
    parser.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace, context: Context) -> int:
    if args.live:
        return _live(args, context)
    if args.release_test:
        raise ConfigError("the command line", "--release-test", "needs --live")
    config, finding = check_config(context)
    findings = [finding, check_state_dir(config.state_dir)]
    from drivers.readers.auto import survey

    findings += reader_findings(config.reader, survey(config.reader))
    if not args.offline:
        findings += cloud_findings(config.cloud, timeout=args.timeout)
    findings += [check_paired(config.database_path), check_technician_pin(config.database_path)]
    findings += check_directory(config)
    return _report(findings)


def _live(args: argparse.Namespace, context: Context) -> int:
    """``--live``: the configuration, then every live check (:mod:`station.cli.doctor_live`)."""
    from station.cli.cmd_pair import open_stack
    from station.cli.doctor_live import ReleaseTest, live_findings

    config, finding = check_config(context)
    if finding.status == "fail":
        return _report([finding])
    test = ReleaseTest(args.release_test, args.release_wait) if args.release_test else None
    with open_stack(context) as cloud:
        found = live_findings(
            cloud, config.cloud, release_test=test, out=sys.stdout, directory_source=config.directory.source
        )
        return _report(itertools.chain([finding], found))


def _report(found: Iterable[Finding]) -> int:
    """Print each finding as it comes, then the tally; the exit status (1 on any failure)."""
    findings: list[Finding] = []
    for finding in found:
        print("\n".join(finding.lines()), flush=True)
        findings.append(finding)
    problems = sum(f.status == "fail" for f in findings)
    warnings = sum(f.status == "warn" for f in findings)
    unknown = sum(f.status == "unknown" for f in findings)
    told = [f"{problems} problem(s)", f"{warnings} warning(s)"] + ([f"{unknown} unknown"] if unknown else [])
    print(f"\n{', '.join(told)}" if problems or warnings or unknown else "\nall good")
    return EXIT_FAILURE if problems else EXIT_OK


# -- configuration ------------------------------------------------------------------------------


def check_config(context: Context) -> tuple[Config, Finding]:
    """The configuration to check the rest with, and whether the station can start with it.

    Beyond the file itself, the card-number transform chains are parsed as at start-up: a
    syntax error there stops the station too.
    """
    from drivers.transforms import chains_from_config

    topic = "configuration"
    try:
        config = context.config
    except ConfigError as exc:
        fix = "correct that key; `release-station config check` checks the file again"
        return Config(), Finding("fail", topic, f"{exc} (the checks below use the defaults)", fix)
    try:
        chains_from_config(config.transforms, config.source)
    except ConfigError as exc:
        fix = "correct that chain; `release-station card learn` finds one from example cards"
        return config, Finding("fail", topic, f"{exc}; the station will not start", fix)
    return config, Finding("ok", topic, config.source)


# -- state directory ----------------------------------------------------------------------------


def check_state_dir(path: Path) -> Finding:
    """Whether the service can write its database to ``path`` (or create it there)."""
    topic = "state directory"
    as_user = "run doctor as the service user (sudo -u release-station release-station doctor)"
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), Path("/"))
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return Finding("ok", topic, f"{path} does not exist yet; the station will create it")
        return Finding(
            "fail",
            topic,
            f"{path} does not exist and {parent} is not writable",
            f"create it: sudo install -d -o release-station -m 700 {path}",
        )
    if not path.is_dir():
        return Finding("fail", topic, f"{path} is not a directory", "set station.state_dir to a directory")
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".doctor-") as probe:
            probe.write(b"release-station doctor")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return Finding(
            "fail",
            topic,
            f"cannot write to {path}: {exc.strerror or exc}",
            f"give it to the service user (sudo chown -R release-station: {path}; chmod 700 {path}), "
            f"or free some space; {as_user}",
        )
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_BYTES:
        return Finding(
            "warn",
            topic,
            f"{path} is writable but only {free // (1024 * 1024)} MB are free",
            "free some space on that file system (old logs: journalctl --vacuum-size=50M)",
        )
    return Finding("ok", topic, f"{path} is writable, {free // (1024 * 1024)} MB free")


# -- readers ------------------------------------------------------------------------------------


def reader_findings(section: ReaderSection, found: Survey) -> list[Finding]:
    """What is attached, what each reader kind reports, and which reader ``section`` will use."""
    from drivers.readers.auto import chosen
    from drivers.readers.registry import DRIVERS

    findings = [Finding("ok", "USB reader", str(device)) for device in found.usb]
    if not found.usb and (section.kind == "auto" or DRIVERS[section.kind].usb):
        findings.append(
            Finding(
                "warn",
                "USB reader",
                "no USB NFC or smart-card reader is plugged in",
                "plug the reader in (a serial PN532 does not show here); lsusb lists what the Pi sees",
            )
        )
    for driver in DRIVERS.values():
        findings += driver.findings(section, found)
    driver = chosen(section, found)
    reader = driver.open(section)
    topic = f"reader (kind = {section.kind})"
    chosen_reader = f"{reader.kind} ({reader.name})"
    if not driver.attached(section, found):
        if section.kind == "auto":
            return [
                *findings,
                Finding(
                    "warn",
                    topic,
                    f"nothing found; the station will wait for a PC/SC reader: {chosen_reader}",
                    "plug in a reader, or set reader.kind (and nfc_device, wedge_device) in the "
                    "configuration",
                ),
            ]
        absent = driver.absent(section)
        return [*findings, Finding("fail", topic, absent.detail, absent.fix)]
    return [*findings, Finding("ok", topic, f"uses {chosen_reader}")]


# -- cloud --------------------------------------------------------------------------------------


def cloud_findings(section: CloudSection, *, timeout: float) -> list[Finding]:
    """DNS and a TLS handshake (a TCP connection for the loopback emulator) per configured host,
    through the proxy the station's requests to that host go through, if any."""
    import ssl  # here, as in check_host: every start of the station parses this module

    try:
        context = trust(section.ca_file)
    except (OSError, ssl.SSLError) as exc:
        return [
            Finding(
                "fail",
                "cloud",
                f"cannot load cloud.ca_file {section.ca_file}: {exc}",
                "point cloud.ca_file at a PEM file with the CA certificate(s), or leave it empty",
            )
        ]
    seen: set[tuple[str, str, int]] = set()
    findings: list[Finding] = []
    for url in (section.account_url, section.api_url, section.print_url):
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if (parts.scheme, host, port) not in seen:
            seen.add((parts.scheme, host, port))
            via = proxy_for(url, section.proxy)
            findings.append(
                check_host(
                    parts.scheme, host, port, context, timeout=timeout, ca_file=section.ca_file, proxy=via
                )
            )
    return findings


def check_host(
    scheme: str,
    host: str,
    port: int,
    context: ssl.SSLContext,
    *,
    timeout: float,
    ca_file: str = "",
    proxy: str | None = None,
) -> Finding:
    """Resolve ``host``, connect, and for https complete a verified TLS handshake; with ``proxy``
    (its URL) the handshake runs in the proxy's CONNECT tunnel, as the station's requests do, and
    only the proxy's name is resolved here."""
    if proxy is not None:
        return _check_through(proxy, scheme, host, port, context, timeout=timeout, ca_file=ca_file)
    topic = f"cloud {host}:{port}"
    try:
        addresses = _resolve(host, port, timeout)
    except OSError as exc:
        dns = "check the network cable or Wi-Fi and the DNS server (DHCP, /etc/resolv.conf)"
        return Finding("fail", topic, f"cannot resolve {host}: {exc}", dns)
    if _is_loopback(addresses[0][0]):
        unreachable = "nothing listens there: start the emulator, or correct the cloud.*_url keys"
    else:
        unreachable = f"check the network, firewall and proxy: outgoing connections to port {port} must work"
    try:
        with contextlib.ExitStack() as stack:
            sock = stack.enter_context(_connect(addresses, timeout))
            if scheme == "http":
                return Finding("ok", topic, "reachable (plain http: the emulator on loopback)")
            tls = stack.enter_context(context.wrap_socket(sock, server_hostname=host))
            return Finding("ok", topic, f"reachable, {tls.version()} with a trusted certificate")
    except OSError as exc:
        return _failed(topic, exc, ca_file=ca_file, unreachable=unreachable)


def _check_through(
    proxy: str, scheme: str, host: str, port: int, context: ssl.SSLContext, *, timeout: float, ca_file: str
) -> Finding:
    """:func:`check_host` through the forward proxy at ``proxy`` (named without its credentials)."""
    topic = f"cloud {host}:{port}"
    shown = without_credentials(proxy)
    parts = urlsplit(proxy)
    if scheme != "https" or parts.scheme != "http":
        # Plain http is forwarded, not tunnelled; an https proxy would need TLS inside TLS.
        return Finding(
            "unknown",
            topic,
            f"the station goes through the proxy {shown}; the doctor tunnels only https through an"
            " http:// proxy, so this was not checked",
            "run release-station doctor --live: it goes the station's own way",
        )
    proxy_host, proxy_port = parts.hostname or "", parts.port or 80
    where = "cloud.proxy, or HTTPS_PROXY/ALL_PROXY in the service's environment"
    try:
        addresses = _resolve(proxy_host, proxy_port, timeout)
    except OSError as exc:
        return Finding(
            "fail",
            topic,
            f"cannot resolve the proxy's host {proxy_host}: {exc}",
            f"check the DNS server (DHCP, /etc/resolv.conf) and the proxy named in {where}",
        )
    try:
        with contextlib.ExitStack() as stack:
            sock = stack.enter_context(_connect(addresses, timeout))
            refused = _tunnel(sock, host, port, parts.username, parts.password)
            if refused:
                return Finding(
                    "fail",
                    topic,
                    f"the proxy {shown} opened no tunnel to it: {refused}",
                    f"ask the proxy's administrators to allow CONNECT to {host}:{port}",
                )
            tls = stack.enter_context(context.wrap_socket(sock, server_hostname=host))
            return Finding(
                "ok",
                topic,
                f"reachable through the proxy {shown}, {tls.version()} with a trusted certificate",
            )
    except OSError as exc:
        unreachable = f"check that the proxy is up and that {where} names it"
        return _failed(
            topic, exc, ca_file=ca_file, unreachable=unreachable, via=f" through the proxy {shown}"
        )


def _tunnel(sock: socket.socket, host: str, port: int, user: str | None, password: str | None) -> str:
    """Ask the proxy on ``sock`` for a CONNECT tunnel to ``host:port`` (with the proxy URL's
    credentials, as httpx sends them); "" once it is open, else what the proxy answered."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    if user is not None:
        secret = f"{unquote(user)}:{unquote(password or '')}".encode()
        head += f"Proxy-Authorization: Basic {base64.b64encode(secret).decode('ascii')}\r\n"
    sock.sendall(f"{head}\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:  # nothing follows the head until our TLS hello
        chunk = sock.recv(4096)
        if not chunk:
            return "it closed the connection without an answer"
        answer += chunk
        if len(answer) > 65536:
            return "its answer has no end"
    status = answer.split(b"\r\n", 1)[0].decode("ascii", "replace")
    code = status.split(" ", 2)[1] if status.count(" ") >= 1 else ""
    return "" if code.startswith("2") and len(code) == 3 else status[:120]


def _failed(topic: str, exc: OSError, *, ca_file: str, unreachable: str, via: str = "") -> Finding:
    """The line of a connection or TLS handshake that failed with ``exc`` (``via``: how it went)."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return Finding(
            "fail",
            topic,
            f"its certificate is not trusted{via}: {exc.verify_message}",
            "check the date and time (a wrong clock breaks TLS: timedatectl); if the network "
            "inspects TLS, put its CA certificate in a PEM file and set cloud.ca_file"
            + (f" (now {ca_file})" if ca_file else ""),
        )
    if isinstance(exc, ssl.SSLError):
        return Finding(
            "fail", topic, f"TLS failed{via}: {exc.reason or exc}", "a proxy or firewall may be in the way"
        )
    return Finding("fail", topic, f"cannot connect{via}: {exc.strerror or exc or 'timed out'}", unreachable)


def _connect(addresses: list[tuple[str, int]], timeout: float) -> socket.socket:
    """A TCP connection to the first of ``addresses`` that answers (``localhost`` may be ::1 first)."""
    error: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection(address, timeout=timeout)
        except OSError as exc:
            error = exc
    raise error


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _resolve(host: str, port: int, timeout: float) -> list[tuple[str, int]]:
    """``getaddrinfo`` with a time limit (it has none of its own), on a daemon thread."""
    result: list[list[tuple[str, int]]] = []
    error: list[BaseException] = []
    done = threading.Event()

    def look_up() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result.append([(str(info[4][0]), int(info[4][1])) for info in infos])
        except OSError as exc:
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=look_up, name="doctor-dns", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"no answer in {timeout:g} s")
    if error:
        raise error[0]
    return result[0]


# -- pairing ------------------------------------------------------------------------------------


def check_paired(database: Path) -> Finding:
    """Whether the ``tokens`` table holds a token pair; the database is only read."""
    topic = "paired"
    pair = "pair the station: release-station pair"
    if not database.exists():
        return Finding("warn", topic, "no (no database yet)", pair)
    try:
        with _read_only(database) as db:
            from station.cloud.tokens import TokenStore

            record = TokenStore(db, boot_id="").load()
    except (sqlite3.Error, StorageError) as exc:
        return Finding(
            "fail",
            topic,
            f"cannot read {database}: {exc}",
            "run doctor as the service user; if the file is damaged, move it away and pair again",
        )
    if record is None:
        return Finding("warn", topic, "no", pair)
    if record.pair is None:
        return Finding("fail", topic, "no: ezeep rejected the token pair", "pair again: release-station pair")
    printer = record.printer_name or record.printer_id or "printer unknown"
    return Finding("ok", topic, f"yes, to {printer}")


def check_technician_pin(database: Path) -> Finding:
    """A failure while no technician PIN is set (the technician menu cannot be opened then)."""
    topic = "technician PIN"
    fix = (
        "set one: release-station pin set (or [technician] pin_hash from `release-station pin hash`"
        " in a first-boot system.toml)"
    )
    if not database.exists():
        return Finding("fail", topic, "not set (no database yet)", fix)
    try:
        with _read_only(database) as db:
            from station.pin import LOCKOUT_KEY, TECHNICIAN_KEY, Lockout
            from station.settings import read_value

            is_set = read_value(db, TECHNICIAN_KEY) is not None
            lockout = Lockout.parse(read_value(db, LOCKOUT_KEY), topic)
    except (sqlite3.Error, StorageError) as exc:
        return Finding("fail", topic, f"cannot read {database}: {exc}", "run doctor as the service user")
    if not is_set:
        return Finding("fail", topic, "not set: the technician menu cannot be opened", fix)
    if lockout.permanent:
        unlock = "release-station pin set, or [technician] unlock = true in a first-boot system.toml"
        return Finding("warn", topic, f"locked after {lockout.failures} wrong PINs", unlock)
    return Finding("ok", topic, "set")


def check_directory(config: Config) -> list[Finding]:
    """The directory source's files and its last sync (see ``station.directory_sources.checks``)."""
    from station.directory_sources.checks import directory_findings
    from station.directory_sync import read_status

    status = None
    if config.directory.source != "local" and config.database_path.exists():
        with contextlib.suppress(sqlite3.Error, StorageError), _read_only(config.database_path) as db:
            status = read_status(db)  # an older database has no sync yet
    return directory_findings(config.directory, status, datetime.now(UTC))


@contextlib.contextmanager
def _read_only(database: Path) -> Iterator[Database]:
    from station.database import connect

    db = connect(f"file:{database}?mode=ro", uri=True)
    try:
        yield db
    finally:
        db.close()
