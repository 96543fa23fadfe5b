"""Touch flows through the real pygame event path (SDL's dummy video driver): events in, intents out."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import dataclasses
import threading
from collections.abc import Iterator

import pygame
import pytest

from station.core import intents
from station.core.pins import PinCheck, PinSetup
from station.core.session import Picking
from station.core.view import View
from tests.support.clock import FakeClock
from ui import theme
from ui.canned import MONO, canned_views
from ui.display import Display, to_logical
from ui.kiosk import VIEW_EVENT, StationUi


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONO)


@pytest.fixture
def sent() -> list[object]:
    return []


@pytest.fixture
def ui(clock: FakeClock, sent: list[object]) -> Iterator[StationUi]:
    display = Display(resolution="800x480", fullscreen=False)
    yield StationUi(display=display, submit=sent.append, dim_after_s=10, clock=clock)
    display.close()


def last(sent: list[object]) -> object:
    return sent[-1]


def show(ui: StationUi, view: View) -> None:
    ui.handle(pygame.event.Event(VIEW_EVENT, view=view))
    ui.refresh()


def center(ui: StationUi, label: str) -> tuple[int, int]:
    matches = [t for t in ui.targets if t.label == label]
    assert matches, f"no {label!r} among {[t.label for t in ui.targets]}"
    return matches[-1].rect.center


def tap(ui: StationUi, label: str) -> None:
    pos = center(ui, label)
    ui.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1))
    ui.handle(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1))
    ui.refresh()


def finger_tap(ui: StationUi, label: str) -> None:
    x, y = center(ui, label)
    width, height = ui.display.panel
    for kind in (pygame.FINGERDOWN, pygame.FINGERUP):
        ui.handle(pygame.event.Event(kind, x=x / width, y=y / height, finger_id=1, touch_id=1))
    ui.refresh()


def test_pick_release_and_delete(ui: StationUi, sent: list[object]) -> None:
    session = canned_views()["session"]
    assert isinstance(session.mode, Picking)
    show(ui, session)
    tap(ui, "Boarding pass.pdf")
    finger_tap(ui, "Print selected (2)")
    tap(ui, "Print all")
    tap(ui, "Delete")
    assert sent == [
        intents.ToggleJob("job-1"),
        intents.ReleaseSelected(),
        intents.ReleaseAll(),
        intents.DeleteSelected(),
    ]
    sent.clear()
    show(ui, View(session.info, dataclasses.replace(session.mode, confirm_delete=("job-0", "job-2"))))
    assert "Print all" not in [t.label for t in ui.targets]  # the dialog is modal
    tap(ui, "Delete")
    tap(ui, "Keep")
    assert sent == [intents.ConfirmDelete(), intents.CancelDelete()]


def test_dragging_scrolls_the_list_without_selecting(ui: StationUi, sent: list[object]) -> None:
    show(ui, canned_views()["session"])
    start = center(ui, "Meeting notes")
    end = (start[0], 0)
    ui.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=start, button=1))
    ui.handle(pygame.event.Event(pygame.MOUSEMOTION, pos=end, buttons=(1, 0, 0), rel=(0, -start[1])))
    ui.handle(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=end, button=1))
    ui.refresh()
    assert sent == [intents.Touched()]
    assert ui.screen is not None
    scrolled = ui.screen.scroll_lists()[0]
    assert scrolled.rect is not None
    assert scrolled.offset == scrolled.content_height - scrolled.rect.height > 0  # stops at the end
    assert "Lunch menu" in [t.label for t in ui.targets]  # the last job scrolled into view


def test_pin_keypad(ui: StationUi, sent: list[object]) -> None:
    show(ui, View(canned_views()["ready"].info, PinCheck(1, "technician", MONO + 30)))
    for digit in "2580":
        tap(ui, digit)
    tap(ui, "⌫")
    tap(ui, "0")
    tap(ui, "OK")
    assert last(sent) == intents.EnterPin("2580")
    assert "2580" not in repr(last(sent))
    tap(ui, "Cancel")
    assert last(sent) == intents.Cancel()


def test_choosing_a_technician_pin_twice_offers_no_way_around(ui: StationUi, sent: list[object]) -> None:
    info = canned_views()["ready"].info
    show(ui, View(info, PinSetup(1, "technician")))
    assert "Cancel" not in [t.label for t in ui.targets]
    for digit in "135792468":
        tap(ui, digit)
    tap(ui, "OK")
    assert last(sent) == intents.EnterPin("135792468")
    show(ui, View(info, PinSetup(1, "technician", first="135792468")))
    tap(ui, "OK")  # the keypad starts empty again: nothing typed, nothing sent
    for digit in "135792468":
        tap(ui, digit)
    tap(ui, "OK")
    assert [i for i in sent if isinstance(i, intents.EnterPin)] == [intents.EnterPin("135792468")] * 2
    show(ui, View(info, PinSetup(1, "release", error="mismatch", expires_at=MONO + 30)))
    tap(ui, "Cancel")
    assert last(sent) == intents.Cancel()


def test_long_press_on_the_corner_opens_the_technician_menu(
    ui: StationUi, sent: list[object], clock: FakeClock
) -> None:
    show(ui, canned_views()["ready"])
    ui.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(5, 5), button=1))
    clock.now += 2.9
    ui.refresh()
    assert sent == []
    clock.now += 0.2
    ui.refresh()
    ui.handle(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(5, 5), button=1))
    assert sent == [intents.OpenTechnician()]


def test_a_short_press_on_the_corner_does_nothing(
    ui: StationUi, sent: list[object], clock: FakeClock
) -> None:
    show(ui, canned_views()["ready"])
    ui.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(5, 5), button=1))
    clock.now += 1
    ui.handle(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(5, 5), button=1))
    clock.now += 5
    ui.refresh()
    assert intents.OpenTechnician() not in sent


def test_technician_menu_pages(ui: StationUi, sent: list[object]) -> None:
    views = canned_views()
    show(ui, views["tech-menu"])
    tap(ui, "Language")
    show(ui, views["tech-language"])
    tap(ui, "Deutsch")
    assert sent == [intents.ShowPage("language"), intents.SetLanguage("de")]
    sent.clear()
    show(ui, views["tech-pins"])
    tap(ui, "Release PIN per person: on")
    assert last(sent) == intents.SwitchReleasePins(True)
    tap(ui, "Change technician PIN")
    for digit in "47110815":
        tap(ui, digit)
    tap(ui, "OK")
    assert last(sent) == intents.SetPin("47110815")
    show(ui, views["tech-about"])
    tap(ui, "Restart")
    assert last(sent) == intents.Touched()  # asks first
    tap(ui, "Yes")
    assert last(sent) == intents.Restart()


def test_technician_enrolment_types_on_the_keyboard(ui: StationUi, sent: list[object]) -> None:
    views = canned_views()
    show(ui, views["tech-enrol"])
    for key in "anna":
        tap(ui, key)
    tap(ui, "Search")
    assert last(sent) == intents.SearchUsers("anna")
    show(ui, views["tech-enrol-results"])
    tap(ui, "Anna Berg\nanna.berg@example.com")
    assert last(sent) == intents.ChooseUser("u2")


def test_technician_replaces_or_adds_a_badge_for_a_user_who_has_some(
    ui: StationUi, sent: list[object]
) -> None:
    views = canned_views()
    show(ui, views["tech-enrol-confirm"])
    tap(ui, "Replace")
    assert last(sent) == intents.ConfirmEnrolment(0)
    tap(ui, "Add this badge")
    assert last(sent) == intents.ConfirmEnrolment(None)
    show(ui, views["tech-enrol-confirm-full"])  # at the limit: only replacing is offered
    labels = [t.label for t in ui.targets]
    assert labels.count("Replace") == 2 and "Add this badge" not in labels
    tap(ui, "Replace")  # the last one: the second badge
    assert last(sent) == intents.ConfirmEnrolment(1)


def test_screen_dims_when_idle_and_the_waking_touch_does_nothing(
    ui: StationUi, sent: list[object], clock: FakeClock
) -> None:
    show(ui, canned_views()["session-empty"])
    assert not ui.dimmed
    clock.now += 10
    ui.refresh()
    assert ui.dimmed
    tap(ui, "Done")
    assert not ui.dimmed
    assert sent == []
    tap(ui, "Done")
    assert sent == [intents.Done()]


def test_a_new_screen_wakes_the_display(ui: StationUi, clock: FakeClock) -> None:
    show(ui, canned_views()["ready"])
    clock.now += 11
    ui.refresh()
    assert ui.dimmed
    show(ui, canned_views()["identifying"])
    assert not ui.dimmed


def test_keys_go_to_the_key_handler(clock: FakeClock) -> None:
    keys: list[str] = []
    display = Display(resolution="800x480", fullscreen=False)
    ui = StationUi(display=display, submit=lambda i: None, on_key=keys.append, clock=clock)
    ui.handle(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_1, unicode="1", mod=0, scancode=30))
    assert keys == ["1"]
    display.close()


def test_views_from_another_thread_wake_the_loop_and_nothing_spins() -> None:
    display = Display(resolution="800x480", fullscreen=False)
    frames: list[View] = []
    drawn = threading.Event()

    def on_frame(view: View) -> None:
        frames.append(view)
        drawn.set()

    ui = StationUi(display=display, submit=lambda i: None, on_frame=on_frame)
    ready = canned_views()["ready"]

    def core() -> None:
        ui.post_view(ready)
        drawn.wait(30)
        ui.quit()

    thread = threading.Thread(target=core)
    thread.start()
    ui.run()
    thread.join(5)
    assert frames == [ready]  # one view, one frame: the loop waited instead of redrawing
    display.close()


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotation_maps_touches_back_to_what_was_drawn(rotation: int) -> None:
    logical = pygame.Surface((80, 48))
    logical.fill((0, 0, 0))
    point = (13, 7)
    logical.set_at(point, (255, 255, 255))
    panel = pygame.transform.rotate(logical, -rotation)
    width, height = panel.get_size()
    found = next((x, y) for x in range(width) for y in range(height) if panel.get_at((x, y))[0] == 255)
    assert to_logical(found, panel.get_size(), rotation) == point


def test_a_rotated_display_is_laid_out_for_its_logical_size() -> None:
    display = Display(resolution="480x800", rotation=90, fullscreen=False)
    assert display.size == (800, 480)
    display.close()


def test_the_demo_hint_sits_below_every_button(clock: FakeClock, sent: list[object]) -> None:
    from ui.kiosk import DEMO_HINT

    display = Display(resolution="800x480", fullscreen=False)
    try:
        ui = StationUi(display=display, submit=sent.append, clock=clock, hint=DEMO_HINT)
        show(ui, canned_views()["session"])
        strip_top = 480  # the hint strip: the panel colour up from the bottom edge
        while display.logical.get_at((1, strip_top - 1))[:3] == theme.PANEL:
            strip_top -= 1
        assert 440 < strip_top < 480
        assert ui.targets and all(t.rect.bottom <= strip_top for t in ui.targets)
        tap(ui, "Print all")
        assert last(sent) == intents.ReleaseAll()
    finally:
        display.close()
