"""Every screen, drawn from canned views in every supported size and language, reads well.

Nothing is clipped (text is measured against its box with the station's own font), body text
is at least 20 px, every colour pair has 4.5:1 contrast, touch targets are at least 48 px,
lie on the screen and do not overlap.
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import dataclasses
import itertools
import re
import typing
from typing import Any

import pygame
import pytest

from station.causes import Cause, Reason
from station.core import view as v
from station.core.enrolment import Enrolling, Unknown
from station.core.health import Idle, IdleFace
from station.core.pairing import Pairing
from station.core.session import Done, Picking
from station.core.state import Mode
from station.core.technician import Technician
from ui import canned, theme
from ui.canned import MONO, WALL, canned_views
from ui.fonts import Fonts
from ui.frame import draw_frame
from ui.i18n import LANGUAGES, translator
from ui.metrics import MIN_BODY, MIN_TOUCH
from ui.painter import Painter
from ui.screens import SCREENS, Now, screen_for
from ui.screens.causes import cause_text
from ui.screenshots import RESOLUTIONS

NOW = Now(MONO, WALL)


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    return Fonts()


def test_the_station_font_is_dejavu(fonts: Fonts) -> None:
    assert fonts.name == "DejaVu Sans"


DRAWN = (set(typing.get_args(Mode)) - {Idle}) | set(typing.get_args(IdleFace))
"""Every class a view's mode may have: the modes (idle shows one of its faces) and the faces."""


def test_every_mode_class_has_a_screen_and_a_canned_view() -> None:
    assert set(SCREENS) == DRAWN
    assert {type(view.mode) for view in canned_views().values()} == DRAWN


def test_no_canned_view_shows_a_badge_id_an_email_or_a_user_id_in_its_repr() -> None:
    secrets = (canned.BADGE, "0012345678", "0099887766", "04A1B2C3", "@example.com", "user-anna", "u1", "u2")
    for name, view in canned_views().items():
        text = repr(view)
        assert not [secret for secret in secrets if secret in text], (name, text)


def _with(view: v.View, **changes: Any) -> v.View:
    """``view`` with fields of its mode changed."""
    return v.View(view.info, dataclasses.replace(view.mode, **changes))


def _draw(view: v.View, size: tuple[int, int], fonts: Fonts) -> Painter:
    return draw_frame(screen_for(view), pygame.Surface(size), fonts, NOW)


CASES = [
    pytest.param(language, size, id=f"{language}-{size[0]}x{size[1]}")
    for language, size in itertools.product(LANGUAGES, RESOLUTIONS)
]


@pytest.mark.parametrize(("language", "size"), CASES)
def test_screens_read_well(language: str, size: tuple[int, int], fonts: Fonts) -> None:
    problems: list[str] = []
    for name, view in canned_views(language).items():
        painter = _draw(view, size, fonts)
        screen = pygame.Rect(0, 0, *size)
        for draw in painter.draws:
            where = f"{name}: {draw.text!r}"
            if not draw.fitted.fits:
                problems.append(f"{where} does not fit {draw.box} at {draw.fitted.size} px")
            if draw.fitted.size < MIN_BODY:
                problems.append(f"{where} is {draw.fitted.size} px")
            if not screen.contains(draw.used) and draw.text:
                problems.append(f"{where} leaves the screen at {draw.used}")
            if theme.contrast_ratio(draw.style.fg, draw.style.bg) < theme.MIN_CONTRAST:
                problems.append(f"{where} has too little contrast")
        for target in painter.targets:
            if target.rect.width < MIN_TOUCH or target.rect.height < MIN_TOUCH:
                problems.append(f"{name}: target {target.label!r} is {target.rect.size}")
            if not screen.contains(target.rect):
                problems.append(f"{name}: target {target.label!r} leaves the screen")
        for a, b in itertools.combinations(painter.targets, 2):
            if a.rect.colliderect(b.rect):
                problems.append(f"{name}: targets {a.label!r} and {b.label!r} overlap")
    assert problems == []


FINAL_PHASES: tuple[v.JobPhase, ...] = ("printed", "failed", "timed_out", "held", "unconfirmed")


def _summary(language: str, *jobs: tuple[v.JobPhase, Cause]) -> v.View:
    done = canned_views(language)["done"]
    assert isinstance(done.mode, Done)
    items = tuple(
        v.JobProgressItem(f"j{n}", f"Doc {n}.pdf", phase, cause) for n, (phase, cause) in enumerate(jobs)
    )
    return _with(done, outcome="partly", jobs=items)


def _delete_failed(language: str, cause: Cause) -> v.View:
    session = canned_views(language)["session-delete-failed"]
    assert isinstance(session.mode, Picking)
    return _with(session, cause=cause)


def test_a_job_in_doubt_says_so_and_cannot_be_picked(fonts: Fonts) -> None:
    view = canned_views()["session-in-doubt"]
    drawn = _draw(view, (800, 480), fonts)
    assert "not confirmed; may still print" in {d.text for d in drawn.draws}
    assert isinstance(view.mode, Picking)
    names = {job.id: job.name for job in view.mode.jobs}
    touchable = {target.label for target in drawn.targets}
    assert names["job-0"] in touchable and names["job-2"] in touchable
    assert names["job-1"] not in touchable


@pytest.mark.parametrize(("language", "size"), CASES)
def test_every_cause_fits_a_job_row_and_the_delete_note(
    language: str, size: tuple[int, int], fonts: Fonts
) -> None:
    problems: list[str] = []
    for reason in Reason:  # with long facts: a long printer name and status, a 4-digit code
        cause = Cause(reason, "Marketing MFP — Canon imageRUNNER C3826i", "Inproperly Configured", 3011, 300)
        views: list[v.View] = [_summary(language, (phase, cause)) for phase in FINAL_PHASES]
        for view in [*views, _delete_failed(language, cause)]:
            for draw in _draw(view, size, fonts).draws:
                if not draw.fitted.fits or draw.fitted.size < MIN_BODY:
                    problems.append(f"{draw.text!r} does not fit {draw.box} at {draw.fitted.size} px")
    assert problems == []


def test_every_cause_is_worded_in_german() -> None:
    english, german = translator("en"), translator("de")
    for reason in Reason:
        assert cause_text(Cause(reason), german) != cause_text(Cause(reason), english), reason


WORDED = {
    "en": (
        "Not printed (printer error 3011)",
        "Kept in your queue (printer: Offline)",
        "No answer from the printer yet (after 300 s; it may still print)",
        "Outcome not known (ezeep could not be reached)",
        "✗ Some jobs could not be deleted (being sent right now).",
    ),
    "de": (
        "Nicht gedruckt (Druckerfehler 3011)",
        "Bleibt in Ihrer Warteschlange (Drucker: Offline)",
        "Noch keine Antwort vom Drucker (nach 300 s; druckt evtl. noch)",
        "Ergebnis unbekannt (ezeep nicht erreichbar)",
        "✗ Einige Aufträge konnten nicht gelöscht werden (wird gerade gesendet).",
    ),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_job_causes_are_worded_in_the_screen_language(language: str, fonts: Fonts) -> None:
    summary = _summary(
        language,
        ("failed", Cause(Reason.PRINTER_ERROR, code=3011)),
        ("held", Cause(Reason.PRINTER_OFFLINE, "Floor 2", "Offline")),
        ("timed_out", Cause(Reason.TIMED_OUT, timeout_s=300.0)),
        ("unconfirmed", Cause(Reason.OFFLINE, text="ezeep cannot be reached (POST /sfapi/Print/)")),
    )
    session = _delete_failed(language, Cause(Reason.BEING_RELEASED))
    texts = {d.text for view in (summary, session) for d in _draw(view, (1280, 720), fonts).draws}
    assert set(WORDED[language]) <= texts
    assert not any("POST" in text or "Floor 2" in text for text in texts)  # those words are for the logs


def _problem_views(language: str, cause: Cause) -> list[v.View]:
    """Every screen that says why the station's work failed, showing ``cause``."""
    views = canned_views(language)
    tech = views["tech-enrol-failed"]
    assert isinstance(tech.mode, Technician)
    return [
        _with(views["offline-no-answer"], cause=cause),
        _with(views["unpaired-offline"], cause=cause),
        _with(views["needs-repair"], cause=cause),
        _with(views["unknown-failed"], cause=cause),
        _with(tech, message="failed", enrol=dataclasses.replace(tech.mode.enrol, cause=cause)),
    ]


@pytest.mark.parametrize(("language", "size"), CASES)
def test_every_cause_fits_the_problem_screens(language: str, size: tuple[int, int], fonts: Fonts) -> None:
    problems: list[str] = []
    for reason in Reason:  # with the long words of a library's error behind it
        cause = Cause(
            reason, text="ezeep cannot be reached (POST /sfapi/Print/): [Errno 111] Connection refused"
        )
        for view in _problem_views(language, cause):
            for draw in _draw(view, size, fonts).draws:
                if not draw.fitted.fits or draw.fitted.size < MIN_BODY:
                    problems.append(f"{draw.text!r} does not fit {draw.box} at {draw.fitted.size} px")
    assert problems == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_station_problems_are_worded_in_the_screen_language(language: str, fonts: Fonts) -> None:
    tr, views = translator(language), canned_views(language)

    def texts(name: str) -> set[str]:
        return {d.text for d in _draw(views[name], (1280, 720), fonts).draws}

    expected = {
        "en": ("ezeep did not answer in time", "cancelled", "Technical detail: card number 'x'"),
        "de": (
            "ezeep antwortete zu spät",
            "abgebrochen",
            "Technische Angabe: card number 'x'",
        ),
    }[language]
    assert expected[0] in texts("offline-no-answer")
    assert expected[1] in texts("unknown-failed")
    assert cause_text(Cause(Reason.OFFLINE), tr) in texts("unpaired-offline")
    assert "connection refused" not in " ".join(texts("unpaired-offline"))  # a library's words: logs only
    enrol = texts("tech-enrol-failed")
    assert any(t.endswith(f"({cause_text(Cause(Reason.BAD_CARD), tr)})") for t in enrol)
    assert any(t.startswith(expected[2]) for t in enrol)  # technical, and labelled so


@pytest.mark.parametrize("language", LANGUAGES)
def test_enrolment_confirmation_says_who_and_never_shows_a_full_address(language: str, fonts: Fonts) -> None:
    tr, views = translator(language), canned_views(language)

    def texts(name: str) -> str:
        return " ".join(d.text for d in _draw(views[name], (800, 480), fonts).draws)

    assert tr._("Signed in as {name}.").format(name="Anna Schmidt") in texts("enrol-confirm")
    assert tr._("Is that you? Tap the same badge again to link it.") in texts("enrol-confirm")
    assert "a•••@example.com" in texts("enrol-confirm-masked")
    for name, view in views.items():
        if isinstance(view.mode, Enrolling | Unknown):
            assert not re.search(r"[\w.]{2,}@", texts(name)), name  # nothing like anna.schmidt@
    full = texts("tech-enrol-confirm-full")
    assert "…B2C3" in full and "…5678" in full and "04A1B2C3" not in full and "0012345678" not in full


ADDRESSES = {
    "demo short": "http://127.0.0.1:40123/device",
    "demo whole": "http://127.0.0.1:40123/auth/signin/?next=%2Foauth%2Fauthorize%2Fpairing%2F"
    "%3Fpairing_code%3DCLI04V3Fwm%26device%3Dgeneric",
    "hostile": "https://" + "x" * 90 + ".example/?a=" + "b" * 300 + "&c=%2F" * 30,
}
SEPARATORS = ("/", "?", "&", "%2F", "%3F", "%26")


@pytest.mark.parametrize("address", ADDRESSES.values(), ids=ADDRESSES.keys())
@pytest.mark.parametrize("size", RESOLUTIONS, ids=[f"{w}x{h}" for w, h in RESOLUTIONS])
def test_sign_in_addresses_break_only_between_words(
    address: str, size: tuple[int, int], fonts: Fonts
) -> None:
    pairing, enrol = canned_views()["pairing"], canned_views()["enrol"]
    assert isinstance(pairing.mode, Pairing) and isinstance(enrol.mode, Enrolling)
    for view in (_with(pairing, short_url=address), _with(enrol, short_url=address)):
        draw = next(d for d in _draw(view, size, fonts).draws if d.text == address)
        fitted = draw.fitted
        assert fitted.fits and draw.used.width <= draw.box.width, (type(view.mode).__name__, fitted)
        font = fonts.get(fitted.size, fitted.bold)
        shown = "".join(fitted.lines).removesuffix("…")
        assert address.startswith(shown)
        for line in fitted.lines[:-1]:
            if line.endswith(SEPARATORS):
                continue
            # Inside a word only where that word alone is wider than the box (the hostile one).
            word = max(re.split(r"/|\?|&|%2F|%3F|%26", address), key=len)
            assert line.strip("/?&") in word or font.size(word)[0] > draw.box.width, line
        if address != ADDRESSES["hostile"]:  # at most cut at the end, the QR code carries it whole
            assert all(line.endswith(SEPARATORS) for line in fitted.lines[:-1])
        if address == ADDRESSES["demo short"]:
            assert fitted.lines == (address,)


def test_german_screens_are_in_german(fonts: Fonts) -> None:
    texts = {d.text for d in _draw(canned_views("de")["ready"], (800, 480), fonts).draws}
    assert "Ausweis auflegen" in texts
    assert "Tap your badge" not in texts


def test_every_style_has_enough_contrast() -> None:
    for style in theme.ALL_STYLES:
        assert theme.contrast_ratio(style.fg, style.bg) >= theme.MIN_CONTRAST, style


def test_contrast_ratio_matches_wcag() -> None:
    assert theme.contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert theme.contrast_ratio((255, 255, 255), (255, 255, 255)) == pytest.approx(1.0)
    assert theme.contrast_ratio((118, 118, 118), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)


def test_status_is_not_told_by_colour_alone(fonts: Fonts) -> None:
    view = canned_views()["reader-missing"]
    texts = [d.text for d in _draw(view, (800, 480), fonts).draws]
    assert "✗" in texts  # the reader indicator shows a cross, the others a tick
    assert "✓" in texts


def test_personal_data_leaves_with_the_session(fonts: Fonts) -> None:
    texts = " ".join(d.text for d in _draw(canned_views()["ready"], (800, 480), fonts).draws)
    assert "Anna" not in texts
