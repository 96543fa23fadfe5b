"""Driving the emulator's approval page (behind ``auth_url``) in a real headless Chromium.

The ``browser`` fixture in ``conftest.py`` launches the system Chromium through Playwright
(``$RELEASE_STATION_CHROMIUM``, default ``/usr/bin/chromium``) and skips when there is none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@contextmanager
def launch_chromium() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = os.environ.get("RELEASE_STATION_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(executable):
        pytest.skip(f"no Chromium at {executable}")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(page: Any, auth_url: str, email: str) -> None:
    """Open ``auth_url``, sign in as a seeded member (password "demo") and land on the code page."""
    page.goto(auth_url)
    assert "demo" in page.locator(".hint").inner_text()
    page.fill("#email", email)
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/oauth/authorize/pairing/"))


def approve_on_printer(page: Any, code: str, printer_id: str) -> None:
    """On the code page: check the code shown, bind the device to ``printer_id`` and approve."""
    assert page.locator("#pairing-code").inner_text() == code
    page.check(f"input[name=printer_id][value='{printer_id}']")
    page.click("#approve")
    assert page.locator("#result").inner_text() == "Approved"
