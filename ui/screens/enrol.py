"""Badges the station does not know: why, and self-enrolment with a phone."""

from __future__ import annotations

from typing import ClassVar

from station.core import intents
from station.core.enrolment import Enrolling, Unknown
from ui import theme
from ui.i18n import Translator
from ui.painter import Painter
from ui.screens.base import Now, Screen, SignIn, clock_text, left, message, page, sign_in_beside_qr
from ui.screens.causes import cause_text
from ui.widgets import button


class UnknownBadgeScreen(Screen[Unknown]):
    draws = Unknown

    countdown: ClassVar[str | None] = "expires_at"

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode = self.mode
        reasons = {
            "random_uid": (
                tr._("This card cannot be used"),
                tr._(
                    "It shows a new number every time (phones and some bank cards do this). "
                    "Use your staff badge."
                ),
            ),
            "rate_limited": (
                tr._("Badge not known"),
                tr._("Too many unknown badges in a short time. Please wait a minute and try again."),
            ),
            "not_enrolled": (
                tr._("Badge not known"),
                tr._("This badge is not linked to an ezeep account. Ask your administrator to add it."),
            ),
            "enrolment_failed": (
                tr._("Linking the badge did not work"),
                tr._("Please tap your badge again, or ask your administrator."),
            ),
            "too_many_badges": (
                tr._("Badge not linked"),
                tr._(
                    "Your account already has as many badges as allowed. Ask your technician to replace one."
                ),
            ),
            "not_confirmed": (
                tr._("Badge not linked"),
                tr._("The badge was not tapped again in time. Nothing was linked; tap it to start over."),
            ),
            "not_ezeep_user": (
                tr._("No ezeep account"),
                tr._(
                    "Your organisation's directory knows this badge, but ezeep has no account with your "
                    "e-mail address. Ask your administrator to invite you to ezeep."
                ),
            ),
            "other_badge": (
                tr._("Badge not linked"),
                tr._(
                    "That was a different badge. For safety nothing was linked; tap your badge to start over."
                ),
            ),
        }
        title, body = reasons[mode.reason]
        closes = tr._("Closes in {time}").format(time=clock_text(left(mode.expires_at, now)))
        area = page(p, "✗ " + title, aside=closes)
        why = cause_text(mode.cause, tr) if mode.cause is not None else ""
        message(p, area.body, [(body, theme.BODY), (why, theme.SMALL)])
        button(p, area.footer, tr._("Close"), intents.Cancel)


class EnrolScreen(Screen[Enrolling]):
    """Sign in on a phone (QR code or address and code) to link this badge to an account."""

    draws = Enrolling

    countdown: ClassVar[str | None] = "expires_at"

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode = self.mode
        ends = tr._("Time left {time}").format(time=clock_text(left(mode.expires_at, now)))
        area = page(p, tr._("Link this badge to your account"), aside=ends)
        if mode.stage == "starting":
            p.text(tr._("Getting a sign-in code…"), area.body, theme.BODY)
        elif mode.stage == "confirm":
            who = tr._("Signed in as {name}.").format(name=mode.user_name) if mode.user_name else ""
            message(
                p,
                area.body,
                [(who, theme.TITLE), (tr._("Is that you? Tap the same badge again to link it."), theme.BODY)],
            )
        elif mode.stage == "saving":
            p.text(tr._("Linking your badge…"), area.body, theme.BODY)
        else:
            steps = SignIn(
                tr._("1. Scan the code with your phone, or open:"),
                mode.short_url,
                tr._("2. Sign in with your ezeep account and confirm this code:"),
                mode.code,
            )
            sign_in_beside_qr(p, area.body, steps, mode.auth_url, code_share=0.34)
        button(p, area.footer, tr._("Cancel"), intents.Cancel)
