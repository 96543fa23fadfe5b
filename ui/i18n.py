"""Screen languages: gettext catalogues under ``ui/locale``, English built in, German shipped.

Every visible string of ours goes through a :class:`Translator`: ``_`` for a message,
``ngettext`` for counts, and :func:`N_` to mark a string whose translation happens later. The
catalogue source is ``ui/locale/de/LC_MESSAGES/release-station.po``; the compiled ``.mo`` beside
it is committed, and a test checks it is current and complete. To update them::

    pybabel extract -k N_ --no-location --sort-output --project release-station --version 0.1.0 \\
        --copyright-holder "release-station contributors" -o ui/locale/release-station.pot ui
    pybabel update -N -w 100 -i ui/locale/release-station.pot -d ui/locale -D release-station
    pybabel compile -d ui/locale -D release-station
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path

from station.config import Language

DOMAIN = "release-station"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES: dict[Language, str] = {"en": "English", "de": "Deutsch"}


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


class Translator:
    """Messages in one language; unknown languages and messages fall back to English."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "en"
        self._catalog = gettext.translation(
            DOMAIN, localedir=LOCALE_DIR, languages=[self.language], fallback=True
        )

    def _(self, message: str) -> str:
        return self._catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._catalog.ngettext(singular, plural, n)


@functools.cache
def translator(language: str) -> Translator:
    """The (shared, immutable) translator for ``language``."""
    return Translator(language)
