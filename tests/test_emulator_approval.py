"""The approval web page behind ``auth_url``, driven by a real headless Chromium (and a few httpx checks)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jwt
import pytest

from station.emulator import Emulator
from tests.support.approval_page import approve_on_printer, sign_in
from tests.support.emulator_http import poll, start_pairing

HW = "hw-browser"


@pytest.mark.chromium
def test_approve_a_device_on_a_chosen_printer_then_deny_another(emulator: Emulator, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    first = start_pairing(emulator, hardware_id=HW)
    sign_in(page, first["auth_url"], emulator.users[1].email)
    assert page.locator(".who").inner_text() == emulator.users[1].email
    chosen = emulator.printers[1]
    approve_on_printer(page, first["pairing_code"], chosen.id)
    tokens = poll(emulator, first["pairing_code"]).json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["tp_id"] == chosen.tp_id
    assert emulator.binding(HW) == chosen.tp_id

    # Re-pairing the same hardware preselects its binding; this time the approver denies.
    second = start_pairing(emulator, hardware_id=HW)
    page.goto(second["auth_url"])  # already signed in: straight to the code
    assert page.locator("#pairing-code").inner_text() == second["pairing_code"]
    assert page.is_checked(f"input[name=printer_id][value='{chosen.id}']")
    page.click("#deny")
    assert page.locator("#result").inner_text() == "Denied"
    assert poll(emulator, second["pairing_code"]).json() == {"error": "access_denied"}
    context.close()


@pytest.mark.chromium
def test_phone_viewport_user_pairing(emulator: Emulator, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    pairing = start_pairing(emulator, mode="user", hardware_id=None)
    user = emulator.users[4]
    sign_in(page, pairing["auth_url"], user.email)
    assert page.locator("input[name=printer_id]").count() == 0
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    approve = page.locator("#approve").bounding_box()
    assert approve["x"] >= 0 and approve["x"] + approve["width"] <= 360
    assert approve["height"] >= 44  # a thumb-sized target
    page.tap("#approve")
    page.locator("#result").wait_for()
    assert page.locator("#result").inner_text() == "Approved"
    tokens = poll(emulator, pairing["pairing_code"]).json()
    me = httpx.get(
        f"{emulator.url}/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["email"] == user.email
    context.close()


@pytest.mark.chromium
def test_the_short_address_then_the_typed_code_reaches_the_approval(emulator: Emulator, browser: Any) -> None:
    pairing = start_pairing(emulator, hardware_id=HW)
    code, page = pairing["pairing_code"], browser.new_page()
    sign_in(page, pairing["verification_uri"], emulator.users[0].email)  # the address to type
    page.fill("#pairing_code", code)  # typed from the station's screen
    page.press("#pairing_code", "Enter")
    approve_on_printer(page, code, emulator.printers[0].id)
    page.close()
    assert "access_token" in poll(emulator, code).json()


# -- the same pages without a browser: the error paths -----------------------------------


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found
    return found.group(1)


def test_wrong_password_and_missing_csrf_are_refused(emulator: Emulator) -> None:
    browser = httpx.Client(base_url=emulator.url, follow_redirects=True)
    form = browser.get("/auth/signin/")
    email = emulator.users[0].email
    wrong = browser.post("/auth/signin/", data={"csrf": _csrf(form.text), "email": email, "password": "x"})
    assert wrong.status_code == 401
    assert "wrong password" in wrong.text
    forged = browser.post("/auth/signin/", data={"csrf": "forged", "email": email, "password": "demo"})
    assert forged.status_code == 401
    assert "form expired" in forged.text


def test_signed_out_visitors_are_sent_to_sign_in_and_never_off_site(emulator: Emulator) -> None:
    browser = httpx.Client(base_url=emulator.url)
    answer = browser.get("/oauth/authorize/pairing/?pairing_code=abc")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/auth/signin/?next=")
    form = browser.get("/auth/signin/?next=//evil.example/")
    assert 'name="next" value="/oauth/authorize/pairing/"' in form.text
    signed_in = browser.post(
        "/auth/signin/",
        data={
            "csrf": _csrf(form.text),
            "email": emulator.users[0].email,
            "password": "demo",
            "next": "//evil.example/",
        },
    )
    assert signed_in.headers["location"] == "/oauth/authorize/pairing/"
    unknown = browser.get("/oauth/authorize/pairing/?pairing_code=nope")
    assert unknown.status_code == 404
    entry = browser.get("/oauth/authorize/pairing/")
    assert 'id="pairing_code"' in entry.text
    pairing = start_pairing(emulator, hardware_id=HW)
    page = browser.get(f"/oauth/authorize/pairing/?pairing_code={pairing['pairing_code']}")
    forged = browser.post(
        "/oauth/authorize/pairing/",
        data={"csrf": "forged", "pairing_code": pairing["pairing_code"], "decision": "approve"},
    )
    assert forged.status_code == 403
    emulator.deny(pairing["pairing_code"])
    late = browser.post(
        "/oauth/authorize/pairing/",
        data={"csrf": _csrf(page.text), "pairing_code": pairing["pairing_code"], "decision": "approve"},
    )
    assert late.status_code == 409
    assert browser.get("/auth/static/style.css").headers["content-type"].startswith("text/css")
