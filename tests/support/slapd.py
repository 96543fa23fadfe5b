"""A real OpenLDAP ``slapd`` on loopback for the ``ldap`` directory source's tests.

:class:`Slapd` writes its own ``slapd.conf`` in a temporary directory (the package's default
database is never used), seeds a small tree with ``slapadd`` and starts ``slapd`` in the
foreground on free ports: plain LDAP (StartTLS offered, with a throw-away CA) and LDAPS. The
service account the station binds as may write the badge attribute; :meth:`stop` and
:meth:`start` take the server down and back with its data. The people's badges are in
``employeeNumber`` (single-valued, as in Active Directory) or, with ``badge_attribute =
"badgeNumber"``, in an attribute of a small test schema that holds several values (a person
with two badges); slapd keeps ``modifyTimestamp`` on every entry (incremental reads), the
seeded ones a second apart from :data:`SEEDED_AT`, as in a directory that has been in use.
Needs ``slapd`` and ``ldap-utils`` (``.ci/dev`` installs them).

Example::

    with Slapd(tmp_path, people=[("ann", "ann@example.com", "B0001")]) as server:
        server.url  # ldap://127.0.0.1:PORT
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from station.config import DirectoryLdapSection
from tests.support.tls_files import self_signed

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
BASE = "dc=example,dc=com"
STAFF = f"ou=Staff,{BASE}"
SERVICE_DN = f"cn=release-station,ou=Service,{BASE}"
SERVICE_PASSWORD = "s3rvice-pass"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "admin-pass"

SEEDED_AT = datetime(2026, 1, 1, tzinfo=UTC)  # the seeded people changed a second apart from here
Person = tuple[str, str, str]  # uid, mail ("" for none), badge ("" for none)
# A multi-valued badge attribute, as organisations add to their schema (a private test OID).
BADGE_SCHEMA = """\
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'badgeNumber' DESC 'a badge of the person'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{64} )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'badgeHolder' AUXILIARY MAY badgeNumber )
"""


def available() -> bool:
    return Path(SLAPD).exists() and Path(SLAPADD).exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def person_ldif(
    uid: str, mail: str, badge: str, badge_attribute: str = "employeeNumber", modified: datetime = SEEDED_AT
) -> str:
    lines = [
        f"dn: uid={uid},{STAFF}",
        "objectClass: inetOrgPerson",
        "objectClass: badgeHolder",
        f"uid: {uid}",
        f"cn: {uid}",
        f"sn: {uid}",
        f"displayName: {uid.title()} Example",
        f"modifyTimestamp: {modified:%Y%m%d%H%M%SZ}",  # a while ago: a change in a test is newer
    ]
    lines += [f"mail: {mail}"] if mail else []
    lines += [f"{badge_attribute}: {badge}"] if badge else []
    return "\n".join(lines) + "\n\n"


def password_file(path: Path) -> Path:
    """The service account's password in ``path``, mode 0600 as the station insists."""
    path.write_text(SERVICE_PASSWORD + "\n")
    path.chmod(0o600)
    return path


class Slapd:
    """One slapd with its own config, data and certificate below ``directory``.

    The service account may read any number of entries through paged searches, as Active
    Directory allows; ``size_limit`` caps its searches instead (slapd's own default is 500).
    """

    def __init__(
        self,
        directory: Path,
        people: Sequence[Person],
        *,
        size_limit: int = 0,
        badge_attribute: str = "employeeNumber",
    ) -> None:
        self.directory = directory
        self.badge_attribute = badge_attribute
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file, key = self_signed(directory)
        self.port, self.tls_port = _free_port(), _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{self.tls_port}"
        data = directory / "data"
        data.mkdir()
        schema = Path("/etc/ldap/schema")
        (directory / "badge.schema").write_text(BADGE_SCHEMA)
        self.conf = directory / "slapd.conf"
        self.conf.write_text(
            "\n".join(
                [
                    *(f"include {schema / name}.schema" for name in ("core", "cosine", "inetorgperson")),
                    f"include {directory / 'badge.schema'}",
                    f"pidfile {directory / 'slapd.pid'}",
                    "modulepath /usr/lib/ldap",
                    "moduleload back_mdb",
                    f"TLSCertificateFile {self.ca_file}",
                    f"TLSCertificateKeyFile {key}",
                    "database mdb",
                    f"suffix {BASE}",
                    f"rootdn {ADMIN_DN}",
                    f"rootpw {ADMIN_PASSWORD}",
                    f"directory {data}",
                    f'limits dn.exact="{SERVICE_DN}" size={size_limit or "unlimited"}',
                    "maxsize 104857600",
                    "access to attrs=userPassword by anonymous auth by * none",
                    f'access to * by dn.exact="{SERVICE_DN}" write by * none',
                    "",
                ]
            )
        )
        seed = (
            f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n"
            f"dn: ou=Staff,{BASE}\nobjectClass: organizationalUnit\nou: Staff\n\n"
            f"dn: ou=Service,{BASE}\nobjectClass: organizationalUnit\nou: Service\n\n"
            f"dn: {SERVICE_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\n"
            f"cn: release-station\nsn: station\nuserPassword: {SERVICE_PASSWORD}\n\n"
            + "".join(
                person_ldif(*person, badge_attribute, SEEDED_AT + timedelta(seconds=number))
                for number, person in enumerate(people)
            )
        )
        (directory / "seed.ldif").write_text(seed)
        subprocess.run(
            [SLAPADD, "-q", "-f", str(self.conf), "-l", str(directory / "seed.ldif")],
            check=True,
            capture_output=True,
        )
        self._process: subprocess.Popen[bytes] | None = None

    def section(self, password_file: Path, **changes: Any) -> DirectoryLdapSection:
        """``[directory.ldap]`` for this server: the service account, the people below ou=Staff."""
        settings: dict[str, Any] = {
            "url": self.url,
            "bind_dn": SERVICE_DN,
            "password_file": str(password_file),
            "base_dn": STAFF,
            "filter": "(objectClass=inetOrgPerson)",
            "badge_attribute": self.badge_attribute,
            "ca_file": str(self.ca_file),
        }
        return DirectoryLdapSection(**{**settings, **changes})

    def start(self) -> None:
        self._process = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", str(self.conf), "-h", f"{self.url}/ {self.ldaps_url}/"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        pause = threading.Event()  # never set: a bounded wait between connection attempts
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"slapd stopped: {self._process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                pause.wait(0.05)
        raise RuntimeError("slapd did not listen within 20 s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=20)
            self._process = None

    def __enter__(self) -> Slapd:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
