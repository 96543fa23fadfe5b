"""A user's visit: badge acknowledged, PIN, the job list (pick mode), release progress, summary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import pygame

from station.cloud.models import Job
from station.core import intents
from station.core.identify import Identifying
from station.core.pins import PinCheck, PinSetup
from station.core.session import Done, Picking, Releasing
from station.core.view import JobPhase, JobProgressItem, StationInfo
from ui import theme
from ui.i18n import Translator
from ui.metrics import MIN_TOUCH, columns, rows
from ui.painter import Action, Icon, Painter, sends
from ui.screens.base import ListScreen, Now, Screen, clock_text, left, page
from ui.screens.causes import cause_text
from ui.widgets import Entry, Kind, ScrollList, button, button_row, keypad

BIG_OK = theme.Style(theme.Role.DISPLAY, theme.GOOD, theme.BACKGROUND, bold=True)


class IdentifyingScreen(Screen[Identifying]):
    """Drawn the moment a badge is read, before any network answer: keep it cheap."""

    draws = Identifying

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        m = p.metrics
        inner = m.rect.inflate(-2 * m.margin, -2 * m.margin)
        icon, head, hint = rows(inner, [0.4, 0.3, 0.3], m.gap)
        p.text(Icon.OK.value, icon, BIG_OK, size=m.px(110))
        p.text(tr._("Badge read"), head, theme.TITLE)
        p.text(tr._("One moment, looking for your jobs…"), hint, theme.HINT)


class PinEntryScreen(Screen[PinCheck]):
    draws = PinCheck

    countdown: ClassVar[str | None] = "expires_at"

    def __init__(self, mode: PinCheck, info: StationInfo) -> None:
        super().__init__(mode, info)
        self.entry = Entry(max_length=12)

    def update(self, mode: PinCheck, info: StationInfo) -> None:
        if mode.purpose != self.mode.purpose:
            self.entry.clear()
        super().update(mode, info)

    def next_redraw(self, now: float) -> float | None:
        locked = self.mode.locked_until
        if self.mode.error == "locked" and locked is not None and locked > now:
            return now + ((locked - now) % 1.0 or 1.0)
        return super().next_redraw(now)

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode = self.mode
        title = tr._("Technician PIN") if mode.purpose == "technician" else tr._("Enter your PIN")
        locked = mode.error in ("locked", "blocked")
        note_text, style = self._note(tr, now)
        pin_pad(
            p,
            tr,
            self.entry,
            title=title,
            note=(note_text, style),
            cancel=True,
            enabled=not (locked or mode.checking),
        )

    def _note(self, tr: Translator, now: Now) -> tuple[str, theme.Style]:
        mode = self.mode
        if mode.error == "blocked" and mode.purpose == "technician":
            return tr._("Too many wrong PINs: the menu is locked. Unlock it with release-station pin set."), (
                theme.WARN_BODY
            )
        if mode.error == "blocked":
            return tr._("Too many wrong PINs: this badge is locked. Ask a technician to reset your PIN."), (
                theme.WARN_BODY
            )
        if mode.error == "locked":
            wait = clock_text(left(mode.locked_until, now))
            return tr._("Too many wrong PINs. Try again in {time}.").format(time=wait), theme.WARN_BODY
        if mode.error == "wrong":
            return tr._("✗ Wrong PIN. Please try again."), theme.BAD_BODY
        if mode.checking:
            return tr._("Checking…"), theme.HINT
        return tr._("Then press OK."), theme.HINT


class PinSetupScreen(Screen[PinSetup]):
    """Choose a PIN and type it again; the keypad clears between the two."""

    draws = PinSetup

    countdown: ClassVar[str | None] = "expires_at"

    def __init__(self, mode: PinSetup, info: StationInfo) -> None:
        super().__init__(mode, info)
        self.entry = Entry(max_length=mode.max_digits)

    def update(self, mode: PinSetup, info: StationInfo) -> None:
        if (mode.stage, mode.error) != (self.mode.stage, self.mode.error):
            self.entry.clear()
        super().update(mode, info)

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode = self.mode
        technician = mode.purpose == "technician"
        digits = {"low": mode.min_digits, "high": mode.max_digits}
        if mode.stage == "repeat":
            title, hint = tr._("Type the same PIN again"), tr._("Then press OK.")
        else:
            title = tr._("Choose a technician PIN") if technician else tr._("Choose your PIN")
            hint = tr._("{low} to {high} digits, then OK.").format(**digits)
            if technician:
                hint = tr._("It protects the technician menu. {low} to {high} digits, then OK.").format(
                    **digits
                )
        errors = {
            "mismatch": tr._("✗ The two PINs differ. Please choose again."),
            "invalid": tr._("✗ A PIN has {low} to {high} digits.").format(**digits),
            "failed": tr._("✗ The PIN could not be saved. Please try again."),
        }
        if mode.stage == "saving":
            note = (tr._("Saving…"), theme.HINT)
        elif mode.error:
            note = (errors[mode.error], theme.BAD_BODY)
        else:
            note = (hint, theme.HINT)
        pin_pad(
            p, tr, self.entry, title=title, note=note, cancel=not technician, enabled=mode.stage != "saving"
        )


def pin_pad(
    p: Painter,
    tr: Translator,
    entry: Entry,
    *,
    title: str,
    note: tuple[str, theme.Style],
    cancel: bool,
    enabled: bool,
) -> None:
    """A PIN keypad page: the typed digits as dots, a note, Cancel (if offered), the keypad."""
    m = p.metrics
    area = page(p, title, footer=False)
    if m.wide:
        info_area, pad_area = columns(area.body, [0.45, 0.55], m.gap * 2)
    else:
        info_area, pad_area = rows(area.body, [0.35, 0.65], m.gap)
    dots, note_area, cancel_area = rows(info_area, [0.35, 1.0 - 0.35 - 0.01, m.touch], m.gap)
    shown = " ".join("●" for _ in entry.text) or tr._("Type the PIN")
    p.text(shown, dots, theme.TITLE if entry.text else theme.HINT)
    p.text(note[0], note_area, note[1])
    if cancel:
        button(p, cancel_area, tr._("Cancel"), intents.Cancel)
    keypad(
        p,
        pad_area,
        entry,
        ok_label=tr._("OK"),
        on_ok=lambda pin: intents.EnterPin(pin) if pin else None,
        enabled=enabled,
    )


def job_age(created: datetime | None, now: datetime, tr: Translator) -> str:
    if created is None:
        return ""
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    minutes = max(0, int((now - created).total_seconds() // 60))
    if minutes < 1:
        return tr._("just now")
    if minutes < 60:
        return tr.ngettext("{n} minute ago", "{n} minutes ago", minutes).format(n=minutes)
    hours = minutes // 60
    if hours < 48:
        return tr.ngettext("{n} hour ago", "{n} hours ago", hours).format(n=hours)
    days = hours // 24
    return tr.ngettext("{n} day ago", "{n} days ago", days).format(n=days)


def job_facts(job: Job, now: datetime, tr: Translator) -> str:
    pages = tr.ngettext("{n} page", "{n} pages", job.pages).format(n=job.pages) if job.pages else ""
    return " · ".join(part for part in (pages, job_age(job.created, now, tr)) if part)


class SessionScreen(ListScreen[Picking]):
    """Pick mode: a drag-scrolled list to select from, release and delete buttons, a countdown."""

    draws = Picking

    countdown: ClassVar[str | None] = "expires_at"

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode, m = self.mode, p.metrics
        ends = tr._("Ends in {time}").format(time=clock_text(left(mode.expires_at, now)))
        area = page(p, tr._("Hello, {name}").format(name=mode.user_name), aside=ends)
        idle = mode.busy == "" and not mode.confirm_delete
        body, note = area.body, pygame.Rect(area.body.left, area.body.bottom, area.body.width, 0)
        if mode.busy or mode.problem:
            body, note = rows(area.body, [1.0, m.px(56)], m.gap)
        if mode.busy == "loading":
            p.text(tr._("Loading your jobs…"), body, theme.BODY)
        elif not mode.jobs:
            p.text(tr._("You have no jobs waiting."), body, theme.BODY)
        else:
            self._draw_list(p, body, tr, now, enabled=idle)
        if mode.busy == "deleting":
            p.text(tr._("Deleting…"), note, theme.HINT, align="left")
        elif mode.problem == "delete_failed":
            if mode.cause is None:
                text = tr._("✗ Some jobs could not be deleted.")
            else:
                text = tr._("✗ Some jobs could not be deleted ({cause}).").format(
                    cause=cause_text(mode.cause, tr)
                )
            p.text(text, note, theme.BAD_SMALL, align="left")
        count = len(mode.selected)
        has_jobs = bool(mode.offered) and idle
        button_row(
            p,
            area.footer,
            [
                (
                    tr._("Print selected ({n})").format(n=count),
                    intents.ReleaseSelected,
                    Kind.PRIMARY,
                    has_jobs and count > 0,
                ),
                (tr._("Print all"), intents.ReleaseAll, Kind.PRIMARY, has_jobs),
                (tr._("Delete"), intents.DeleteSelected, Kind.DANGER, has_jobs and count > 0),
                (tr._("Done"), intents.Done, Kind.NORMAL, mode.busy == "" and not mode.confirm_delete),
            ],
        )
        if mode.confirm_delete:
            self._draw_confirm(p, tr, len(mode.confirm_delete))

    def _draw_list(self, p: Painter, rect: pygame.Rect, tr: Translator, now: Now, *, enabled: bool) -> None:
        m, jobs = p.metrics, self.mode.jobs
        row_height = max(m.touch, m.px(72))
        self.list.layout(rect, row_height, len(jobs))
        bar = m.px(10)
        with self.list.clip(p):
            for index, row in self.list.rows(row_height, len(jobs)):
                job = jobs[index]
                held = self.mode.held(job.id)  # shown, not offered: it may still print
                chosen = job.id in self.mode.selected
                cell = row.inflate(-bar, -m.px(4)).move(-bar // 2, 0)
                bg = theme.SELECTED if chosen else theme.PANEL
                p.fill(bg, cell, radius=m.px(6))
                if chosen:
                    p.outline(theme.TEXT, cell, width=2, radius=m.px(6))
                box_side = min(cell.height, m.px(56))
                check = pygame.Rect(cell.left + m.px(6), cell.top, box_side, cell.height)
                name_style = theme.SELECTED_BODY if chosen else theme.PANEL_BODY
                small_style = theme.SELECTED_SMALL if chosen else theme.PANEL_SMALL
                mark = "☑" if chosen else "☐" if held is None else "\N{EN DASH}"  # held back: nothing to tick
                p.text(mark, check, name_style, size=m.px(34))
                text = pygame.Rect(
                    check.right + m.px(6), cell.top, cell.right - check.right - m.px(12), cell.height
                )
                name_rect, facts_rect = rows(text, [0.55, 0.45], 0)
                p.text(job.name, name_rect, name_style, align="left", max_lines=1, ellipsis=True)
                p.text(
                    job_facts(job, now.wall, tr) if held is None else cause_text(held, tr),
                    facts_rect,
                    small_style,
                    align="left",
                    max_lines=1,
                    ellipsis=True,
                )
                visible = cell.clip(rect)
                if (
                    enabled and held is None and visible.height >= MIN_TOUCH
                ):  # a sliver at the edge scrolls, not selects
                    p.target(visible, sends(intents.ToggleJob(job.id)), job.name)
        self.list.draw_scrollbar(p)

    def _draw_confirm(self, p: Painter, tr: Translator, count: int) -> None:
        m = p.metrics
        shade = pygame.Surface(p.surface.get_size(), pygame.SRCALPHA)
        shade.fill((0, 0, 0, 170))
        p.surface.blit(shade, (0, 0))
        dialog = m.rect.inflate(-m.rect.width // 5, -m.rect.height // 3)
        dialog.height = max(dialog.height, m.touch * 3)
        dialog.center = m.rect.center
        p.fill(theme.PANEL, dialog, radius=m.px(10))
        inner = dialog.inflate(-2 * m.margin, -2 * m.margin)
        question, buttons = rows(inner, [1.0, m.touch], m.gap)
        text = tr.ngettext(
            "Delete {n} job? It cannot be printed afterwards.",
            "Delete {n} jobs? They cannot be printed afterwards.",
            count,
        ).format(n=count)
        p.text(text, question, theme.PANEL_BODY)
        button_row(
            p,
            buttons,
            [
                (tr._("Delete"), intents.ConfirmDelete, Kind.DANGER, True),
                (tr._("Keep"), intents.CancelDelete, Kind.PRIMARY, True),
            ],
        )


PHASES: dict[JobPhase, tuple[Icon, theme.Style]] = {
    "waiting": (Icon.WAIT, theme.SMALL),
    "sending": (Icon.WAIT, theme.SMALL),
    "printing": (Icon.WAIT, theme.SMALL),
    "printed": (Icon.OK, theme.GOOD_SMALL),
    "failed": (Icon.FAIL, theme.BAD_SMALL),
    "timed_out": (Icon.WARN, theme.WARN_SMALL),
    "held": (Icon.WARN, theme.WARN_SMALL),
    "unconfirmed": (Icon.WARN, theme.WARN_SMALL),
}


def phase_text(phase: JobPhase, tr: Translator) -> str:
    return {
        "waiting": tr._("Waiting"),
        "sending": tr._("Sending to the printer…"),
        "printing": tr._("Printing…"),
        "printed": tr._("Printed"),
        "failed": tr._("Not printed"),
        "timed_out": tr._("No answer from the printer yet"),
        "held": tr._("Kept in your queue"),
        "unconfirmed": tr._("Outcome not known"),
    }[phase]


def progress_list(
    p: Painter, lst: ScrollList, rect: pygame.Rect, jobs: tuple[JobProgressItem, ...], tr: Translator
) -> None:
    """One row per job: its name, and its phase as icon and words (with its cause)."""
    m = p.metrics
    row_height = max(m.touch, m.px(64))
    lst.layout(rect, row_height, len(jobs))
    with lst.clip(p):
        for index, row in lst.rows(row_height, len(jobs)):
            job = jobs[index]
            name, state = columns(row.inflate(-m.px(12), -m.px(4)), [0.45, 0.55], m.gap)
            p.text(job.name, name, theme.BODY, align="left", max_lines=1, ellipsis=True)
            icon, style = PHASES[job.phase]
            words = phase_text(job.phase, tr)
            if job.cause is not None:
                words += f" ({cause_text(job.cause, tr)})"
            p.icon_text(icon, words, state, theme.SMALL, style)
    lst.draw_scrollbar(p)


class ReleasingScreen(ListScreen[Releasing]):
    draws = Releasing

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        settled = ("printed", "failed", "timed_out", "held", "unconfirmed")
        done = sum(1 for job in self.mode.jobs if job.phase in settled)
        counter = tr._("{done} of {total}").format(done=done, total=len(self.mode.jobs))
        area = page(p, tr._("Sending your jobs to the printer"), aside=counter, footer=False)
        progress_list(p, self.list, area.body, self.mode.jobs, tr)


class DoneScreen(ListScreen[Done]):
    draws = Done

    countdown: ClassVar[str | None] = "expires_at"

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode = self.mode
        headline = {
            "released": tr._("✓ Your jobs are printing"),
            "partly": tr._("⚠ Some jobs did not print"),
            "failed": tr._("✗ Your jobs could not be printed"),
            "nothing_to_print": tr._("You have no jobs waiting"),
            "printer_offline": tr._("⚠ The printer is offline; your jobs are kept"),
            "deleted": tr._("✓ Jobs deleted"),
        }[mode.outcome]
        closes = tr._("Closes in {time}").format(time=clock_text(left(mode.expires_at, now)))
        area = page(p, headline, aside=closes)
        if mode.jobs:
            progress_list(p, self.list, area.body, mode.jobs, tr)
        else:
            hint = {
                "nothing_to_print": tr._("Print from your computer or phone to ezeep first, then tap again."),
            }.get(mode.outcome, "")
            p.text(hint, area.body, theme.HINT)
        actions: list[tuple[str, Action, Kind, bool]] = []
        if mode.can_retry:
            actions.append((tr._("Try again"), intents.RetryFailed, Kind.PRIMARY, True))
        actions.append((tr._("Done"), intents.Done, Kind.NORMAL, True))
        button_row(p, area.footer, actions)
