"""The demo as a new user tries it: the seeded people are greeted by name, and no public screen
shows an e-mail address, with the pairing and enrolment screens showing a short address.

The station is built by the composition root from the demo's own configuration and badges, runs
against the emulator, and every view it publishes is drawn by the kiosk's screens at 800x480;
the test reads both the views and every piece of text drawn.
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import contextlib
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pygame
import pytest

from drivers.readers.simulated import DEMO_KEYS
from station.cli.cmd_demo import DEMO_BADGE_KEYS, UNKNOWN_BADGE_KEY, demo_config, enrol_demo_badges
from station.cli.compose import build_station
from station.config import Config
from station.core import intents
from station.core.enrolment import Enrolling
from station.core.health import IdleFace, Ready
from station.core.pairing import Pairing
from station.core.runtime import Station
from station.core.session import Done, Picking
from station.core.state import Mode
from station.core.view import StationInfo, View
from station.database import open_database
from station.emulator import Emulator
from station.events import BadgeRead
from station.pin import Pins
from tests.support.views import Published
from ui.fonts import Fonts
from ui.frame import draw_frame
from ui.screens import Now, screen_for

WAIT_S = 60.0
# A whole address: at least two characters before the "@" (a masked one shows one and dots).
FULL_ADDRESS = re.compile(r"[\w.+-]{2,}@[\w-]+\.[\w.-]+")


@pytest.fixture
def demo(emulator: Emulator) -> Iterator[tuple[Station, Published]]:
    emulator.auto_approve_device = emulator.printers[0].id
    with demo_config(Config(), emulator.url) as config, contextlib.ExitStack() as stack:
        db = open_database(config.database_path)
        Pins(db).set_technician("24681357")  # as first boot hands it over: else it asks for one
        db.close()
        enrol_demo_badges(config, [(user.id, user.email, user.name) for user in emulator.users])
        station = build_station(config, stack, restart=lambda: None).station
        published = Published(wait_s=WAIT_S)
        station.subscribe(published)
        station.start()
        stack.callback(station.stop)
        yield station, published


def tap(station: Station, key: str) -> None:
    uid = DEMO_KEYS[key]
    station.submit(BadgeRead(uid, "simulated", "demo keys", time.monotonic(), raw=uid.hex().upper()))


def drawn_text(mode: Mode | IdleFace, info: StationInfo) -> list[str]:
    """Every piece of text the kiosk draws for ``mode`` at 800x480."""
    now = Now(time.monotonic(), datetime.now(UTC))
    painter = draw_frame(screen_for(View(info, mode)), pygame.Surface((800, 480)), Fonts(), now)
    return [draw.text for draw in painter.draws]


@pytest.mark.slow
def test_the_demo_greets_by_name_and_never_shows_an_address(
    demo: tuple[Station, Published], emulator: Emulator
) -> None:
    station, published = demo
    pairing = published.next(Pairing)
    assert pairing.short_url == f"{emulator.url}/device"  # the short address, to type
    assert pairing.code in pairing.auth_url  # the QR code carries the whole link
    published.next(Ready)

    greeted = []
    for key, user in zip(DEMO_BADGE_KEYS, emulator.users, strict=True):
        tap(station, key)
        shown = published.next(
            object, lambda x: (isinstance(x, Picking) and not x.busy) or isinstance(x, Done)
        )
        if isinstance(shown, Picking):  # else nothing waits for this person
            assert shown.user_name == f"{user.first_name} {user.last_name}"
            assert f"Hello, {user.first_name} {user.last_name}" in drawn_text(shown, published.info)
            greeted.append(user)
        station.submit(intents.Done())
        published.next(Ready)

    assert len(greeted) >= 4  # the seeded people with waiting jobs

    # Nobody's badge: self-enrolment, approved on the phone by the fourth person.
    person = emulator.users[3]
    emulator.auto_approve_user = person.email
    tap(station, UNKNOWN_BADGE_KEY)  # the demo's key 0
    waiting = published.next(Enrolling, lambda x: x.stage == "waiting")
    assert waiting.short_url == f"{emulator.url}/device"
    assert waiting.short_url in drawn_text(waiting, published.info)  # whole, not cut with "…"
    confirm = published.next(Enrolling, lambda x: x.stage == "confirm")
    assert confirm.user_name == person.name
    tap(station, UNKNOWN_BADGE_KEY)  # the same badge again: linked
    linked = published.next(Picking, lambda x: not x.busy)
    assert linked.user_name == person.name

    # Never on the screen, never in a view's repr (a log line). Self-enrolment's mode keeps the
    # address of who signed in, out of its repr, only to link the badge to it.
    emails = {user.email for user in emulator.users}
    for view in published.all():
        for text in [repr(view), *drawn_text(view.mode, view.info)]:
            assert not FULL_ADDRESS.search(text), (type(view.mode).__name__, text)
            assert not any(email in text for email in emails)
