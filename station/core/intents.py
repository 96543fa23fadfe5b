"""What the UI sends to the core: one frozen value per thing a person can ask for.

The UI turns touches into these and hands them to ``Station.submit``; it never changes state
itself. An intent that makes no sense in the current state (a stale button press after the
session ended) is ignored. Every intent counts as activity: it pushes the session's or the
technician menu's idle deadline back. :class:`Touched` exists for touches that ask for nothing
else (scrolling the job list), so that reading a long list does not end the session.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

from station.config import Language, ReleaseMode
from station.core.view import TechnicianPage
from station.feedback import Pattern

# --- everyone ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Touched:
    """The screen was touched (scroll, drag): keep the session alive, nothing else."""


@dataclass(frozen=True, slots=True)
class Cancel:
    """Back out of what is on screen: enrolment, PIN keypad, an unknown-badge notice."""


@dataclass(frozen=True, slots=True)
class Done:
    """End the session now ("Done" / "Log out"), or close the summary; nothing of the user stays."""


@dataclass(frozen=True, slots=True)
class EnterPin:
    """A PIN typed on the keypad (to open the technician menu, as the release second factor, or
    a new PIN being chosen)."""

    pin: str = field(repr=False)


# --- pick mode ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToggleJob:
    """Select or unselect one job in the session list."""

    job_id: str


@dataclass(frozen=True, slots=True)
class ReleaseAll:
    """Release every waiting job (one touch)."""


@dataclass(frozen=True, slots=True)
class ReleaseSelected:
    """Release the selected jobs."""


@dataclass(frozen=True, slots=True)
class DeleteSelected:
    """Ask to delete the selected jobs; the core shows a confirmation (``Picking.confirm_delete``)."""


@dataclass(frozen=True, slots=True)
class ConfirmDelete:
    """Yes, delete the jobs in ``Picking.confirm_delete``."""


@dataclass(frozen=True, slots=True)
class CancelDelete:
    """No, keep them."""


@dataclass(frozen=True, slots=True)
class RetryFailed:
    """On the summary: send the jobs that definitely failed once more."""


# --- pairing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartPairing:
    """Fetch a new pairing code now (the core also does this by itself when unpaired)."""


# --- technician menu ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenTechnician:
    """The corner was held for 3 s: open the technician menu (asks the technician PIN if set)."""


@dataclass(frozen=True, slots=True)
class CloseTechnician:
    """Leave the technician menu."""


@dataclass(frozen=True, slots=True)
class ShowPage:
    """Go to a page of the technician menu (``menu`` is the top)."""

    page: TechnicianPage


@dataclass(frozen=True, slots=True)
class RePair:
    """Pair the station again (same hardware id); the current token stays until the new one comes."""


@dataclass(frozen=True, slots=True)
class SetReleaseMode:
    mode: ReleaseMode


@dataclass(frozen=True, slots=True)
class SetLanguage:
    language: Language


@dataclass(frozen=True, slots=True)
class SetSessionTimeout:
    seconds: int


@dataclass(frozen=True, slots=True)
class TestFeedback:
    """Play one LED/buzzer pattern."""

    pattern: Pattern


@dataclass(frozen=True, slots=True)
class SearchUsers:
    """Technician enrolment: find ezeep users whose email contains ``query``."""

    query: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ChooseUser:
    """Technician enrolment: link the tapped badge to this user (replaces an existing link)."""

    user_id: str


@dataclass(frozen=True, slots=True)
class ConfirmEnrolment:
    """Technician enrolment for a user who has badges: replace ``TechEnrol.user_badges[replace]``
    with the tapped one, or (``None``) add it as another badge (only below the limit)."""

    replace: int | None = None


@dataclass(frozen=True, slots=True)
class SetPin:
    """Set the technician PIN (6 to 12 digits); release PINs are each person's own."""

    pin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SwitchReleasePins:
    """Switch per-person release PINs on (each badge holder chooses one at their next tap) or off."""

    on: bool


@dataclass(frozen=True, slots=True)
class Restart:
    """Restart the station program (the composition root decides how)."""


Intent = (
    Touched
    | Cancel
    | Done
    | EnterPin
    | ToggleJob
    | ReleaseAll
    | ReleaseSelected
    | DeleteSelected
    | ConfirmDelete
    | CancelDelete
    | RetryFailed
    | StartPairing
    | OpenTechnician
    | CloseTechnician
    | ShowPage
    | RePair
    | SetReleaseMode
    | SetLanguage
    | SetSessionTimeout
    | TestFeedback
    | SearchUsers
    | ChooseUser
    | ConfirmEnrolment
    | SetPin
    | SwitchReleasePins
    | Restart
)
"""Everything the UI may send."""

INTENT_TYPES: tuple[type, ...] = typing.get_args(Intent)
"""Every kind of intent (for a mode that answers them all with one transition)."""
