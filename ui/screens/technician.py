"""The technician menu: one screen, one drawing method per page of :class:`Technician`.

Typing (a PIN to set, an email to search) happens on this screen until OK is pressed; then
the typed text goes to the core as an intent and is forgotten here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pygame

from station.core import intents
from station.core.technician import Technician
from station.core.view import SignInCode, StationInfo, TechMessage, TechnicianPage
from station.feedback import Pattern
from ui import theme
from ui.i18n import LANGUAGES, N_, Translator
from ui.metrics import columns, rows
from ui.painter import Action, Icon, Painter, sends
from ui.screens.base import HEALTH_ICON, Now, Page, Screen, SignIn, clock_text, page, sign_in_beside_qr
from ui.screens.causes import cause_text, technical, technical_text
from ui.widgets import Entry, Keyboard, Kind, button, button_row, keypad

PAGE_TITLES: dict[TechnicianPage, str] = {
    "menu": N_("Technician menu"),
    "pairing": N_("Pairing"),
    "release_mode": N_("Release mode"),
    "language": N_("Language"),
    "session_timeout": N_("Session timeout"),
    "network": N_("Network"),
    "reader_test": N_("Reader test"),
    "feedback_test": N_("LED and buzzer"),
    "enrol": N_("Enrol a badge"),
    "pins": N_("PINs"),
    "directory": N_("Badge directory"),
    "about": N_("About"),
}
SOURCES: dict[str, str] = {
    "local": N_("this station only"),
    "ldap": N_("LDAP / Active Directory"),
    "graph": N_("Microsoft Entra ID"),
    "url": N_("a file at a web address"),
}
PATTERN_NAMES: dict[Pattern, str] = {
    Pattern.READY: N_("Ready"),
    Pattern.READ: N_("Badge read"),
    Pattern.RELEASED: N_("Released"),
    Pattern.NOTHING_TO_PRINT: N_("Nothing to print"),
    Pattern.UNKNOWN_CARD: N_("Unknown card"),
    Pattern.ERROR: N_("Error"),
    Pattern.NEEDS_PAIRING: N_("Needs pairing"),
    Pattern.TECHNICIAN: N_("Technician"),
}
MESSAGES: dict[TechMessage, tuple[str, theme.Style]] = {
    "": ("", theme.HINT),
    "saved": (N_("✓ Saved"), theme.GOOD_SMALL),
    "failed": (N_("✗ That did not work"), theme.BAD_SMALL),
    "pin_set": (N_("✓ PIN set"), theme.GOOD_SMALL),
    "pin_invalid": (N_("✗ A technician PIN has 6 to 12 digits"), theme.BAD_SMALL),
    "restarting": (N_("Restarting…"), theme.HINT),
    "offline": (N_("✗ ezeep cannot be reached"), theme.BAD_SMALL),
}
ENROLLED_BY: dict[str, str] = {
    "self": N_("by phone"),
    "technician": N_("by a technician"),
    "import": N_("imported"),
    "cli": N_("on the command line"),
}
TIMEOUT_CHOICES = (15, 30, 45, 60, 90, 120, 180, 300, 600, 900)
FACT_LABEL = theme.Style(theme.Role.SMALL, theme.MUTED, theme.BACKGROUND)


def facts(p: Painter, rect: pygame.Rect, items: list[tuple[str, str]]) -> None:
    """Label and value pairs, one per row; long values (ids, addresses) wrap between characters."""
    if not items:
        return
    m = p.metrics
    height = min(rect.height // len(items), m.px(64))
    for index, (label, value) in enumerate(items):
        row = pygame.Rect(rect.left, rect.top + index * height, rect.width, height)
        name, content = columns(row, [0.36, 0.64], m.gap)
        p.text(label, name, FACT_LABEL, align="left")
        p.text(value or "—", content, theme.BODY, align="left", break_words=True, max_lines=2)


class TechnicianScreen(Screen[Technician]):
    draws = Technician

    countdown: ClassVar[str | None] = None  # idle deadline minutes away: no ticking needed

    def __init__(self, mode: Technician, info: StationInfo) -> None:
        super().__init__(mode, info)
        self.entry = Entry(max_length=64)
        self.keyboard = Keyboard(self.entry)
        self.setting_pin = False
        self.confirm: str = ""
        self.typing = not mode.enrol.results

    def update(self, mode: Technician, info: StationInfo) -> None:
        if mode.page != self.mode.page:
            self.entry.clear()
            self.setting_pin, self.confirm, self.typing = False, "", True
        old = self.mode.enrol
        if mode.page == "enrol" and (mode.enrol.query, mode.enrol.results) != (old.query, old.results):
            self.typing = False  # a search came back: show what it found
        super().update(mode, info)

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode = self.mode
        note, style = MESSAGES[mode.message]
        aside = tr._(note) if note else ""
        if mode.page == "enrol" and mode.enrol.stage == "search" and self.typing:
            self._type_query(p, tr)
            return
        area = page(p, tr._(PAGE_TITLES[mode.page]), aside=aside, aside_style=style)
        self.PAGES[mode.page](self, p, tr, area)

    def _type_query(self, p: Painter, tr: Translator) -> None:
        """The whole screen for typing: the field and a way back on top, the keyboard below."""
        m, enrol = p.metrics, self.mode.enrol
        inner = m.rect.inflate(-2 * m.margin, -2 * m.margin)
        top, hint, keys = rows(inner, [m.touch, m.px(52), 1.0], m.gap)
        field, back = columns(top, [0.75, 0.25], m.gap)
        p.fill(theme.PANEL, field, radius=m.px(6))
        typed = self.entry.text
        shown, style = (
            (typed + "▏", theme.PANEL_BODY) if typed else (tr._("The user's email"), theme.PANEL_SMALL)
        )
        p.text(shown, field.inflate(-m.margin, 0), style, align="left")
        button(p, back, tr._("Back"), sends(intents.ShowPage("menu")))
        note = tr._("Badge read. Type the email (or part of it), then Search.")
        if enrol.existing_user:
            note = tr._("Now linked to {user}; choosing a user replaces it.").format(user=enrol.existing_user)
        p.text(note, hint, theme.SMALL, align="left")
        self.keyboard.draw(p, keys, self.info.language, done_label=tr._("Search"), on_done=self._search)

    def _back(
        self,
        p: Painter,
        tr: Translator,
        rect: pygame.Rect,
        extra: list[tuple[str, Action, Kind, bool]] | None = None,
    ) -> None:
        actions = [(tr._("Back"), sends(intents.ShowPage("menu")), Kind.NORMAL, True), *(extra or [])]
        button_row(p, rect, actions)

    def _menu(self, p: Painter, tr: Translator, area: Page) -> None:
        m = p.metrics
        pages = [page_name for page_name in PAGE_TITLES if page_name != "menu"]
        cols = 3
        lines = -(-len(pages) // cols)
        grid = rows(area.body, [1 / lines] * lines, m.gap)
        for index, name in enumerate(pages):
            cell = columns(grid[index // cols], [1 / cols] * cols, m.gap)[index % cols]
            button(p, cell, tr._(PAGE_TITLES[name]), sends(intents.ShowPage(name)))
        button_row(p, area.footer, [(tr._("Close"), intents.CloseTechnician, Kind.PRIMARY, True)])

    def _pairing(self, p: Painter, tr: Translator, area: Page) -> None:
        info = self.info
        facts(
            p,
            area.body,
            [
                (tr._("Paired"), tr._("yes") if info.paired else tr._("no")),
                (tr._("Printer"), info.printer_name or technical_text(info.printer_problem, tr)),
                (tr._("Location"), info.printer_location),
                (tr._("Organisation"), self.info.organisation),
                (tr._("Hardware id"), self.info.hardware_id),
            ],
        )
        self._confirmed(
            p,
            tr,
            area,
            name="repair",
            label=tr._("Pair again"),
            question=tr._("Really pair again?"),
            intent=intents.RePair,
        )

    def _confirmed(
        self,
        p: Painter,
        tr: Translator,
        area: Page,
        *,
        name: str,
        label: str,
        question: str,
        intent: Action,
    ) -> None:
        """A button that asks once more before it acts (pair again, restart)."""
        if self.confirm == name:
            p.fill(theme.BACKGROUND, area.body)
            p.text(question, area.body, theme.TITLE)

            def no() -> None:
                self.confirm = ""

            button_row(
                p,
                area.footer,
                [(tr._("Yes"), intent, Kind.DANGER, True), (tr._("No"), no, Kind.NORMAL, True)],
            )
            return

        def ask() -> None:
            self.confirm = name

        self._back(p, tr, area.footer, [(label, ask, Kind.DANGER, not self.mode.busy)])

    def _choices(
        self, p: Painter, rect: pygame.Rect, options: list[tuple[str, bool, Action]], *, data: bool = False
    ) -> None:
        """Option buttons; the current one is marked with a tick and drawn as primary."""
        m = p.metrics
        cols = 2 if len(options) <= 4 or not m.wide else 4
        lines = -(-len(options) // cols)
        height = min(max(m.touch, m.px(80)), (rect.height - m.gap * (lines - 1)) // lines)
        grid = rows(rect, [height] * lines, m.gap)
        for index, (label, current, action) in enumerate(options):
            cell = columns(grid[index // cols], [1 / cols] * cols, m.gap)[index % cols]
            text = f"{Icon.OK.value} {label}" if current else label
            kind = Kind.PRIMARY if current else Kind.NORMAL
            button(p, cell, text, action, kind=kind, enabled=not self.mode.busy, data=data)

    def _release_mode(self, p: Painter, tr: Translator, area: Page) -> None:
        mode = self.info.release_mode
        self._choices(
            p,
            area.body,
            [
                (tr._("A tap prints all jobs"), mode == "all", sends(intents.SetReleaseMode("all"))),
                (tr._("Pick jobs from a list"), mode == "pick", sends(intents.SetReleaseMode("pick"))),
            ],
        )
        self._back(p, tr, area.footer)

    def _language(self, p: Painter, tr: Translator, area: Page) -> None:
        current = self.info.language
        # Language names are shown in their own language, so anyone can find theirs.
        options: list[tuple[str, bool, Action]] = [
            (name, code == current, sends(intents.SetLanguage(code))) for code, name in LANGUAGES.items()
        ]
        self._choices(p, area.body, options)
        self._back(p, tr, area.footer)

    def _session_timeout(self, p: Painter, tr: Translator, area: Page) -> None:
        low, high = self.info.session_timeout_range
        current = self.info.session_timeout_s
        choices = sorted({c for c in TIMEOUT_CHOICES if low <= c <= high} | {current})
        head, grid = rows(area.body, [p.metrics.px(40), 1.0], p.metrics.gap)
        p.text(tr._("A session ends after this long without a touch."), head, theme.HINT, align="left")
        self._choices(
            p,
            grid,
            [
                (
                    tr._("{n} s").format(n=c) if c < 60 else clock_text(c),
                    c == current,
                    sends(intents.SetSessionTimeout(c)),
                )
                for c in choices
            ],
        )
        self._back(p, tr, area.footer)

    def _network(self, p: Painter, tr: Translator, area: Page) -> None:
        mode = self.mode
        icon, _ = HEALTH_ICON[self.info.cloud]
        cloud = {"ok": tr._("reachable"), "down": tr._("not reachable"), "unknown": tr._("not known yet")}[
            self.info.cloud
        ]
        facts(
            p,
            area.body,
            [
                (tr._("Host name"), mode.hostname),
                (tr._("Addresses"), ", ".join(mode.addresses)),
                (tr._("ezeep"), f"{icon.value} {cloud}"),
            ],
        )
        self._back(p, tr, area.footer)

    def _reader_test(self, p: Painter, tr: Translator, area: Page) -> None:
        mode, m = self.mode, p.metrics
        readers = "; ".join(f"{HEALTH_ICON[health][0].value} {name}" for name, health in self.info.readers)
        test = mode.reader_test
        items = [(tr._("Readers"), readers or tr._("none found"))]
        if test is None:
            head, body = rows(area.body, [m.px(48), 1.0], m.gap)
            p.text(tr._("Tap a badge on the reader."), head, theme.BODY, align="left")
            facts(p, body, items)
        else:
            items += [
                (tr._("Read by"), f"{test.reader_kind}: {test.reader_name}"),
                (tr._("Raw"), test.raw),
                (tr._("Canonical"), test.canonical),
                (tr._("Transformed"), test.transformed),
            ]
            if test.random_uid:
                items.append((tr._("Note"), tr._("⚠ Random number: this card cannot be enrolled")))
            if test.error:
                items.append((tr._("Problem"), test.error))
            facts(p, area.body, items)
        self._back(p, tr, area.footer)

    def _feedback_test(self, p: Painter, tr: Translator, area: Page) -> None:
        self._choices(
            p,
            area.body,
            [
                (tr._(PATTERN_NAMES[pattern]), False, sends(intents.TestFeedback(pattern)))
                for pattern in tuple(Pattern)
            ],
        )
        self._back(p, tr, area.footer)

    def _enrol(self, p: Painter, tr: Translator, area: Page) -> None:
        enrol, m = self.mode.enrol, p.metrics
        if enrol.stage == "confirm":
            self._enrol_confirm(p, tr, area)
            return
        if enrol.sign_in is not None:
            self._enrol_sign_in(p, tr, area, enrol.sign_in)
            return
        stage_text = {
            "tap": tr._("Tap the badge to enrol."),
            "search": tr._("Choose the user for this badge."),
            "searching": tr._("Searching…"),
            "sign_in": "",
            "checking": tr._("Reading the user's badges…"),
            "confirm": "",
            "saving": tr._("Saving…"),
            "saved": tr._("✓ The badge is linked; the old one no longer works.")
            if enrol.outcome == "replaced"
            else tr._("✓ The badge is linked."),
            "failed": tr._("✗ Enrolment failed."),
        }[enrol.stage]
        if enrol.cause is not None:
            stage_text += f" ({cause_text(enrol.cause, tr)})"
        head, body = rows(area.body, [m.px(56), 1.0], m.gap)
        p.text(stage_text, head, theme.BODY, align="left", max_lines=2)
        searching = enrol.stage == "search"
        if searching:
            if enrol.results:
                choices: list[tuple[str, bool, Action]] = [
                    (f"{choice.name}\n{choice.email}", False, sends(intents.ChooseUser(choice.id)))
                    for choice in enrol.results[:4]
                ]
                self._choices(p, body, choices, data=True)
            else:
                p.text(tr._("No user found."), body, theme.HINT)
        elif enrol.stage == "failed":
            p.text(technical(enrol.cause, tr), body, theme.HINT, align="left")

        def again() -> None:
            self.typing = True

        self._back(
            p, tr, area.footer, [(tr._("Search again"), again, Kind.NORMAL, True)] if searching else None
        )

    def _enrol_sign_in(self, p: Painter, tr: Translator, area: Page, sign_in: SignInCode) -> None:
        """ezeep lists its users only to an administrator: the technician signs in once."""
        steps = SignIn(
            tr._("1. Only an administrator may search ezeep's users. On a phone, open:"),
            sign_in.short_url,
            tr._("2. Sign in as an ezeep administrator and enter this code:"),
            sign_in.code,
        )
        sign_in_beside_qr(p, area.body, steps, sign_in.auth_url, code_share=0.3)
        self._back(p, tr, area.footer)

    def _enrol_confirm(self, p: Painter, tr: Translator, area: Page) -> None:
        """The chosen user has badges: show each (masked) with a Replace button; Add if allowed."""
        enrol, m = self.mode.enrol, p.metrics
        who = enrol.chosen.email if enrol.chosen is not None else ""
        can_add = len(enrol.user_badges) < enrol.max_badges
        head_text = tr._("{user} already has these badges. Replace one, or add this one:").format(user=who)
        if not can_add:
            full = tr._("{user} already has {n} badges, the most allowed. Choose one to replace:")
            head_text = full.format(user=who, n=enrol.max_badges)
        head, body = rows(area.body, [m.px(64), 1.0], m.gap)
        p.text(head_text, head, theme.BODY, align="left", max_lines=2)
        shown = enrol.user_badges[:3]
        height = min(max(m.touch, m.px(96)), (body.height - m.gap * (len(shown) - 1)) // max(len(shown), 1))
        lines = rows(body, [height] * len(shown), m.gap) if shown else []
        for index, (badge, line) in enumerate(zip(shown, lines, strict=True)):
            label, action = columns(line, [0.66, 0.34], m.gap)
            when = badge.enrolled_at.strftime("%Y-%m-%d")
            text = tr._("Badge {badge}, enrolled {when} {how}").format(
                badge=badge.masked, when=when, how=tr._(ENROLLED_BY.get(badge.enrolled_by, badge.enrolled_by))
            )
            p.text(text, label, theme.BODY, align="left", max_lines=2)
            button(p, action, tr._("Replace"), sends(intents.ConfirmEnrolment(index)), kind=Kind.DANGER)
        extra = [(tr._("Add this badge"), sends(intents.ConfirmEnrolment(None)), Kind.PRIMARY, True)]
        self._back(p, tr, area.footer, extra if can_add else None)

    def _search(self, text: str) -> object | None:
        query = text.strip()
        return intents.SearchUsers(query) if query else None

    def _pins(self, p: Painter, tr: Translator, area: Page) -> None:
        mode, m = self.mode, p.metrics
        if self.setting_pin:
            if m.wide:
                info_area, pad = columns(area.body, [0.45, 0.55], m.gap * 2)
            else:
                info_area, pad = rows(area.body, [0.3, 0.7], m.gap)
            heading = tr._("New technician PIN")
            shown = " ".join("●" for _ in self.entry.text) or tr._("6 to 12 digits")
            message_rows = rows(info_area, [0.5, 0.5], m.gap)
            p.text(heading, message_rows[0], theme.BODY, align="left")
            p.text(shown, message_rows[1], theme.TITLE if self.entry.text else theme.HINT, align="left")
            keypad(
                p,
                pad,
                self.entry,
                ok_label=tr._("OK"),
                on_ok=self._set_pin,
                enabled=not mode.busy,
            )

            def cancel() -> None:
                self.setting_pin = False
                self.entry.clear()

            button_row(p, area.footer, [(tr._("Cancel"), cancel, Kind.NORMAL, True)])
            return
        self.entry.max_length = 12
        yes, no = tr._("set"), tr._("not set")
        head, grid = rows(area.body, [0.4, 0.6], m.gap)
        facts(
            p,
            head,
            [
                (tr._("Technician PIN"), yes if self.info.technician_pin_set else no),
                (tr._("Release PIN per person"), tr._("on") if self.info.release_pins_on else tr._("off")),
            ],
        )

        def begin() -> None:
            self.setting_pin = True

        on = self.info.release_pins_on
        self._choices(
            p,
            grid,
            [
                (tr._("Change technician PIN"), False, begin),
                (tr._("Release PIN per person: on"), on, sends(intents.SwitchReleasePins(True))),
                (tr._("Release PIN per person: off"), not on, sends(intents.SwitchReleasePins(False))),
            ],
        )
        self._back(p, tr, area.footer)

    def _set_pin(self, pin: str) -> object | None:
        self.setting_pin = False
        return intents.SetPin(pin) if pin else None

    def _directory(self, p: Painter, tr: Translator, area: Page) -> None:
        d = self.mode.directory
        if d is None:
            p.text(tr._("Reading…"), area.body, theme.BODY)
            self._back(p, tr, area.footer)
            return
        items = [(tr._("Source"), tr._(SOURCES[d.source]))]  # local: enrolments stay here, as it says
        if d.source != "local":
            written = tr._("enrolments are written to it") if d.write_back else tr._("enrolments stay here")
            items[0] = (tr._("Source"), f"{items[0][1]}; {written}")
            if d.last_success_age_s is None:
                last = tr._("never")
            else:
                minutes = int(d.last_success_age_s // 60)
                last = tr.ngettext("{n} minute ago", "{n} minutes ago", minutes).format(n=minutes)
            if d.held_back:  # its error says the same at length
                last = f"{last}; ✗ {tr._('held back: it would remove too many badges')}"
            elif d.failures:
                failing = tr.ngettext("failing {n} time in a row", "failing {n} times in a row", d.failures)
                last = f"{last}; ✗ {failing.format(n=d.failures)}"
            items.append((tr._("Last sync"), last))
            entries = tr._("{source} from the source, {local} enrolled here")
            items.append((tr._("Badges"), entries.format(source=d.entries, local=d.local)))
            counts = tr._("{conflicts} conflicts, {strangers} not ezeep users")
            items.append(
                (tr._("Last changes"), counts.format(conflicts=d.conflicts, strangers=d.not_ezeep_users))
            )
        error = technical_text(d.error, tr) if not d.held_back else ""  # held back: said above
        if error:  # the source's own words, of any length: the one row that may be cut short
            share = 1 / (len(items) + 1)
            body, tail = rows(area.body, [1 - share, share], 0)
            facts(p, body, items)
            p.text(error, tail, theme.SMALL, align="left", max_lines=2, break_words=True, ellipsis=True)
        else:
            facts(p, area.body, items)
        self._back(p, tr, area.footer)

    def _about(self, p: Painter, tr: Translator, area: Page) -> None:
        facts(
            p,
            area.body,
            [
                (tr._("Station"), self.info.station_name),
                (tr._("Version"), self.info.version),
                (tr._("Last unknown badge"), self.info.last_unknown_badge),
            ],
        )
        if self.info.can_restart:
            question = tr._("Restart the station now?")
            self._confirmed(
                p, tr, area, name="restart", label=tr._("Restart"), question=question, intent=intents.Restart
            )
        else:
            self._back(p, tr, area.footer)

    PAGES: ClassVar[dict[TechnicianPage, Callable[[TechnicianScreen, Painter, Translator, Page], None]]] = {
        "menu": _menu,
        "pairing": _pairing,
        "release_mode": _release_mode,
        "language": _language,
        "session_timeout": _session_timeout,
        "network": _network,
        "reader_test": _reader_test,
        "feedback_test": _feedback_test,
        "enrol": _enrol,
        "pins": _pins,
        "directory": _directory,
        "about": _about,
    }
