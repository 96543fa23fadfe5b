"""Text fitting, layout splitting and QR codes, measured with the station's own font."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import shutil
import subprocess
from pathlib import Path

import pygame
import pytest
import segno

from ui.canned import MONO, QR_URL, WALL, canned_views
from ui.fonts import Fonts
from ui.frame import draw_frame
from ui.metrics import Metrics, columns, rows
from ui.qr import QUIET_ZONE, qr_surface
from ui.screens import Now, screen_for
from ui.text import fit, wrap


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    return Fonts()


def test_wrap_breaks_at_spaces_and_keeps_newlines(fonts: Fonts) -> None:
    font = fonts.get(20)
    lines = wrap(font, "one two three four\nfive", font.size("one two three")[0])
    assert lines == ["one two three", "four", "five"]
    assert wrap(font, "unbreakable", 10) is None
    assert "".join(wrap(font, "https://example.com/x", 60, break_words=True) or []) == "https://example.com/x"


def test_fit_shrinks_then_reports_overflow(fonts: Fonts) -> None:
    box = pygame.Rect(0, 0, 200, 60)
    big = fit(fonts, "Tap your badge", box, size=60, floor=20)
    assert big.fits and big.size < 60 and big.width <= 200 and big.height <= 60
    too_long = fit(fonts, "word " * 40, box, size=30, floor=20)
    assert not too_long.fits and too_long.size == 20
    name = "A very long job name that goes on and on.pdf"
    cut = fit(fonts, name, box, size=24, floor=20, max_lines=1, ellipsis=True)
    assert cut.fits and cut.ellipsized and cut.lines[0].endswith("…")


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
    image = qr_surface(QR_URL, 200)
    assert image.get_width() == image.get_height() <= 200
    modules = segno.make(QR_URL, error="m", micro=False).symbol_size(border=QUIET_ZONE)[0]
    assert image.get_width() % modules == 0  # every module the same whole number of pixels
    assert image.get_at((0, 0))[:3] == (255, 255, 255)


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="needs zbar-tools")
@pytest.mark.parametrize("name", ["pairing", "enrol"])
@pytest.mark.parametrize("size", [(800, 480), (720, 720)])
def test_qr_code_on_screen_decodes_to_the_url(
    name: str, size: tuple[int, int], fonts: Fonts, tmp_path: Path
) -> None:
    surface = pygame.Surface(size)
    draw_frame(screen_for(canned_views()[name]), surface, fonts, Now(MONO, WALL))
    path = tmp_path / "shot.png"
    pygame.image.save(surface, str(path))
    out = subprocess.run(["zbarimg", "--raw", "-q", str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == QR_URL
