"""One screen class per mode class; :data:`SCREENS` maps each mode (or idle face) to its screen."""

from __future__ import annotations

from typing import Any

from station.core import enrolment, health, identify, pairing, pins, session, state, technician
from station.core.view import View
from ui.screens.base import Now, Screen
from ui.screens.enrol import EnrolScreen, UnknownBadgeScreen
from ui.screens.idle import OfflineScreen, PrinterUnavailableScreen, ReaderMissingScreen, ReadyScreen
from ui.screens.pairing import BootingScreen, PairingScreen, UnpairedScreen
from ui.screens.session import (
    DoneScreen,
    IdentifyingScreen,
    PinEntryScreen,
    PinSetupScreen,
    ReleasingScreen,
    SessionScreen,
)
from ui.screens.technician import TechnicianScreen

SCREENS: dict[type, type[Screen[Any]]] = {
    state.Booting: BootingScreen,
    pairing.Unpaired: UnpairedScreen,
    pairing.Pairing: PairingScreen,
    health.Ready: ReadyScreen,
    health.Offline: OfflineScreen,
    health.PrinterUnavailable: PrinterUnavailableScreen,
    health.ReaderMissing: ReaderMissingScreen,
    identify.Identifying: IdentifyingScreen,
    pins.PinCheck: PinEntryScreen,
    pins.PinSetup: PinSetupScreen,
    session.Picking: SessionScreen,
    session.Releasing: ReleasingScreen,
    session.Done: DoneScreen,
    enrolment.Unknown: UnknownBadgeScreen,
    enrolment.Enrolling: EnrolScreen,
    technician.Technician: TechnicianScreen,
}


def screen_for(view: View) -> Screen[Any]:
    """A new screen for ``view``: the one its mode's class draws with."""
    return SCREENS[type(view.mode)](view.mode, view.info)


__all__ = ["SCREENS", "Now", "Screen", "screen_for"]
