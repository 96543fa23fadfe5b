"""The emulator's switches for what ezeep's own pages say, and ``--profile strict``, on the wire.

Plain httpx, so that the emulator is checked apart from the station's client.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from station.emulator import Emulator, Faults
from station.emulator.faults import profile_faults
from station.emulator.model import BRANCH_CONNECTOR, OFFICE_CONNECTOR, QUEUE_CONNECTOR
from tests.support.cloud import EmulatorFactory
from tests.support.emulator_http import HW, device_tokens, oauth, poll, refresh

STATION = "station-client"  # the client id tests.support.emulator_http pairs with


def api(emu: Emulator, token: str) -> httpx.Client:
    return httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def claims(tokens: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return decoded


def test_the_strict_profile_switches_every_point_on() -> None:
    assert profile_faults("default") == {}
    strict = Faults(**profile_faults("strict", client_ids=["a", "b"]))  # type: ignore[arg-type]
    assert strict.revoke_no_content and strict.shared_tp_id and strict.users_without_email
    assert strict.queue_printers and strict.ignore_user_filter and strict.print_error_code == 804
    assert strict.refresh_token_clients == strict.tp_id_claim_clients == "a,b"
    with pytest.raises(ValueError, match="client id"):
        profile_faults("strict")
    with pytest.raises(ValueError, match="unknown profile"):
        profile_faults("lenient", client_ids=["a"])
    for bad in ("*", "a,b", ""):
        with pytest.raises(ValueError, match="client id"):
            profile_faults("strict", client_ids=[bad])


def test_a_strict_emulator_pairs_its_station_and_nobody_else(make_emulator: EmulatorFactory) -> None:
    emulator = make_emulator(profile="strict", client_ids=[STATION])
    assert emulator.profile == "strict"
    tokens = device_tokens(emulator)
    assert tokens["refresh_token"] and claims(tokens)["tp_id"] == emulator.printers[0].tp_id
    assert refresh(emulator, tokens["refresh_token"]).status_code == 200
    other = httpx.Client(base_url=emulator.url, auth=("another-client", ""), timeout=10)
    code = other.post("/oauth/pair/", data={"mode": "device", "hardware_id": "hw-x"}).json()["pairing_code"]
    emulator.approve(code, email=emulator.users[0].email, printer_id=emulator.printers[1].id)
    answer = other.post("/oauth/access_token/", data={"grant_type": "pairing_code", "pairing_code": code})
    assert answer.status_code == 200
    assert "refresh_token" not in answer.json() and "tp_id" not in claims(answer.json())
    assert claims(answer.json())["pty"] == "dev"


def test_refresh_tokens_and_the_tp_id_claim_follow_their_client_lists(emulator: Emulator) -> None:
    tokens = device_tokens(emulator)
    emulator.set_faults(tp_id_claim_clients="someone-else")
    again = refresh(emulator, tokens["refresh_token"]).json()
    assert "tp_id" not in claims(again) and again["refresh_token"]
    emulator.set_faults(refresh_token_clients=f"someone-else, {STATION}", tp_id_claim_clients=STATION)
    again = refresh(emulator, again["refresh_token"]).json()
    assert claims(again)["tp_id"] == emulator.printers[0].tp_id
    emulator.set_faults(refresh_token_clients="")
    refused = refresh(emulator, again["refresh_token"])
    assert (refused.status_code, refused.json()) == (400, {"error": "unauthorized_client"})
    emulator.set_faults(refresh_token_clients="*")
    assert refresh(emulator, again["refresh_token"]).status_code == 200  # the refusal spent nothing


def test_a_pairing_without_refresh_tokens_has_none(emulator: Emulator) -> None:
    emulator.set_faults(refresh_token_clients="")
    code = oauth(emulator).post("/oauth/pair/", data={"mode": "device", "hardware_id": HW}).json()
    emulator.approve(code["pairing_code"], email=emulator.users[0].email)
    answer = poll(emulator, code["pairing_code"]).json()
    assert set(answer) == {"access_token", "token_type", "expires_in", "scope"}


def test_revoke_answers_without_content_200_or_204(emulator: Emulator) -> None:
    tokens = device_tokens(emulator)
    answer = oauth(emulator).post("/oauth/revoke/", data={"token": tokens["refresh_token"]})
    assert (answer.status_code, answer.content) == (200, b"")
    emulator.set_faults(revoke_no_content=True)
    answer = oauth(emulator).post("/oauth/revoke/", data={"token": "whatever"})
    assert (answer.status_code, answer.content) == (204, b"")


def test_a_device_is_the_connector_of_its_printer_and_twins_share_the_tp_id(emulator: Emulator) -> None:
    tokens = device_tokens(emulator)
    client = api(emulator, tokens["access_token"])
    rows = client.get("/printing/v1/printers/").json()["results"]
    assert [(p["id"], p["connector_id"]) for p in rows] == [
        (emulator.printers[0].id, claims(tokens)["sub"]),
        (emulator.printers[1].id, OFFICE_CONNECTOR),
    ]
    assert all("is_queue" not in p for p in rows)
    emulator.set_faults(shared_tp_id=True)
    rows = client.get("/printing/v1/printers/").json()["results"]
    assert len(rows) == 4
    twin, real = rows[0], rows[1]
    assert (twin["tp_id"], twin["connector_id"]) == (real["tp_id"], BRANCH_CONNECTOR)
    assert twin["id"] != real["id"] and "(branch)" in twin["name"]
    # Listed only: a release to a twin is refused, so a station that took it cannot print elsewhere.
    job = emulator.waiting_jobs(emulator.users[0].email)[0]["id"]
    assert client.post("/sfapi/Print/", json={"jobid": job, "printerid": twin["id"]}).status_code == 404


def test_queue_printers_are_flagged(emulator: Emulator) -> None:
    client = api(emulator, device_tokens(emulator)["access_token"])
    emulator.set_faults(queue_printers=True)
    rows = client.get("/printing/v1/printers/").json()["results"]
    queue = rows[0]
    assert (queue["name"], queue["is_queue"], queue["connector_id"]) == ("AnyPrinter", True, QUEUE_CONNECTOR)
    assert queue["tp_id"] == emulator.printers[0].tp_id  # unique per connector only
    assert [p["is_queue"] for p in rows[1:]] == [False, False]
    listed = client.get("/sfapi/GetPrinter/").json()
    assert [p["is_queue"] for p in listed] == [True, False, False]


def test_api2_users_without_email_or_name(emulator: Emulator) -> None:
    client = api(emulator, device_tokens(emulator)["access_token"])
    emulator.set_faults(users_without_email=True)
    answer = client.get("/printing/v1/users/", params={"email": emulator.users[0].email}).json()
    assert answer["count"] == len(emulator.users)  # no e-mail filter either
    assert set(answer["results"][0]) == {
        "id",
        "local_printing_enabled",
        "self_service_enabled",
        "myprinters_enabled",
        "groups",
    }


def test_print_errors_as_ezeep_codes(emulator: Emulator) -> None:
    client = api(emulator, device_tokens(emulator)["access_token"])
    printer = emulator.printers[0].id
    job = emulator.waiting_jobs(emulator.users[0].email)[0]["id"]
    emulator.set_faults(print_error_code=804)
    ok = client.post("/sfapi/Print/", json={"jobid": job, "printerid": printer})
    assert set(ok.json()) == {"jobid"}  # only a printer set to fail refuses
    emulator.set_printer_fails(printer)
    refused = client.post("/sfapi/Print/", json={"jobid": job, "printerid": printer})
    assert (refused.status_code, refused.json()) == (200, {"code": 804})
    assert emulator.release_counts()[job] == 1


def test_the_admin_api_sets_the_new_switches(emulator: Emulator) -> None:
    admin = httpx.Client(base_url=f"{emulator.url}/_emulator", timeout=10)
    changed = admin.post("/faults", json={"tp_id_claim_clients": "", "print_error_code": 804}).json()
    assert changed["tp_id_claim_clients"] == "" and changed["print_error_code"] == 804
    assert admin.post("/faults", json={"shared_tp_id": 1}).status_code == 400
    assert admin.post("/faults", json={"refresh_token_clients": True}).status_code == 400
