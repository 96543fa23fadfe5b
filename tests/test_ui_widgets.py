"""Text fitting, layout splitting and QR codes, measured with the station's own font."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import itertools
import shutil
import subprocess
from pathlib import Path

import pygame
import pytest
import segno

from station.core.enrolment import Enrolling
from station.core.pairing import Pairing
from ui import theme
from ui.canned import MONO, PAIRING_URL, WALL, canned_views
from ui.fonts import Fonts
from ui.frame import draw_frame
from ui.metrics import Metrics, columns, rows
from ui.qr import QUIET_ZONE, qr_surface
from ui.screens import Now, screen_for
from ui.text import fit, url_pieces, wrap


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    return Fonts()


def test_wrap_breaks_at_spaces_and_keeps_newlines(fonts: Fonts) -> None:
    font = fonts.get(20)
    lines = wrap(font, "one two three four\nfive", font.size("one two three")[0])
    assert lines == ["one two three", "four", "five"]
    assert wrap(font, "unbreakable", 10) is None
    assert "".join(wrap(font, "https://example.com/x", 60, break_words=True) or []) == "https://example.com/x"


def test_an_address_breaks_only_after_its_separators(fonts: Fonts) -> None:
    font = fonts.get(20)
    url = "https://account.ezeep.com/oauth/device/?code=AB&next=%2Fpairing%2F"
    assert url_pieces(url) == [
        "https://",
        "account.ezeep.com/",
        "oauth/",
        "device/?",
        "code=AB&",
        "next=%2F",
        "pairing%2F",
    ]
    lines = wrap(font, url, font.size("https://account.ezeep.com/oauth/devi")[0], url=True)
    assert lines is not None and "".join(lines) == url
    assert lines[0] == "https://account.ezeep.com/oauth/"  # not ".../devi" and "ce/"
    assert wrap(font, "https://" + "a" * 80, 200, url=True) is None  # no break to take: shrink instead


def test_fit_shrinks_then_reports_overflow(fonts: Fonts) -> None:
    box = pygame.Rect(0, 0, 200, 60)
    big = fit(fonts, "Tap your badge", box, size=60, floor=20)
    assert big.fits and big.size < 60 and big.width <= 200 and big.height <= 60
    too_long = fit(fonts, "word " * 40, box, size=30, floor=20)
    assert not too_long.fits and too_long.size == 20
    name = "A very long job name that goes on and on.pdf"
    cut = fit(fonts, name, box, size=24, floor=20, max_lines=1, ellipsis=True)
    assert cut.fits and cut.ellipsized and cut.lines[0].endswith("…")


def _ink(font: pygame.font.Font, char: str, width: int) -> pygame.mask.Mask:
    """The pixels ``char`` inks, centred in a box ``width`` wide."""
    image = font.render(char, False, (255, 255, 255))
    mask = pygame.mask.Mask((width, image.get_height()))
    mask.draw(pygame.mask.from_surface(image), ((width - image.get_width()) // 2, 0))
    return mask


def test_codes_to_type_tell_look_alike_characters_apart(fonts: Fonts) -> None:
    font = fonts.get(64, theme.CODE.bold, mono=theme.CODE.mono)
    width = max(font.size(char)[0] for char in "Il1O0")
    ink = {char: _ink(font, char, width) for char in "Il1O0"}
    for a, b in itertools.combinations("Il1", 2):
        shared = ink[a].overlap_area(ink[b], (0, 0))
        assert 1 - shared / max(ink[a].count(), ink[b].count()) > 0.15, (a, b)  # not the same stroke
    # The zero is marked inside (DejaVu Sans Mono: a dot); the letter O is hollow.
    for char, marked in (("0", True), ("O", False)):
        first, *rest = ink[char].get_bounding_rects()  # the ring, and a dot if any
        box = first.unionall(rest)
        assert bool(ink[char].get_at(box.center)) is marked, char
    for name in ("pairing", "enrol"):
        view = canned_views()[name]
        assert isinstance(view.mode, Pairing | Enrolling)
        drawn = draw_frame(screen_for(view), pygame.Surface((800, 480)), fonts, Now(MONO, WALL)).draws
        (code,) = [d for d in drawn if d.text == view.mode.code]
        assert code.fitted.mono and code.fitted.fits, name


def test_split_gives_fixed_parts_their_pixels_and_shares_the_rest() -> None:
    top, middle, bottom = rows(pygame.Rect(0, 0, 100, 200), [40, 1.0, 20], 10)
    assert (top.height, middle.height, bottom.height) == (40, 120, 20)
    assert bottom.bottom == 200
    left, right = columns(pygame.Rect(0, 0, 100, 10), [0.25, 0.75], 0)
    assert (left.width, right.width) == (25, 75)


@pytest.mark.parametrize("size", [(800, 480), (1024, 600), (1280, 720), (720, 720), (480, 800)])
def test_metrics_scale_uniformly_with_readable_minimums(size: tuple[int, int]) -> None:
    from ui.theme import Role

    m = Metrics(*size)
    assert m.touch >= 48
    assert m.font_size(Role.BODY) >= 20
    assert m.px(100) == round(100 * m.scale)


def test_qr_surface_has_whole_pixel_modules_and_a_quiet_zone() -> None:
    image = qr_surface(PAIRING_URL, 200)
    assert image.get_width() == image.get_height() <= 200
    modules = segno.make(PAIRING_URL, error="m", micro=False).symbol_size(border=QUIET_ZONE)[0]
    assert image.get_width() % modules == 0  # every module the same whole number of pixels
    assert image.get_at((0, 0))[:3] == (255, 255, 255)


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="needs zbar-tools")
@pytest.mark.parametrize("name", ["pairing", "enrol"])
@pytest.mark.parametrize("size", [(800, 480), (720, 720)])
def test_qr_code_on_screen_decodes_to_the_url(
    name: str, size: tuple[int, int], fonts: Fonts, tmp_path: Path
) -> None:
    surface = pygame.Surface(size)
    view = canned_views()[name]
    assert isinstance(view.mode, Pairing | Enrolling)
    draw_frame(screen_for(view), surface, fonts, Now(MONO, WALL))
    path = tmp_path / "shot.png"
    pygame.image.save(surface, str(path))
    out = subprocess.run(["zbarimg", "--raw", "-q", str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == view.mode.auth_url
