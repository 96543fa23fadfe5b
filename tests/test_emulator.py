"""The ezeep emulator's HTTP contract (docs/ezeep-api.md Part 1), over real HTTP with httpx."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from station.emulator import Emulator
from tests.support.clock import FakeClock
from tests.support.cloud import EmulatorFactory
from tests.support.emulator_http import HW, device_tokens, oauth, pair, poll, refresh


def api(emu: Emulator, access_token: str) -> httpx.Client:
    return httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)


def claims(emu: Emulator, access_token: str) -> dict[str, Any]:
    keys = jwt.PyJWKSet.from_dict(httpx.get(f"{emu.url}/.well-known/jwks.json").json())
    kid = jwt.get_unverified_header(access_token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    decoded: dict[str, Any] = jwt.decode(
        access_token, key.key, algorithms=["RS256"], options={"verify_exp": False}
    )
    return decoded


def error_of(answer: httpx.Response) -> str:
    assert answer.status_code == 400, answer.text
    return str(answer.json()["error"])


# -- pairing -----------------------------------------------------------------------------


def test_pairing_answer_and_auth_url(emulator: Emulator) -> None:
    answer = oauth(emulator).post(
        "/oauth/pair/", data={"mode": "device", "scope": "printing", "hardware_id": HW}
    )
    body = answer.json()
    assert set(body) == {"pairing_code", "auth_url", "verification_uri"}
    assert body["verification_uri"] == f"{emulator.url}/device"  # short: typed, then the code
    assert len(body["pairing_code"]) == 10
    inner = f"%2Foauth%2Fauthorize%2Fpairing%2F%3Fpairing_code%3D{body['pairing_code']}%26device%3Dgeneric"
    assert body["auth_url"] == f"{emulator.url}/auth/signin/?next={inner}"


def test_oauth_calls_need_a_client_id(emulator: Emulator) -> None:
    answer = httpx.post(f"{emulator.url}/oauth/pair/", data={"mode": "device"})
    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_client"}
    assert error_of(oauth(emulator).post("/oauth/pair/", data={"mode": "robot"})) == "invalid_request"


def test_device_pairing_pending_then_approved_once(emulator: Emulator) -> None:
    code = pair(emulator)
    assert error_of(poll(emulator, code)) == "authorization_pending"
    emulator.approve(code, email=emulator.users[1].email, printer_id=emulator.printers[1].id)
    answer = poll(emulator, code)
    tokens = answer.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "printing"
    assert len(tokens["refresh_token"]) == 32
    assert error_of(poll(emulator, code)) == "invalid_grant"
    seen = claims(emulator, tokens["access_token"])
    assert seen["pty"] == "dev"
    assert seen["tp_id"] == emulator.printers[1].tp_id
    assert seen["scopes"] == "printing"
    assert seen["iss"] == emulator.url
    assert {"exp", "iat", "sub", "org"} <= set(seen)
    assert emulator.binding(HW) == emulator.printers[1].tp_id


def test_auto_approval_keeps_an_existing_binding(emulator: Emulator) -> None:
    first = device_tokens(emulator, printer=1)
    emulator.auto_approve_device = emulator.printers[0].id
    code = pair(emulator)
    again = poll(emulator, code).json()
    assert claims(emulator, again["access_token"])["tp_id"] == emulator.printers[1].tp_id
    assert claims(emulator, again["access_token"])["sub"] == claims(emulator, first["access_token"])["sub"]
    fresh = poll(emulator, pair(emulator, hardware_id="hw-other")).json()
    assert claims(emulator, fresh["access_token"])["tp_id"] == emulator.printers[0].tp_id
    assert emulator.binding("hw-never-seen") is None


def test_same_hardware_id_maps_to_the_same_tp_id_across_pairings(emulator: Emulator) -> None:
    first = claims(emulator, device_tokens(emulator, printer=1)["access_token"])
    code = pair(emulator)
    emulator.approve(code, email=emulator.users[2].email)  # no printer chosen: the binding stays
    second = claims(emulator, poll(emulator, code).json()["access_token"])
    assert (second["tp_id"], second["sub"]) == (first["tp_id"], first["sub"])


def test_denied_pairing(emulator: Emulator) -> None:
    code = pair(emulator)
    emulator.deny(code)
    assert error_of(poll(emulator, code)) == "access_denied"
    with pytest.raises(ValueError, match="already denied"):
        emulator.approve(code, email=emulator.users[0].email)


def test_deny_pairing_fault(emulator: Emulator) -> None:
    emulator.set_faults(deny_pairing=True)
    code = pair(emulator)
    assert error_of(poll(emulator, code)) == "access_denied"
    emulator.set_faults(deny_pairing=False)
    assert error_of(poll(emulator, code)) == "authorization_pending"
    emulator.auto_approve_device = emulator.printers[0].id
    emulator.set_faults(deny_pairing=True)
    assert error_of(poll(emulator, code)) == "access_denied"  # the fault wins over auto-approval


def test_slow_down_grows_the_interval(make_emulator: EmulatorFactory) -> None:
    clock = FakeClock()
    emu = make_emulator(poll_interval_s=5, clock=clock)
    code = pair(emu)
    assert error_of(poll(emu, code)) == "authorization_pending"
    clock.advance(1)
    assert error_of(poll(emu, code)) == "slow_down"  # interval is now 10 s
    clock.advance(6)
    assert error_of(poll(emu, code)) == "slow_down"  # 6 < 10; now 15 s
    clock.advance(15)
    assert error_of(poll(emu, code)) == "authorization_pending"


def test_codes_expire(make_emulator: EmulatorFactory) -> None:
    clock = FakeClock()
    emu = make_emulator(code_lifetime_s=600, clock=clock)
    code = pair(emu)
    clock.advance(600)
    assert error_of(poll(emu, code)) == "expired_token"
    with pytest.raises(ValueError, match="expired"):
        emu.approve(code, email=emu.users[0].email)


def test_user_pairing_and_me(emulator: Emulator) -> None:
    user = emulator.users[2]
    emulator.auto_approve_user = user.email
    tokens = poll(emulator, pair(emulator, mode="user", hardware_id=None)).json()
    assert "pty" not in claims(emulator, tokens["access_token"])
    me = api(emulator, tokens["access_token"]).get("/v1/users/me")
    assert me.json() == {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
    }
    device = device_tokens(emulator)
    assert api(emulator, device["access_token"]).get("/v1/users/me").status_code == 403


# -- tokens ------------------------------------------------------------------------------


def test_refresh_rotates_at_once(emulator: Emulator) -> None:
    tokens = device_tokens(emulator)
    new = refresh(emulator, tokens["refresh_token"])
    assert new.status_code == 200
    assert new.json()["refresh_token"] != tokens["refresh_token"]
    assert error_of(refresh(emulator, tokens["refresh_token"])) == "invalid_grant"
    assert refresh(emulator, new.json()["refresh_token"]).status_code == 200
    assert error_of(refresh(emulator, "not-a-token")) == "invalid_grant"


def test_reuse_without_detection_keeps_the_family(emulator: Emulator) -> None:
    tokens = device_tokens(emulator)
    new = refresh(emulator, tokens["refresh_token"]).json()
    assert error_of(refresh(emulator, tokens["refresh_token"])) == "invalid_grant"
    assert refresh(emulator, new["refresh_token"]).status_code == 200


def test_reuse_detection_revokes_the_family(emulator: Emulator) -> None:
    emulator.set_faults(reuse_detection=True)
    tokens = device_tokens(emulator)
    new = refresh(emulator, tokens["refresh_token"]).json()
    assert error_of(refresh(emulator, tokens["refresh_token"])) == "invalid_grant"
    assert error_of(refresh(emulator, new["refresh_token"])) == "invalid_grant"
    assert api(emulator, new["access_token"]).get("/sfapi/GetPrinter/").status_code == 401


def test_revoke_kills_refresh_tokens_and_leaves_access_tokens_to_expire(emulator: Emulator) -> None:
    tokens = device_tokens(emulator)
    # Only refresh tokens can be revoked (ezeep's docs): an access token sent there changes nothing.
    assert oauth(emulator).post("/oauth/revoke/", data={"token": tokens["access_token"]}).status_code == 200
    rotated = refresh(emulator, tokens["refresh_token"]).json()
    answer = oauth(emulator).post("/oauth/revoke/", data={"token": rotated["refresh_token"]})
    assert (answer.status_code, answer.content) == (200, b"")  # a success without content
    assert error_of(refresh(emulator, rotated["refresh_token"])) == "invalid_grant"
    # "An access token may stay valid up to one hour": the emulator lets it live until it expires.
    assert api(emulator, rotated["access_token"]).get("/sfapi/GetPrinter/").status_code == 200
    assert oauth(emulator).post("/oauth/revoke/", data={"token": "unknown"}).status_code == 200


def test_expired_and_bad_access_tokens_are_401(make_emulator: EmulatorFactory) -> None:
    clock = FakeClock()
    emu = make_emulator(clock=clock, access_token_lifetime_s=60)
    tokens = device_tokens(emu)
    assert tokens["expires_in"] == 60
    clock.advance(61)
    answer = api(emu, tokens["access_token"]).get("/printing/v1/printers/")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert api(emu, "garbage").get("/printing/v1/printers/").status_code == 401
    assert httpx.get(f"{emu.url}/printing/v1/printers/").status_code == 401
    other = make_emulator()
    foreign = device_tokens(other)  # same signing key, different server: not one of ours
    assert api(emu, foreign["access_token"]).get("/printing/v1/printers/").status_code == 401


# -- printers, users, jobs ---------------------------------------------------------------


def test_both_printer_listings(emulator: Emulator) -> None:
    client = api(emulator, device_tokens(emulator)["access_token"])
    listed = client.get("/printing/v1/printers/", params={"limit": 100, "offset": 0}).json()
    assert listed["count"] == 2
    assert listed["next"] is None
    assert [(p["id"], p["tp_id"], p["status"]) for p in listed["results"]] == [
        (p.id, p.tp_id, "Online") for p in emulator.printers
    ]
    assert client.get("/sfapi/GetPrinter/").json() == [
        {"id": p.id, "name": p.name, "location": p.location} for p in emulator.printers
    ]
    emulator.set_printer_status(emulator.printers[0].id, "Offline")
    assert client.get("/printing/v1/printers/").json()["results"][0]["status"] == "Offline"


def test_seeded_org(emulator: Emulator) -> None:
    assert len(emulator.users) == 5
    assert len({u.email for u in emulator.users}) == 5
    assert [len(emulator.waiting_jobs(u.email)) for u in emulator.users] == [1, 2, 3, 4, 0]
    assert len({p.tp_id for p in emulator.printers}) == 2
    assert [u.id for u in Emulator(seed=True).users] == [u.id for u in emulator.users]


def test_waiting_jobs_page_with_next(emulator: Emulator) -> None:
    client = api(emulator, device_tokens(emulator)["access_token"])
    user = emulator.users[3]
    params: dict[str, str | int] = {
        "status": "INQUEUE",
        "o": "-created",
        "limit": 3,
        "offset": 0,
        "user": user.id,
    }
    first = client.get("/printing/v1/printjobs/", params=params).json()
    assert first["count"] == 4
    assert len(first["results"]) == 3
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert second["next"] is None
    assert second["previous"] is not None
    jobs = first["results"] + second["results"]
    assert [j["id"] for j in jobs] == [j["id"] for j in emulator.waiting_jobs(user.email)]
    assert [j["created"] for j in jobs] == sorted((j["created"] for j in jobs), reverse=True)
    assert {j["owner_id"] for j in jobs} == {user.id}
    assert set(jobs[0]) == {"id", "name", "created", "pages", "owner_id", "status", "size"}
    assert client.get("/printing/v1/printjobs/", params={**params, "limit": 101}).status_code == 400


def test_added_job_comes_first(emulator: Emulator) -> None:
    user = emulator.users[4]
    job_id = emulator.add_job(user.email, "Poster.pdf", pages=3)
    waiting = emulator.waiting_jobs(user.email)
    assert [(j["id"], j["name"], j["pages"]) for j in waiting] == [(job_id, "Poster.pdf", 3)]
    with pytest.raises(LookupError):
        emulator.add_job("nobody@example.com")


def test_find_users(emulator: Emulator) -> None:
    client = api(emulator, device_tokens(emulator)["access_token"])
    user = emulator.users[1]
    exact = client.get("/printing/v1/users/", params={"email": user.email}).json()
    assert exact["results"] == [
        {"id": user.id, "email": user.email, "first_name": user.first_name, "last_name": user.last_name}
    ]
    assert (
        client.get("/printing/v1/users/", params={"search": "example.com", "limit": 2}).json()["count"] == 5
    )
    assert client.get("/printing/v1/users/", params={"email": "nobody@example.com"}).json()["count"] == 0


def test_release_status_progression_and_counts(make_emulator: EmulatorFactory) -> None:
    clock = FakeClock()
    emu = make_emulator(clock=clock, job_duration_s=4)
    client = api(emu, device_tokens(emu)["access_token"])
    user = emu.users[1]
    job = emu.waiting_jobs(user.email)[0]
    released = client.post("/sfapi/Print/", json={"jobid": job["id"], "printerid": emu.printers[0].id})
    spool_id = released.json()["jobid"]
    assert [j["id"] for j in emu.waiting_jobs(user.email)] != [job["id"]] and len(
        emu.waiting_jobs(user.email)
    ) == 1

    def status() -> dict[str, Any]:
        answer: dict[str, Any] = client.get("/sfapi/Status/", params={"id": spool_id}).json()
        return answer

    first = status()
    assert first["jobstatus"] == 1246
    assert set(first) == {"jobstatus", "jobstatusstring", "jobpagesprinted", "jobpagestotal", "jobposition"}
    clock.advance(2)
    assert status()["jobstatus"] == 129
    clock.advance(2)
    done = status()
    assert (done["jobstatus"], done["jobpagesprinted"]) == (0, job["pages"])
    assert emu.release_counts() == {job["id"]: 1}
    client.post("/sfapi/Print/", json={"jobid": job["id"], "printerid": emu.printers[0].id})
    assert emu.release_counts() == {job["id"]: 2}
    assert client.get("/sfapi/Status/", params={"id": "nope"}).json()["jobstatus"] == 2
    assert emu.stats()["print"] == 2


def test_failing_printer_ends_in_3011_and_job_waits_again(make_emulator: EmulatorFactory) -> None:
    clock = FakeClock()
    emu = make_emulator(clock=clock, job_duration_s=1)
    client = api(emu, device_tokens(emu)["access_token"])
    email = emu.users[0].email
    job = emu.waiting_jobs(email)[0]
    emu.set_printer_fails(emu.printers[1].id, True)
    spool_id = client.post(
        "/sfapi/Print/", json={"jobid": job["id"], "printerid": emu.printers[1].id}
    ).json()["jobid"]
    assert emu.waiting_jobs(email) == []
    clock.advance(1)
    assert client.get("/sfapi/Status/", params={"id": spool_id}).json()["jobstatus"] == 3011
    assert [j["id"] for j in emu.waiting_jobs(email)] == [job["id"]]


def test_offline_printer_holds_jobs(make_emulator: EmulatorFactory) -> None:
    clock = FakeClock()
    emu = make_emulator(clock=clock, job_duration_s=4)
    client = api(emu, device_tokens(emu)["access_token"])
    printer = emu.printers[0].id
    job = emu.waiting_jobs(emu.users[0].email)[0]
    spool_id = client.post("/sfapi/Print/", json={"jobid": job["id"], "printerid": printer}).json()["jobid"]
    clock.advance(2)
    emu.set_printer_status(printer, "Offline")
    clock.advance(100)
    assert client.get("/sfapi/Status/", params={"id": spool_id}).json()["jobstatus"] == 129
    emu.set_printer_status(printer, "Online")
    clock.advance(2)
    assert client.get("/sfapi/Status/", params={"id": spool_id}).json()["jobstatus"] == 0


def test_release_errors(emulator: Emulator) -> None:
    client = api(emulator, device_tokens(emulator)["access_token"])
    printer = emulator.printers[0].id
    assert client.post("/sfapi/Print/", json={"jobid": "missing", "printerid": printer}).status_code == 404
    assert client.post("/sfapi/Print/", content=b"{not json").status_code == 400
    assert client.post("/sfapi/Print/", json={"jobid": 1}).status_code == 400


def test_delete_job(emulator: Emulator) -> None:
    client = api(emulator, device_tokens(emulator)["access_token"])
    email = emulator.users[1].email
    job_id = emulator.waiting_jobs(email)[0]["id"]
    assert client.delete(f"/printing/v1/printjobs/{job_id}/").status_code == 204
    assert job_id not in [j["id"] for j in emulator.waiting_jobs(email)]
    assert client.delete(f"/printing/v1/printjobs/{job_id}/").status_code == 404


def test_user_token_sees_only_its_own_jobs(emulator: Emulator) -> None:
    user = emulator.users[1]
    emulator.auto_approve_user = user.email
    tokens = poll(emulator, pair(emulator, mode="user", hardware_id=None)).json()
    client = api(emulator, tokens["access_token"])
    mine = client.get("/printing/v1/printjobs/", params={"status": "INQUEUE"}).json()
    assert {j["owner_id"] for j in mine["results"]} == {user.id}
    other = client.get("/printing/v1/printjobs/", params={"user": emulator.users[0].id})
    assert other.status_code == 404
