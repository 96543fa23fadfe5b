"""Keyboard-wedge reads: key events to typed text, and typed text to UID bytes. No I/O here.

A keyboard-wedge reader is a USB keyboard that types a card's number and presses Enter. The
number is rebuilt from key *codes* (the key's position), never from characters, so it does not
matter which keyboard layout the station or the reader is set to:

- digits come from the number row or the keypad, with or without Shift (a reader set to a
  French layout holds Shift for digits);
- letters come from their US positions; in hex, the key at the US ``Q`` position reads as ``A``,
  because that is where a reader set to AZERTY types an ``A`` (``Q`` is not a hex digit);
- a read ends on Enter, keypad Enter or Tab, or when no key came for the inter-key timeout.

:func:`text_to_uid` turns the typed text into UID bytes so that the canonical id means
something: hex text is the bytes themselves; decimal text becomes a big-endian number of a fixed
width for its digit count (up to 10 digits: 4 bytes, up to 17: 7 bytes, else as many bytes as
the largest number of that many digits needs).
"""

from __future__ import annotations

import re
from typing import Literal, Protocol

from evdev import ecodes

WedgeFormat = Literal["decimal", "hex"]

_DIGIT_KEYS = {getattr(ecodes, f"KEY_{d}"): str(d) for d in range(10)} | {
    getattr(ecodes, f"KEY_KP{d}"): str(d) for d in range(10)
}
_LETTER_KEYS = {getattr(ecodes, f"KEY_{c}"): c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_OTHER_KEYS = {
    ecodes.KEY_SPACE: " ",
    ecodes.KEY_MINUS: "-",
    ecodes.KEY_KPMINUS: "-",
    ecodes.KEY_DOT: ".",
    ecodes.KEY_KPDOT: ".",
    ecodes.KEY_SEMICOLON: ":",  # readers type ":" as Shift+; on US positions
}
_END_KEYS = frozenset({ecodes.KEY_ENTER, ecodes.KEY_KPENTER, ecodes.KEY_TAB})
_SHIFT_KEYS = frozenset({ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT})
_KEY_DOWN, _KEY_UP = 1, 0
_MAX_TEXT = 64  # no card number is longer; a stuck key must not grow the buffer for ever
_SEPARATORS = re.compile(r"[\s:.\-]")


class KeyEvent(Protocol):
    """What the decoder needs of an ``evdev.InputEvent``."""

    @property
    def type(self) -> int: ...
    @property
    def code(self) -> int: ...
    @property
    def value(self) -> int: ...
    def timestamp(self) -> float: ...


class WedgeDecoder:
    """Collects key events into reads.

    :param fmt: what the reader types, ``"decimal"`` or ``"hex"`` (only changes how the
        ``Q`` position reads: ``A`` in hex, see the module docstring).
    :param key_timeout_s: a gap longer than this between two keys ends the read before it.

    :meth:`feed` takes events in order and returns the reads they complete; the reader calls
    :meth:`flush` when no key came for ``key_timeout_s``.
    """

    def __init__(self, *, fmt: WedgeFormat, key_timeout_s: float) -> None:
        self._fmt = fmt
        self._key_timeout_s = key_timeout_s
        self._text: list[str] = []
        self._shift = False
        self._last_key_at = 0.0
        self.overflows = 0

    @property
    def pending(self) -> bool:
        """True while a read has started and not ended."""
        return bool(self._text)

    def feed(self, event: KeyEvent) -> list[str]:
        """Take one event; return the reads it completed (usually none, at most two)."""
        if event.type != ecodes.EV_KEY:
            return []
        if event.code in _SHIFT_KEYS:
            self._shift = event.value != _KEY_UP
            return []
        if event.value != _KEY_DOWN:  # key up, and auto-repeat of a held key
            return []
        done: list[str] = []
        at = event.timestamp()
        if self._text and at - self._last_key_at > self._key_timeout_s:
            done += self._take()
        self._last_key_at = at
        if event.code in _END_KEYS:
            return done + self._take()
        char = self._char(event.code)
        if char:
            if len(self._text) >= _MAX_TEXT:
                self.overflows += 1
                self._text.clear()
            self._text.append(char)
        return done

    def flush(self) -> list[str]:
        """End the read in progress (the inter-key timeout passed); return it if there was one."""
        return self._take()

    def _char(self, code: int) -> str:
        if code in _DIGIT_KEYS:
            return _DIGIT_KEYS[code]  # Shift or not: layouts differ on that, positions do not
        if code in _LETTER_KEYS:
            letter = _LETTER_KEYS[code]
            if self._fmt == "hex" and letter == "Q":
                return "A"
            return letter if self._shift or self._fmt == "hex" else letter.lower()
        return _OTHER_KEYS.get(code, "")

    def _take(self) -> list[str]:
        text = "".join(self._text)
        self._text.clear()
        return [text] if text else []


def text_to_uid(text: str, fmt: WedgeFormat) -> bytes:
    """The UID bytes for what a wedge reader typed.

    :raises ValueError: the text is not a number in ``fmt`` (the message does not repeat it).
    """
    digits = _SEPARATORS.sub("", text)
    if fmt == "hex":
        if not re.fullmatch(r"[0-9A-Fa-f]+", digits):
            raise ValueError(f"a hex reader typed {len(text)} characters that are not hex")
        return bytes.fromhex(digits.zfill(len(digits) + len(digits) % 2))
    if not re.fullmatch(r"[0-9]+", digits):
        raise ValueError(f"a decimal reader typed {len(text)} characters that are not digits")
    number = int(digits)
    if len(digits) <= 10:
        n_bytes = 4
    elif len(digits) <= 17:
        n_bytes = 7
    else:
        n_bytes = ((10 ** len(digits) - 1).bit_length() + 7) // 8
    return number.to_bytes(max(n_bytes, (number.bit_length() + 7) // 8), "big")
