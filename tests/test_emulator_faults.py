"""The emulator's fault switches and its admin HTTP API (``/_emulator/...``)."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest

from station.emulator import Emulator, Faults
from tests.support.emulator_http import device_tokens, oauth, refresh, wait_for_slow_done

DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)


def admin(emu: Emulator) -> httpx.Client:
    return httpx.Client(base_url=f"{emu.url}/_emulator", timeout=10)


def test_latency_delays_answers(emulator: Emulator) -> None:
    emulator.set_faults(latency_s=0.3)
    started = time.monotonic()
    assert httpx.get(f"{emulator.url}/.well-known/jwks.json").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert admin(emulator).get("/faults").json()["latency_s"] == 0.3


def test_handshake_holds_a_new_connections_first_request(emulator: Emulator) -> None:
    emulator.set_faults(handshake_s=0.3)
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        started = time.monotonic()  # before the connection is opened: it is accepted after this
        assert client.get("/.well-known/jwks.json").status_code == 200
        assert time.monotonic() - started >= 0.3
    assert admin(emulator).get("/faults").json()["handshake_s"] == 0.3


def test_5xx_with_retry_after_then_recovery(emulator: Emulator) -> None:
    emulator.set_faults(error_5xx=2, retry_after_s=7)
    for _ in range(2):
        answer = httpx.get(f"{emulator.url}/sfapi/GetPrinter/")
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "7"
        assert admin(emulator).get("/stats").status_code == 200  # never failed
    assert httpx.get(f"{emulator.url}/sfapi/GetPrinter/").status_code == 401  # reached the API again
    assert emulator.faults.error_5xx == 0


def test_dropped_answer_after_rotation(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    tokens = device_tokens(emulator, "hw-faults")
    emulator.set_faults(drop_after_rotation=1)
    with caplog.at_level(logging.INFO), pytest.raises(DROPPED):
        refresh(emulator, tokens["refresh_token"])
    # The server rotated: the token the client still holds is dead, and nobody has the new one.
    assert refresh(emulator, tokens["refresh_token"]).json() == {"error": "invalid_grant"}
    assert emulator.faults.drop_after_rotation == 0
    assert emulator.stats()["refresh"] == 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_offline_closes_every_connection_but_admin(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.set_faults(offline=True)
    with caplog.at_level(logging.INFO):
        for path in ("/sfapi/GetPrinter/", "/auth/signin/"):
            with pytest.raises(DROPPED):
                httpx.get(f"{emulator.url}{path}")
        with pytest.raises(DROPPED):
            oauth(emulator).post("/oauth/pair/", data={"mode": "device"})
    assert admin(emulator).post("/faults", json={"offline": False}).json()["offline"] is False
    assert httpx.get(f"{emulator.url}/.well-known/jwks.json").status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_fault_switches_validate(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        emulator.set_faults(explode=True)
    with pytest.raises(ValueError, match="must be"):
        emulator.set_faults(offline=1)
    with pytest.raises(ValueError, match="negative"):
        emulator.set_faults(error_5xx=-1)
    with pytest.raises(ValueError, match="at most 10000"):
        emulator.set_faults(more_printers=10**9)
    assert emulator.faults == Faults()
    assert admin(emulator).post("/faults", json={"offline": "yes"}).status_code == 400
    assert admin(emulator).post("/faults", content=b"[1]").status_code == 400
    changed = admin(emulator).post("/faults", json={"reuse_detection": True, "latency_s": 0}).json()
    assert changed["reuse_detection"] is True
    assert emulator.faults.reuse_detection is True


def test_admin_jobs_stats_and_release_counts(emulator: Emulator) -> None:
    email = emulator.users[4].email
    job = admin(emulator).post("/jobs", json={"email": email, "name": "Poster.pdf", "pages": 2})
    job_id = job.json()["id"]
    assert [j["id"] for j in emulator.waiting_jobs(email)] == [job_id]
    assert admin(emulator).post("/jobs", json={"email": "nobody@example.com"}).status_code == 404
    assert admin(emulator).post("/jobs", json={"email": email, "pages": 0}).status_code == 400
    tokens = device_tokens(emulator, "hw-faults")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    body = {"jobid": job_id, "printerid": emulator.printers[0].id}
    httpx.post(f"{emulator.url}/sfapi/Print/", json=body, headers=headers)
    assert admin(emulator).get("/release-counts").json() == {job_id: 1}
    stats = admin(emulator).get("/stats").json()
    assert stats == emulator.stats()
    assert (stats["pair"], stats["poll"], stats["print"]) == (1, 1, 1)


def test_admin_approve_and_deny(emulator: Emulator) -> None:
    codes = [
        oauth(emulator).post("/oauth/pair/", data={"mode": "device"}).json()["pairing_code"] for _ in range(2)
    ]
    printer = emulator.printers[1]
    ok = admin(emulator).post(
        "/approve", json={"code": codes[0], "email": emulator.users[0].email, "printer_id": printer.id}
    )
    assert ok.json() == {"ok": True}
    assert admin(emulator).post("/deny", json={"code": codes[1]}).json() == {"ok": True}
    assert admin(emulator).post("/deny", json={"code": codes[1]}).status_code == 400
    assert admin(emulator).post("/deny", json={"code": "nope"}).status_code == 400
    grant = {"grant_type": "pairing_code"}
    assert (
        oauth(emulator).post("/oauth/access_token/", data={**grant, "pairing_code": codes[0]}).status_code
        == 200
    )
    denied = oauth(emulator).post("/oauth/access_token/", data={**grant, "pairing_code": codes[1]})
    assert denied.json() == {"error": "access_denied"}


def test_admin_auto_approve_binds_the_next_devices_to_a_printer(emulator: Emulator) -> None:
    printer = emulator.printers[1]
    assert admin(emulator).post("/auto-approve", json={"printer_id": printer.id}).json() == {
        "printer_id": printer.id
    }
    assert emulator.auto_approve_device == printer.id
    assert admin(emulator).post("/auto-approve", json={"printer_id": "unknown"}).status_code == 404
    assert admin(emulator).post("/auto-approve", json={"printer_id": 7}).status_code == 400
    assert admin(emulator).post("/auto-approve", json={"printer": printer.id}).status_code == 400
    assert emulator.auto_approve_device == printer.id
    assert admin(emulator).post("/auto-approve", json={"printer_id": None}).json() == {"printer_id": None}
    assert emulator.auto_approve_device is None


def test_admin_printer_status_and_failure(emulator: Emulator) -> None:
    printer = emulator.printers[0]
    answer = admin(emulator).post(f"/printers/{printer.id}", json={"status": "Offline", "fails": True})
    assert answer.json()["status"] == "Offline"
    assert emulator.printers[0].status == "Offline"
    assert admin(emulator).post(f"/printers/{printer.id}", json={"status": "Burning"}).status_code == 400
    assert admin(emulator).post("/printers/unknown", json={"status": "Online"}).status_code == 404


def test_hostile_switches_shape_the_job_list(emulator: Emulator) -> None:
    tokens = device_tokens(emulator, "hw-hostile")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    client = httpx.Client(base_url=emulator.url, headers=bearer)
    user = emulator.users[0]  # one waiting job of ten
    query = {"status": "INQUEUE", "user": user.id}
    assert len(client.get("/printing/v1/printjobs/", params=query).json()["results"]) == 1
    changed = admin(emulator).post("/faults", json={"ignore_user_filter": True, "hide_job_owner": True})
    assert changed.json()["ignore_user_filter"] is True
    everybody = client.get("/printing/v1/printjobs/", params=query).json()["results"]
    assert len(everybody) == 10 and not any("owner_id" in job for job in everybody)
    emulator.set_faults(endless_jobs=True)
    page = client.get("/printing/v1/printjobs/", params={**query, "offset": 900, "limit": 50}).json()
    assert len(page["results"]) == 50 and "offset=950" in page["next"]
    assert {job["owner_id"] for job in page["results"]} == {user.id}
    with pytest.raises(ValueError, match="must be a string"):
        emulator.set_faults(trickle_path=1)
    assert admin(emulator).post("/faults", json={"huge_body_bytes": -1}).status_code == 400


def _job_and_device(emulator: Emulator, hardware_id: str) -> tuple[str, str, dict[str, Any]]:
    """The first user's e-mail and waiting job, and a paired device's token answer."""
    email = emulator.users[0].email
    return email, emulator.waiting_jobs(email)[0]["id"], device_tokens(emulator, hardware_id)


def _release_gives_up(emulator: Emulator, job_id: str, tokens: dict[str, Any]) -> dict[str, str]:
    """Release ``job_id`` with a client that gives up after 0.1 s (it does); the auth headers."""
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    body = {"jobid": job_id, "printerid": emulator.printers[0].id}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{emulator.url}/sfapi/Print/", json=body, headers=headers, timeout=0.1)
    return headers


def test_slow_but_done_carries_out_a_release_after_the_client_gave_up(emulator: Emulator) -> None:
    email, job_id, tokens = _job_and_device(emulator, "hw-slow")
    emulator.set_faults(slow_done_s=0.5, slow_path="/sfapi/Print/")
    headers = _release_gives_up(emulator, job_id, tokens)
    assert emulator.release_counts() == {}  # not yet: the request is held
    wait_for_slow_done(emulator, 1)
    assert emulator.release_counts() == {job_id: 1}  # carried out although nobody waited
    assert emulator.waiting_jobs(email) == []
    # Other paths are not held.
    assert httpx.get(f"{emulator.url}/sfapi/GetPrinter/", headers=headers, timeout=0.4).status_code == 200


def test_latency_alone_drops_a_request_whose_client_left(emulator: Emulator) -> None:
    """Why the slow-but-done fault exists: with ``latency_s`` a late release never happens."""
    email, job_id, tokens = _job_and_device(emulator, "hw-latency")
    emulator.set_faults(latency_s=0.3)
    _release_gives_up(emulator, job_id, tokens)
    emulator.set_faults(latency_s=0.0, slow_done_s=0.3, slow_path="/nothing/")
    with pytest.raises(httpx.HTTPStatusError):  # a held request after the dropped one: it is done
        httpx.get(f"{emulator.url}/nothing/", timeout=5).raise_for_status()
    assert emulator.release_counts() == {}
    assert [job["id"] for job in emulator.waiting_jobs(email)] == [job_id]


def test_a_held_request_lands_when_the_test_lets_it_go(emulator: Emulator) -> None:
    email, job_id, tokens = _job_and_device(emulator, "hw-held")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    emulator.set_faults(held_path="/printing/v1/printjobs/")
    with pytest.raises(httpx.ReadTimeout):
        httpx.delete(f"{emulator.url}/printing/v1/printjobs/{job_id}/", headers=headers, timeout=0.1)
    wait_for_slow_done(emulator, 1, held=True)
    assert [job["id"] for job in emulator.waiting_jobs(email)] == [job_id]  # held, not done
    assert emulator.stats()["slow_done"] == 0
    emulator.set_faults(held_path="")
    wait_for_slow_done(emulator, 1)
    assert job_id not in {job["id"] for job in emulator.waiting_jobs(email)}


def test_slow_but_done_carries_out_a_delete_and_a_token_rotation(emulator: Emulator) -> None:
    email, job_id, tokens = _job_and_device(emulator, "hw-slow-delete")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    emulator.set_faults(slow_done_s=0.4)
    with pytest.raises(httpx.ReadTimeout):
        httpx.delete(f"{emulator.url}/printing/v1/printjobs/{job_id}/", headers=headers, timeout=0.1)
    form = {"grant_type": "refresh_token", "scope": "printing", "refresh_token": tokens["refresh_token"]}
    with pytest.raises(httpx.ReadTimeout):
        oauth(emulator).post("/oauth/access_token/", data=form, timeout=0.1)
    wait_for_slow_done(emulator, 2)
    emulator.set_faults(slow_done_s=0.0)
    assert emulator.waiting_jobs(email) == []
    # The rotation happened: the refresh token the client still holds is dead.
    assert refresh(emulator, tokens["refresh_token"]).json() == {"error": "invalid_grant"}
    assert emulator.faults.slow_done_s == 0.0
    assert admin(emulator).post("/faults", json={"slow_done_s": -1}).status_code == 400
