"""One screen class per view class; :data:`SCREENS` maps each view to its screen."""

from __future__ import annotations

from typing import Any

from station.core import view as v
from ui.screens.base import Now, Screen
from ui.screens.enrol import EnrolScreen, UnknownBadgeScreen
from ui.screens.idle import OfflineScreen, PrinterUnavailableScreen, ReaderMissingScreen, ReadyScreen
from ui.screens.pairing import BootingScreen, NeedsRepairScreen, PairingScreen, UnpairedScreen
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
    v.BootingView: BootingScreen,
    v.UnpairedView: UnpairedScreen,
    v.NeedsRepairView: NeedsRepairScreen,
    v.PairingView: PairingScreen,
    v.ReadyView: ReadyScreen,
    v.OfflineView: OfflineScreen,
    v.PrinterUnavailableView: PrinterUnavailableScreen,
    v.ReaderMissingView: ReaderMissingScreen,
    v.IdentifyingView: IdentifyingScreen,
    v.PinEntryView: PinEntryScreen,
    v.PinSetupView: PinSetupScreen,
    v.SessionView: SessionScreen,
    v.ReleasingView: ReleasingScreen,
    v.DoneView: DoneScreen,
    v.UnknownBadgeView: UnknownBadgeScreen,
    v.EnrolView: EnrolScreen,
    v.TechnicianView: TechnicianScreen,
}


def screen_for(view: object) -> Screen[Any]:
    """A new screen for ``view``."""
    return SCREENS[type(view)](view)


__all__ = ["SCREENS", "Now", "Screen", "screen_for"]
