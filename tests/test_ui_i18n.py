"""The German catalogue is complete and its compiled ``.mo`` is current; every string is translatable."""

from __future__ import annotations

import gettext
from pathlib import Path
from typing import cast

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from ui.i18n import DOMAIN, LOCALE_DIR, translator

PO = LOCALE_DIR / "de" / "LC_MESSAGES" / f"{DOMAIN}.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def _source_messages() -> set[object]:
    ui_dir = Path(LOCALE_DIR).parent
    return {message for _, _, message, _, _ in extract_from_dir(str(ui_dir), keywords=KEYWORDS)}


def test_po_translates_every_message_in_the_source() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f)
    translated = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id and m.string}
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    missing = _source_messages() - translated
    assert missing == set()
    assert fuzzy == []
    for message in catalog:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), message.id


def test_mo_is_compiled_from_the_current_po() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f)
    with MO.open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            singular, plural = message.id
            one, many = cast("tuple[str, str]", tuple(message.string or ("", "")))
            assert compiled.ngettext(singular, plural, 1) == one
            assert compiled.ngettext(singular, plural, 5) == many
        else:
            assert compiled.gettext(str(message.id)) == message.string, message.id


def test_translator_switches_and_falls_back() -> None:
    assert translator("de")._("Tap your badge") == "Ausweis auflegen"
    assert translator("en")._("Tap your badge") == "Tap your badge"
    assert translator("xx")._("Tap your badge") == "Tap your badge"
    assert translator("de").ngettext("{n} page", "{n} pages", 3).format(n=3) == "3 Seiten"
