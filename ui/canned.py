"""Hand-made views of every screen, for screenshots, tests and the benchmark.

Names and numbers are made up but realistic in length (a long printer name, a long job
name, a German address), so that text fitting is tested on what real stations show.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

from station.causes import Cause, Reason
from station.core import view as v

MONO = 1000.0
WALL = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
# A pairing as ezeep answers it (no short address: the whole sign-in link is the text too) ...
PAIRING_CODE = "CLI04V3Fwm"
PAIRING_URL = (
    "https://account.ezeep.com/auth/signin/?next=%2Foauth%2Fauthorize%2Fpairing%2F"
    f"%3Fpairing_code%3D{PAIRING_CODE}%26device%3Dgeneric"
)
# ... and an enrolment as the emulator answers it: a short address to type, the link in the QR code.
ENROL_CODE = "uafdHUwAs7"
ENROL_SHORT_URL = "http://192.168.178.20:8765/device"
ENROL_QR_URL = (
    "http://192.168.178.20:8765/auth/signin/?next=%2Foauth%2Fauthorize%2Fpairing%2F"
    f"%3Fpairing_code%3D{ENROL_CODE}%26device%3Dgeneric"
)


def _info(**changes: object) -> v.StationInfo:
    base = {
        "station_name": "Release station 3rd floor",
        "release_mode": "pick",
        "printer_name": "Marketing MFP — Canon imageRUNNER C3826i",
        "printer_location": "Building B, 3rd floor, next to the kitchen",
        "cloud": "ok",
        "reader": "ok",
        "printer": "ok",
        "paired": True,
    }
    base.update(changes)
    return v.StationInfo(**base)  # type: ignore[arg-type]


def _jobs() -> tuple[v.JobItem, ...]:
    names = [
        "Quarterly report Q1 2025 - final version with appendices and all the charts.pdf",
        "Boarding pass.pdf",
        "Meeting notes",
        "Invoice 2025-0042",
        "Präsentation Vertriebsmeeting März",
        "Photo.jpg",
        "Lunch menu",
    ]
    return tuple(
        v.JobItem(
            id=f"job-{i}",
            name=name,
            pages=[12, 1, 3, 2, 24, 1, None][i],
            created=WALL - timedelta(minutes=[2, 0, 75, 3000, 14, 45, 9][i]),
        )
        for i, name in enumerate(names)
    )


def _progress(
    phases: list[v.JobPhase], causes: dict[int, Cause] | None = None
) -> tuple[v.JobProgressItem, ...]:
    jobs = _jobs()
    causes = causes or {}
    return tuple(
        v.JobProgressItem(jobs[i].id, jobs[i].name, phase, causes.get(i)) for i, phase in enumerate(phases)
    )


def _tech(page: v.TechnicianPage, **changes: object) -> v.TechnicianView:
    base: dict[str, object] = {
        "info": _info(),
        "page": page,
        "expires_at": MONO + 300,
        "version": "0.1.0",
        "hardware_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "organisation": "Example GmbH",
        "tp_id": 4711,
        "hostname": "release-station-3f",
        "addresses": ("192.168.20.41", "fe80::dea6:32ff:fe01:2345"),
        "readers": (("ACS ACR122U PICC Interface 00 00", "ok"),),
        "technician_pin_set": True,
        "last_unknown_badge": "0012345678",
        "can_restart": True,
    }
    base.update(changes)
    return v.TechnicianView(**base)  # type: ignore[arg-type]


def canned_views(language: str = "en") -> dict[str, object]:
    """Every screen with typical (and some long) content; keys are file-name friendly."""
    info = _info(language=language)
    unpaired = _info(language=language, paired=False, printer_name="", printer_location="", printer="unknown")
    views: dict[str, object] = {
        "booting": v.BootingView(unpaired),
        "unpaired": v.UnpairedView(unpaired),
        "unpaired-offline": v.UnpairedView(
            unpaired, "offline", Cause(Reason.OFFLINE, text="connection refused"), MONO + 12
        ),
        "needs-repair": v.NeedsRepairView(
            info, "server", Cause(Reason.SERVER_ERROR, text="503 Service Unavailable"), MONO + 30
        ),
        "needs-repair-no-pin": v.NeedsRepairView(unpaired, "no_pin"),
        "pairing": v.PairingView(unpaired, PAIRING_CODE, PAIRING_URL, PAIRING_URL, MONO + 287),
        "pairing-repair": v.PairingView(
            info, PAIRING_CODE, PAIRING_URL, PAIRING_URL, MONO + 600, repair=True
        ),
        "ready": v.ReadyView(info),
        "ready-just-paired": v.ReadyView(info, just_paired=True),
        "offline": v.OfflineView(
            _info(language=language, cloud="down"), "network", None, MONO - 60, MONO + 20
        ),
        "offline-server": v.OfflineView(
            _info(language=language, cloud="down"),
            "server",
            Cause(Reason.SERVER_ERROR, text="502 Bad Gateway"),
            MONO - 5,
        ),
        "offline-no-answer": v.OfflineView(
            _info(language=language, cloud="down"), "network", Cause(Reason.NO_ANSWER), MONO - 5, MONO + 20
        ),
        "printer-unavailable": v.PrinterUnavailableView(_info(language=language, printer="down"), "Offline"),
        "reader-missing": v.ReaderMissingView(
            _info(language=language, reader="down"), "ACS ACR122U", "unplugged"
        ),
        "identifying": v.IdentifyingView(info),
        "pin-technician": v.PinEntryView(info, "technician", MONO + 30, error="wrong"),
        "pin-locked": v.PinEntryView(info, "release", MONO + 30, error="locked", locked_until=MONO + 95),
        "pin-blocked": v.PinEntryView(info, "technician", MONO + 30, error="blocked"),
        "pin-blocked-badge": v.PinEntryView(info, "release", MONO + 30, error="blocked"),
        "pin-setup-failed": v.PinSetupView(info, "technician", "choose", 6, 12, "failed"),
        "pin-setup-technician": v.PinSetupView(info, "technician", "choose", 6, 12),
        "pin-setup-mismatch": v.PinSetupView(info, "release", "choose", 4, 8, "mismatch", MONO + 30),
        "pin-setup-repeat": v.PinSetupView(info, "release", "repeat", 4, 8, expires_at=MONO + 30),
        "session": v.SessionView(
            info, "Anna Schmidt-Hohenberger", _jobs(), frozenset({"job-0", "job-2"}), MONO + 45
        ),
        "session-loading": v.SessionView(info, "Anna", (), frozenset(), MONO + 58, busy="loading"),
        "session-empty": v.SessionView(info, "Anna", (), frozenset(), MONO + 58),
        "session-confirm-delete": v.SessionView(
            info, "Anna", _jobs(), frozenset({"job-1", "job-3"}), MONO + 40, confirm_delete=("job-1", "job-3")
        ),
        "session-delete-failed": v.SessionView(
            info,
            "Anna",
            _jobs()[:2],
            frozenset(),
            MONO + 40,
            problem="delete_failed",
            cause=Cause(Reason.OFFLINE),
        ),
        "releasing": v.ReleasingView(info, "Anna", _progress(["printed", "printing", "sending", "waiting"])),
        "done": v.DoneView(info, "released", _progress(["printed", "printed", "printed"]), MONO + 8),
        "done-partly": v.DoneView(
            info,
            "partly",
            _progress(
                ["printed", "failed", "timed_out", "held", "unconfirmed"],
                {
                    1: Cause(Reason.PRINTER_ERROR, code=3011),
                    2: Cause(Reason.TIMED_OUT, timeout_s=300),
                    3: Cause(Reason.CANCELLED),
                    4: Cause(Reason.OUTCOME_UNKNOWN),
                },
            ),
            MONO + 8,
            can_retry=True,
        ),
        "done-nothing": v.DoneView(info, "nothing_to_print", (), MONO + 5),
        "done-printer-offline": v.DoneView(
            info,
            "printer_offline",
            _progress(
                ["held", "held"], dict.fromkeys((0, 1), Cause(Reason.PRINTER_OFFLINE, "Printer", "Offline"))
            ),
            MONO + 8,
        ),
        "unknown-random": v.UnknownBadgeView(info, "random_uid", MONO + 9),
        "unknown-not-enrolled": v.UnknownBadgeView(info, "not_enrolled", MONO + 9),
        "unknown-failed": v.UnknownBadgeView(info, "enrolment_failed", MONO + 9, Cause(Reason.CANCELLED)),
        "unknown-too-many": v.UnknownBadgeView(info, "too_many_badges", MONO + 9),
        "unknown-not-confirmed": v.UnknownBadgeView(info, "not_confirmed", MONO + 9),
        "unknown-other-badge": v.UnknownBadgeView(info, "other_badge", MONO + 9),
        "enrol": v.EnrolView(info, "waiting", MONO + 290, ENROL_CODE, ENROL_SHORT_URL, ENROL_QR_URL),
        "enrol-confirm": v.EnrolView(info, "confirm", MONO + 27, user_name="Anna Schmidt"),
        "enrol-confirm-masked": v.EnrolView(info, "confirm", MONO + 27, user_name="a•••@example.com"),
        "enrol-saving": v.EnrolView(info, "saving", MONO + 200, user_name="Anna Schmidt"),
    }
    for page in get_args(v.TechnicianPage):
        if page not in ("reader_test", "enrol"):  # those two need more than a page name, below
            views[f"tech-{page.replace('_', '-')}"] = _tech(page, info=info)
    views["tech-reader-test"] = _tech(
        "reader_test",
        info=info,
        reader_test=v.ReaderTestResult(
            "pcsc", "ACS ACR122U", "04A1B2C3D4E501", "04A1B2C3D4E501", "1302001234567"
        ),
    )
    views["tech-enrol"] = _tech("enrol", info=info, enrol=v.TechEnrol("search", "0012345678"))
    views["tech-enrol-results"] = _tech(
        "enrol",
        info=info,
        enrol=v.TechEnrol(
            "search",
            "0012345678",
            "old.user@example.com",
            "anna",
            (
                v.UserChoice("u1", "anna.schmidt@example.com", "Anna Schmidt"),
                v.UserChoice("u2", "anna.berg@example.com", "Anna Berg"),
            ),
        ),
    )
    anna = v.UserChoice("u1", "anna.schmidt@example.com", "Anna Schmidt")
    badges = (
        v.BadgeRef("04A1B2C3", "…B2C3", datetime(2026, 1, 12, 8, 30, tzinfo=UTC), "self"),
        v.BadgeRef("0012345678", "…5678", datetime(2026, 2, 3, 14, 5, tzinfo=UTC), "technician"),
    )
    views["tech-enrol-confirm"] = _tech(
        "enrol", info=info, enrol=v.TechEnrol("confirm", "0099887766", chosen=anna, user_badges=badges[:1])
    )
    views["tech-enrol-confirm-full"] = _tech(
        "enrol", info=info, enrol=v.TechEnrol("confirm", "0099887766", chosen=anna, user_badges=badges)
    )
    views["tech-enrol-replaced"] = _tech(
        "enrol", info=info, enrol=v.TechEnrol("saved", "0099887766", chosen=anna, outcome="replaced")
    )
    views["tech-enrol-failed"] = _tech(
        "enrol",
        info=info,
        enrol=v.TechEnrol("failed", cause=Cause(Reason.BAD_CARD, text="card number 'x' is not hexadecimal")),
    )
    views["tech-saved"] = _tech("release_mode", info=info, message="saved")
    return views
