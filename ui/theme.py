"""Colours and text styles of the touchscreen, and the contrast check that keeps them readable.

Every piece of text is drawn as a :class:`Style`: a foreground on a known background, so the
contrast of each pair can be checked (WCAG 2.x relative luminance; body text needs 4.5:1).
Meaning never rests on colour alone: states carry an icon shape and a word as well.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

RGB = tuple[int, int, int]

BACKGROUND: RGB = (15, 23, 42)
PANEL: RGB = (30, 41, 59)
PANEL_PRESSED: RGB = (51, 65, 85)
TEXT: RGB = (248, 250, 252)
MUTED: RGB = (203, 213, 225)
PRIMARY: RGB = (29, 78, 216)
PRIMARY_PRESSED: RGB = (30, 64, 175)
DANGER: RGB = (185, 28, 28)
DANGER_PRESSED: RGB = (153, 27, 27)
GOOD: RGB = (74, 222, 128)
BAD: RGB = (252, 165, 165)
WARN: RGB = (253, 224, 71)
SELECTED: RGB = (23, 37, 84)
QR_DARK: RGB = (0, 0, 0)
QR_LIGHT: RGB = (255, 255, 255)
DIM_ALPHA = 210


class Role(enum.Enum):
    """What a piece of text is; each role has a nominal size and a floor it may shrink to."""

    DISPLAY = "display"  # the pairing code: readable from a metre away
    TITLE = "title"
    BODY = "body"
    SMALL = "small"


@dataclass(frozen=True)
class Style:
    """A text role in a foreground colour on a background colour; ``mono`` for codes to type."""

    role: Role
    fg: RGB
    bg: RGB
    bold: bool = False
    mono: bool = False


def relative_luminance(colour: RGB) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg: RGB, bg: RGB) -> float:
    """WCAG contrast ratio between two colours, from 1.0 to 21.0."""
    light, dark = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


MIN_CONTRAST = 4.5

TITLE = Style(Role.TITLE, TEXT, BACKGROUND, bold=True)
BODY = Style(Role.BODY, TEXT, BACKGROUND)
HINT = Style(Role.BODY, MUTED, BACKGROUND)
SMALL = Style(Role.SMALL, MUTED, BACKGROUND)
CODE = Style(Role.DISPLAY, TEXT, BACKGROUND, bold=True, mono=True)
PANEL_TITLE = Style(Role.BODY, TEXT, PANEL, bold=True)
PANEL_BODY = Style(Role.BODY, TEXT, PANEL)
PANEL_SMALL = Style(Role.SMALL, MUTED, PANEL)
SELECTED_BODY = Style(Role.BODY, TEXT, SELECTED, bold=True)
SELECTED_SMALL = Style(Role.SMALL, MUTED, SELECTED)
GOOD_SMALL = Style(Role.SMALL, GOOD, BACKGROUND, bold=True)
BAD_SMALL = Style(Role.SMALL, BAD, BACKGROUND, bold=True)
WARN_SMALL = Style(Role.SMALL, WARN, BACKGROUND, bold=True)
GOOD_BODY = Style(Role.BODY, GOOD, BACKGROUND, bold=True)
BAD_BODY = Style(Role.BODY, BAD, BACKGROUND, bold=True)
WARN_BODY = Style(Role.BODY, WARN, BACKGROUND, bold=True)
BUTTON = Style(Role.BODY, TEXT, PANEL, bold=True)
BUTTON_PRESSED = Style(Role.BODY, TEXT, PANEL_PRESSED, bold=True)
PRIMARY_BUTTON = Style(Role.BODY, TEXT, PRIMARY, bold=True)
PRIMARY_BUTTON_PRESSED = Style(Role.BODY, TEXT, PRIMARY_PRESSED, bold=True)
DANGER_BUTTON = Style(Role.BODY, TEXT, DANGER, bold=True)
DANGER_BUTTON_PRESSED = Style(Role.BODY, TEXT, DANGER_PRESSED, bold=True)

ALL_STYLES: tuple[Style, ...] = tuple(v for v in dict(globals()).values() if isinstance(v, Style))
