"""The ``graph`` directory source against a stand-in for Microsoft Graph on loopback (HTTPS,
documented shapes): paging, incremental sync through the delta link, 429 throttling, write-back
by PATCH (one badge per person: the newest wins, an unlink clears only its own badge), a refused
sign-in, certificate credentials (a signed client assertion the stand-in verifies)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from station.cloud.models import UserInfo
from station.config import DirectoryGraphSection, DirectorySection, parse_config
from station.database import open_database
from station.directory import Directory
from station.directory_sources.checks import directory_findings
from station.directory_sources.graph import GraphSource, client_assertion
from station.directory_sync import DirectorySync, SourceError, SyncLoop
from station.errors import ConfigError
from tests.support.clock import FakeClock
from tests.support.graph_standin import CLIENT_ID, TENANT, GraphStandIn
from tests.support.tls_files import app_certificate, self_signed

SECRET = "app-s3cret"
USERS = {f"p{i}@example.com": UserInfo(f"u-{i}", f"p{i}@example.com", f"P{i}", "") for i in range(10)}


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[GraphStandIn]:
    cert, key = self_signed(tmp_path)
    app_cert, _ = app_certificate(tmp_path)  # registered with the app in Entra ID
    with GraphStandIn(cert, key, secret=SECRET, app_certificate=app_cert) as running:
        for i in range(5):
            running.put_user(
                f"id-{i}", mail=f"p{i}@example.com", displayName=f"Person {i}", employeeId=f"B{i}"
            )
        running.put_user("id-9", mail="p9@example.com", displayName="No Badge", employeeId=None)
        yield running


def section_for(
    graph: GraphStandIn,
    tmp_path: Path,
    *,
    secret: str = SECRET,
    badge_property: str = "employeeId",
    certificate: tuple[Path, Path] | None = None,
) -> DirectoryGraphSection:
    secret_file = tmp_path / "graph-secret"
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    cert, key = certificate or (None, None)
    return DirectoryGraphSection(
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        secret_file="" if certificate else str(secret_file),
        certificate_file=str(cert or ""),
        key_file=str(key or ""),
        badge_property=badge_property,
        login_url=graph.login_url,
        graph_url=graph.graph_url,
        ca_file=str(tmp_path / "cert.pem"),
    )


class Rig:
    def __init__(self, tmp_path: Path, section: DirectoryGraphSection, *, write_back: bool = False) -> None:
        db = open_database(tmp_path / "station.db")
        self.directory = Directory(db, write_back=write_back)
        self.source = GraphSource(section)
        self.sync = DirectorySync(
            db, self.directory, self.source, USERS.get, max_removed_share=0.5, write_back=write_back
        )

    def owner(self, badge: str) -> str:
        entry = self.directory.lookup(badge)
        return "" if entry is None else entry.user_id


def test_a_full_round_pages_to_the_delta_link_and_later_syncs_ask_for_changes_only(
    tmp_path: Path, graph: GraphStandIn
) -> None:
    rig = Rig(tmp_path, section_for(graph, tmp_path))
    first = rig.sync.run()
    assert first.applied.added == 5 and rig.owner("B4") == "u-4"
    assert sum(path.startswith("/v1.0/users/delta") for _, path in graph.requests) == 3  # 6 users, 2 a page
    graph.put_user("id-1", employeeId="B1-new")
    graph.remove_user("id-2")
    graph.put_user("id-7", mail="p7@example.com", displayName="Seven", employeeId="B7")
    graph.requests.clear()
    second = rig.sync.run()
    applied = second.applied
    assert (applied.added, applied.removed, applied.entries) == (2, 2, 5)  # B1-new, B7 in; B1, B2 out
    assert all("deltatoken" in path for _, path in graph.requests if "delta" in path)
    assert rig.owner("B1-new") == "u-1" and rig.owner("B2") == "" and rig.owner("B0") == "u-0"
    assert graph.tokens_issued == 1


def test_throttling_is_honoured_and_the_round_resumes_where_it_stopped(
    tmp_path: Path, graph: GraphStandIn
) -> None:
    rig = Rig(tmp_path, section_for(graph, tmp_path))
    graph.throttle = "$skiptoken=2"  # the second page
    with pytest.raises(SourceError, match="throttling") as info:
        rig.sync.run()
    assert info.value.retry_after_s == 7 and rig.directory.count() == 0
    rig.sync.run()
    pages = [unquote(path).partition("$skiptoken=")[2] for _, path in graph.requests if "delta" in path]
    assert pages == ["", "2", "2", "4"]  # the first page is not asked again
    assert rig.directory.count() == 5


def test_the_sync_loop_waits_out_retry_after_even_when_an_enrolment_wakes_it(
    tmp_path: Path, graph: GraphStandIn
) -> None:
    rig = Rig(tmp_path, section_for(graph, tmp_path))
    clock = FakeClock()
    asked: list[float] = []
    synced_at: list[float] = []
    parked = threading.Event()

    def wait(event: threading.Event, timeout_s: float) -> None:
        asked.append(timeout_s)
        if len(asked) == 2:
            clock.advance(50)  # an enrolment wakes the loop 50 s into the 120 s asked for
        elif len(asked) == 4:
            parked.set()
            event.wait()  # the hour until the next sync: until stop() sets it
        else:
            clock.advance(timeout_s)  # the time passes, nothing wakes the loop

    graph.throttle, graph.retry_after = "users/delta", "120"
    loop = SyncLoop(rig.sync, 3600, on_synced=lambda _: synced_at.append(clock()), clock=clock, wait=wait)
    loop.start()
    try:
        assert parked.wait(10)
    finally:
        loop.stop()
    assert asked == [0.0, 120.0, 70.0, 3600.0]  # 120 s (not the first retry's 30), then the rest
    assert [at - synced_at[0] for at in synced_at] == [0.0, 120.0]
    assert rig.directory.count() == 5


def test_an_enrolment_is_patched_into_an_extension_attribute(tmp_path: Path, graph: GraphStandIn) -> None:
    prop = "onPremisesExtensionAttributes.extensionAttribute3"
    graph.put_user("id-9", onPremisesExtensionAttributes={"extensionAttribute3": None})
    rig = Rig(tmp_path, section_for(graph, tmp_path, badge_property=prop), write_back=True)
    assert rig.sync.run().applied.added == 0  # nobody has the attribute yet
    rig.directory.enrol("C9", "u-9", email="p9@example.com", how="self")
    assert rig.sync.run().published == 1
    assert graph.users["id-9"]["onPremisesExtensionAttributes"] == {"extensionAttribute3": "C9"}
    assert [e.origin for e in rig.directory.entries()] == ["source"]
    assert ("PATCH", "/v1.0/users/id-9") in graph.requests


def test_one_badge_per_person_the_newest_enrolment_wins_and_an_unlink_clears_only_its_own(
    tmp_path: Path, graph: GraphStandIn
) -> None:
    rig = Rig(tmp_path, section_for(graph, tmp_path), write_back=True)
    rig.sync.run()
    rig.directory.enrol("C1", "u-1", email="p1@example.com", how="self")  # P1's second badge
    outcome = rig.sync.run()
    assert outcome.published == 1 and graph.users["id-1"]["employeeId"] == "C1"
    assert rig.owner("C1") == "u-1" and rig.owner("B1") == ""  # the property holds one: B1 left
    rig.directory.remove("B2")  # unlinked here while Entra ID still holds it: cleared there
    graph.put_user("id-3", employeeId="N3")  # changed in Entra ID by someone else meanwhile
    rig.directory.remove("B3")  # an unlink of the old badge must not erase the newer one
    assert rig.sync.run().published == 2
    assert graph.users["id-2"]["employeeId"] is None and graph.users["id-3"]["employeeId"] == "N3"
    assert rig.owner("B2") == "" and rig.owner("N3") == "u-3"


def test_a_wrong_secret_is_refused_and_says_what_to_check(tmp_path: Path, graph: GraphStandIn) -> None:
    rig = Rig(tmp_path, section_for(graph, tmp_path, secret="wrong"))
    with pytest.raises(SourceError, match=r"refused the app's sign-in .*client_id and the secret") as info:
        rig.sync.run()
    assert "wrong" not in str(info.value) and rig.directory.count() == 0


def test_the_app_signs_in_with_its_certificate_and_another_certificate_is_refused(
    tmp_path: Path, graph: GraphStandIn
) -> None:
    registered = (tmp_path / "app-cert.pem", tmp_path / "app-key.pem")
    rig = Rig(tmp_path, section_for(graph, tmp_path, certificate=registered))
    assert rig.sync.run().applied.added == 5 and graph.tokens_issued == 1
    assert len(graph.assertions_seen) == 1
    other = app_certificate(tmp_path, "other")  # a certificate Entra ID does not know for the app
    stranger = Rig(tmp_path / "b", section_for(graph, tmp_path, certificate=other))
    with pytest.raises(SourceError, match="check client_id and the certificate registered with the app"):
        stranger.sync.run()
    registered[1].chmod(0o644)
    again = Rig(tmp_path / "c", section_for(graph, tmp_path, certificate=registered))
    with pytest.raises(SourceError, match=r"app-key.pem is mode 0644"):
        again.sync.run()


def test_doctor_loads_the_certificate_and_key_without_signing_in(tmp_path: Path, graph: GraphStandIn) -> None:
    key = tmp_path / "app-key.pem"
    graph_section = section_for(graph, tmp_path, certificate=(tmp_path / "app-cert.pem", key))
    section = DirectorySection(source="graph", graph=graph_section)
    now = datetime.now(UTC)
    assert [f.status for f in directory_findings(section, None, now)] == ["warn"]  # never synced
    key.chmod(0o640)
    findings = directory_findings(section, None, now)
    assert findings[0].status == "fail" and "chmod 600" in findings[0].detail
    assert graph.tokens_issued == 0 and graph.assertions_seen == set()


def test_a_client_assertion_follows_the_documented_format(tmp_path: Path, graph: GraphStandIn) -> None:
    cert, key = tmp_path / "app-cert.pem", tmp_path / "app-key.pem"
    section = section_for(graph, tmp_path, certificate=(cert, key))
    audience = f"{graph.login_url}/{TENANT}/oauth2/v2.0/token"
    assertion = client_assertion(section, audience, 1_700_000_000.0)
    header = jwt.get_unverified_header(assertion)
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    digest = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA256())).rstrip(b"=").decode()
    assert (header["alg"], header["typ"], header["x5t#S256"]) == ("PS256", "JWT", digest)
    claims = jwt.decode(
        assertion,
        certificate.public_key(),  # type: ignore[arg-type]
        algorithms=["PS256"],
        audience=audience,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["exp"] - claims["nbf"] == 600 and claims["jti"]
    assert client_assertion(section, audience, 1_700_000_000.0) != assertion  # a fresh jti each time


def test_the_app_has_one_credential() -> None:
    with pytest.raises(ConfigError, match="give both"):
        parse_config('[directory.graph]\ncertificate_file = "/etc/app.pem"\n')
    with pytest.raises(ConfigError, match="not both"):
        parse_config(
            '[directory.graph]\nsecret_file = "/s"\ncertificate_file = "/c.pem"\nkey_file = "/k.pem"\n'
        )


def test_the_badge_property_must_be_one_graph_has() -> None:
    with pytest.raises(ConfigError, match="badge_property"):
        parse_config('[directory.graph]\nbadge_property = "department"\n')
    ok = parse_config(
        '[directory.graph]\nbadge_property = "extension_0123456789abcdef0123456789abcdef_badge"\n'
    )
    assert ok.directory.graph.badge_property.endswith("_badge")
