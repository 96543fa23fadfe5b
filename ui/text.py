"""Fitting text into a box: wrap at spaces, shrink down to the role's floor, never clip.

:func:`fit` measures with the font the station draws with. Text that cannot fit even at the
floor is reported (``fits`` is false) rather than cut, unless the caller asked for an
ellipsis, which only data (a job's name) gets: a label of ours must always fit.

A web address (``url=True``) breaks only after ``/``, ``?`` or ``&`` (also percent-encoded), the
separator kept at the end of the line, so no line ends in the middle of a word someone types;
where no such break fits, the text shrinks instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pygame

from ui.fonts import Fonts

ELLIPSIS = "…"
# A piece of an address: up to and including a run of separators (or the rest of it).
_URL_PIECE = re.compile(r"(?:[^/?&%]|%(?!2F|3F|26))*(?:(?:[/?&]|%2F|%3F|%26)+|$)", re.IGNORECASE)


def url_pieces(word: str) -> list[str]:
    """``word`` cut after each run of address separators; the pieces join back to ``word``.

    >>> url_pieces("https://example.com/device?code=AB&x=1")
    ['https://', 'example.com/', 'device?', 'code=AB&', 'x=1']
    """
    return [piece for piece in _URL_PIECE.findall(word) if piece]


@dataclass(frozen=True)
class Fitted:
    """Lines of text at one size, and whether they fit the box they were fitted to."""

    lines: tuple[str, ...]
    size: int
    bold: bool
    line_height: int
    width: int
    fits: bool
    ellipsized: bool = False
    mono: bool = False

    @property
    def height(self) -> int:
        return self.line_height * len(self.lines)


def wrap(
    font: pygame.font.Font, text: str, width: int, *, break_words: bool = False, url: bool = False
) -> list[str] | None:
    """Break ``text`` into lines no wider than ``width``; ``None`` if a word is too wide.

    Explicit newlines start new lines. With ``url`` a word that is too wide is split after
    address separators (see :func:`url_pieces`); with ``break_words`` a word (or piece) that is
    still too wide is split between characters instead.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if font.size(candidate)[0] <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for piece in url_pieces(word) if url else [word]:
                if font.size(line + piece)[0] <= width:
                    line += piece
                    continue
                if line:
                    lines.append(line)
                if font.size(piece)[0] <= width:
                    line = piece
                    continue
                if not break_words:
                    return None
                line = ""
                for char in piece:
                    if font.size(line + char)[0] > width and line:
                        lines.append(line)
                        line = ""
                    line += char
        lines.append(line)
    return lines


@dataclass(frozen=True)
class _Request:
    text: str
    box: pygame.Rect
    bold: bool
    max_lines: int
    break_words: bool
    url: bool
    mono: bool


def _measure(fonts: Fonts, ask: _Request, size: int) -> Fitted | None:
    font = fonts.get(size, ask.bold, mono=ask.mono)
    lines = wrap(font, ask.text, ask.box.width, break_words=ask.break_words, url=ask.url)
    if lines is None or len(lines) > ask.max_lines:
        return None
    line_height = font.get_linesize()
    if line_height * len(lines) > ask.box.height:
        return None
    width = max((font.size(line)[0] for line in lines), default=0)
    return Fitted(tuple(lines), size, ask.bold, line_height, width, fits=True, mono=ask.mono)


def fit(
    fonts: Fonts,
    text: str,
    box: pygame.Rect,
    *,
    size: int,
    floor: int,
    bold: bool = False,
    mono: bool = False,
    max_lines: int = 99,
    break_words: bool = False,
    url: bool = False,
    ellipsis: bool = False,
) -> Fitted:
    """The largest size from ``size`` down to ``floor`` at which ``text`` fits ``box``."""
    ask = _Request(text, box, bold, max_lines, break_words, url, mono)
    best = _measure(fonts, ask, size)
    if best is not None:
        return best
    low, high = floor, size - 1
    while low <= high:  # fitting is monotone in the size: binary search
        mid = (low + high) // 2
        found = _measure(fonts, ask, mid)
        if found is not None:
            best, low = found, mid + 1
        else:
            high = mid - 1
    if best is not None:
        return best
    return _overflow(fonts, ask, floor, ellipsis=ellipsis)


def _overflow(fonts: Fonts, ask: _Request, size: int, *, ellipsis: bool) -> Fitted:
    font = fonts.get(size, ask.bold, mono=ask.mono)
    line_height = font.get_linesize()
    lines = wrap(font, ask.text, ask.box.width, break_words=True, url=ask.url) or [""]
    if not ellipsis:
        width = max(font.size(line)[0] for line in lines)
        return Fitted(tuple(lines), size, ask.bold, line_height, width, fits=False, mono=ask.mono)
    room = max(1, min(ask.max_lines, ask.box.height // line_height))
    kept = lines[:room]
    if len(lines) > room or font.size(kept[-1])[0] > ask.box.width:
        last = kept[-1]
        while last and font.size(last.rstrip() + ELLIPSIS)[0] > ask.box.width:
            last = last[:-1]
        kept[-1] = last.rstrip() + ELLIPSIS
    width = max(font.size(line)[0] for line in kept)
    fits = line_height * len(kept) <= ask.box.height and width <= ask.box.width
    return Fitted(tuple(kept), size, ask.bold, line_height, width, fits=fits, ellipsized=True, mono=ask.mono)
