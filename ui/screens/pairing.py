"""Start-up and pairing: booting, waiting for a code, the code itself, and re-pairing."""

from __future__ import annotations

from typing import ClassVar

import pygame

from station.core import intents
from station.core.pairing import Pairing, Unpaired
from station.core.state import Booting
from ui import theme
from ui.i18n import Translator
from ui.metrics import columns, rows
from ui.painter import Painter
from ui.qr import qr_surface
from ui.screens.base import Now, Screen, SignIn, clock_text, left, message, page, sign_in_steps
from ui.screens.causes import cause_text, technical
from ui.widgets import button


class BootingScreen(Screen[Booting]):
    draws = Booting

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        area = page(p, self.info.station_name, footer=False)
        p.text(tr._("Starting…"), area.body, theme.BODY)


class UnpairedScreen(Screen[Unpaired]):
    """No code to show yet: say what the station is waiting for (pairing again after a rejected
    token when ``mode.repair``)."""

    draws = Unpaired

    countdown: ClassVar[str | None] = "retry_at"

    def title(self, tr: Translator) -> str:
        if self.mode.repair:
            return tr._("This station must be paired again")
        return tr._("This station is not set up yet")

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode = self.mode
        area = page(p, self.title(tr))
        retry = left(mode.retry_at, now)
        problem = {
            "": tr._("Asking ezeep for a pairing code…"),
            "offline": tr._("ezeep cannot be reached. Check the network cable or Wi-Fi."),
            "server": tr._("ezeep is not answering right now."),
            "denied": tr._("The last code was denied. Getting a new one…"),
            "refused": tr._("ezeep answered with an error the station does not know."),
            "stopped": tr._("Pairing stopped: ezeep must change a setting for this station first."),
            "no_pin": tr._(
                "Set the technician PIN first: over SSH with `release-station pin set`, "
                "or with [technician] pin_hash in a first-boot system.toml."
            ),
        }[mode.problem]
        retry_text = tr._("Trying again in {time}.").format(time=clock_text(retry)) if retry else ""
        why = cause_text(mode.cause, tr) if mode.cause is not None else ""
        # ezeep's unknown error as sent, or which setting to ask ezeep for (naming the client id).
        detail = technical(mode.cause, tr) if mode.problem in ("refused", "stopped") else ""
        lines = [(problem, theme.BODY), (retry_text, theme.HINT), (why, theme.SMALL), (detail, theme.SMALL)]
        message(p, area.body, lines)
        if mode.problem in ("offline", "server", "stopped"):
            button(p, area.footer, tr._("Try again now"), intents.StartPairing)


class PairingScreen(Screen[Pairing]):
    """The pairing code, large, with the sign-in address, its QR code and a countdown."""

    draws = Pairing

    countdown: ClassVar[str | None] = "expires_at"

    def paint(self, p: Painter, tr: Translator, now: Now) -> None:
        mode, m = self.mode, p.metrics
        title = tr._("Pair this station again") if mode.repair else tr._("Set up this station")
        expires = tr._("Code expires in {time}").format(time=clock_text(left(mode.expires_at, now)))
        area = page(p, title, aside=expires, footer=False)
        if m.wide:
            text_area, qr_area = columns(area.body, [0.62, 0.38], m.gap * 2)
        else:
            text_area, qr_area = rows(area.body, [0.62, 0.38], m.gap)
        steps = SignIn(
            tr._("1. On a phone or computer, open:"),
            mode.short_url,
            tr._("2. Sign in as an ezeep administrator and enter this code:"),
            mode.code,
        )
        sign_in_steps(p, text_area, steps, code_share=0.4)  # the code large: read from a metre away
        image = qr_surface(mode.auth_url, min(qr_area.width, qr_area.height))
        p.blit(image, qr_area)
        if not m.wide:
            return
        caption = pygame.Rect(qr_area.left, image.get_rect(center=qr_area.center).bottom, qr_area.width, 0)
        caption.height = max(0, qr_area.bottom - caption.top)
        if caption.height >= m.font_size(theme.Role.SMALL) * 1.2:
            p.text(tr._("or scan this code"), caption, theme.SMALL)
