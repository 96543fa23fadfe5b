"""Hand-made views of every screen (each a mode and the station's facts), for screenshots, tests
and the benchmark.

Names and numbers are made up but realistic in length (a long printer name, a long job
name, a German address), so that text fitting is tested on what real stations show.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import get_args

from station.causes import Cause, Reason
from station.cloud.models import Job
from station.core import view as v
from station.core.enrolment import Enrolling, Unknown
from station.core.health import Offline, PrinterUnavailable, ReaderMissing, Ready
from station.core.identify import Identifying
from station.core.pairing import Pairing, Unpaired
from station.core.pins import PinCheck, PinSetup
from station.core.session import Done, Picking, Releasing
from station.core.state import Booting, SignedIn, User
from station.core.technician import Technician

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


def _jobs() -> tuple[Job, ...]:
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
        Job(
            id=f"job-{i}",
            name=name,
            pages=[12, 1, 3, 2, 24, 1, None][i],
            created=WALL - timedelta(minutes=[2, 0, 75, 3000, 14, 45, 9][i]),
            owner_id="user-anna",
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


def _tech(language: str, page: v.TechnicianPage, **changes: object) -> v.View:
    info = _info(
        language=language,
        version="0.1.0",
        hardware_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        organisation="Example GmbH",
        tp_id=4711,
        readers=(("ACS ACR122U PICC Interface 00 00", "ok"),),
        technician_pin_set=True,
        last_unknown_badge="0012345678",
        can_restart=True,
    )
    base: dict[str, object] = {
        "ticket": 1,
        "page": page,
        "expires_at": MONO + 300,
        "hostname": "release-station-3f",
        "addresses": ("192.168.20.41", "fe80::dea6:32ff:fe01:2345"),
    }
    base.update(changes)
    return v.View(info, Technician(**base))  # type: ignore[arg-type]


ANNA = User("user-anna", "Anna Schmidt-Hohenberger")
ANNA_SHORT = User("user-anna", "Anna")
BADGE = "04A1B2C3D4E501"


def _signed_in(shown: str) -> SignedIn:
    return SignedIn("user-anna", "anna.schmidt@example.com", "Anna Schmidt", shown)


def canned_views(language: str = "en") -> dict[str, v.View]:
    """Every screen with typical (and some long) content; keys are file-name friendly."""
    info = _info(language=language)
    unpaired = _info(language=language, paired=False, printer_name="", printer_location="", printer="unknown")

    def session(
        user: User, jobs: tuple[Job, ...], selected: frozenset[str], expires_at: float, **more: object
    ) -> v.View:
        return v.View(info, Picking(1, BADGE, user, expires_at, jobs, selected, **{"busy": "", **more}))  # type: ignore[arg-type]

    def done(
        outcome: v.DoneOutcome, jobs: tuple[v.JobProgressItem, ...], expires_at: float, **more: object
    ) -> v.View:
        return v.View(info, Done(1, BADGE, outcome, expires_at, jobs, ANNA, **more))  # type: ignore[arg-type]

    def unknown(reason: v.UnknownReason, expires_at: float, cause: Cause | None = None) -> v.View:
        return v.View(info, Unknown(1, reason, expires_at, BADGE, cause))

    views: dict[str, v.View] = {
        "booting": v.View(unpaired, Booting()),
        "unpaired": v.View(unpaired, Unpaired(1)),
        "unpaired-offline": v.View(
            unpaired,
            Unpaired(
                1,
                problem="offline",
                cause=Cause(Reason.OFFLINE, text="connection refused"),
                retry_at=MONO + 12,
            ),
        ),
        "needs-repair": v.View(
            info,
            Unpaired(
                1,
                repair=True,
                problem="server",
                cause=Cause(Reason.SERVER_ERROR, text="503 Service Unavailable"),
                retry_at=MONO + 30,
            ),
        ),
        "needs-repair-no-pin": v.View(unpaired, Unpaired(1, repair=True, problem="no_pin")),
        "unpaired-refused": v.View(
            unpaired,
            Unpaired(
                1,
                problem="refused",
                cause=Cause(Reason.PAIRING_REFUSED, text="client_not_allowed"),
                retry_at=MONO + 40,
            ),
        ),
        "unpaired-stopped": v.View(
            unpaired,
            Unpaired(
                1,
                problem="stopped",
                cause=Cause(
                    Reason.NOT_ENABLED,
                    text="refresh tokens for the client id 'release-station-demo': ask ezeep to enable"
                    " refresh tokens for it (a release station: pairing code grant, public client)",
                ),
            ),
        ),
        "pairing": v.View(unpaired, Pairing(1, PAIRING_CODE, PAIRING_URL, MONO + 287, short_url=PAIRING_URL)),
        "pairing-repair": v.View(
            info, Pairing(1, PAIRING_CODE, PAIRING_URL, MONO + 600, repair=True, short_url=PAIRING_URL)
        ),
        "ready": v.View(info, Ready()),
        "ready-just-paired": v.View(info, Ready(just_paired=True)),
        "offline": v.View(
            _info(language=language, cloud="down"), Offline("network", None, MONO - 60, MONO + 20)
        ),
        "offline-server": v.View(
            _info(language=language, cloud="down"),
            Offline("server", Cause(Reason.SERVER_ERROR, text="502 Bad Gateway"), MONO - 5),
        ),
        "offline-no-answer": v.View(
            _info(language=language, cloud="down"),
            Offline("network", Cause(Reason.NO_ANSWER), MONO - 5, MONO + 20),
        ),
        "printer-unavailable": v.View(
            _info(language=language, printer="down"), PrinterUnavailable("Offline")
        ),
        "reader-missing": v.View(
            _info(language=language, reader="down"), ReaderMissing("ACS ACR122U", "unplugged")
        ),
        "identifying": v.View(info, Identifying(1, BADGE)),
        "pin-technician": v.View(info, PinCheck(1, "technician", MONO + 30, error="wrong")),
        "pin-locked": v.View(info, PinCheck(1, "release", MONO + 30, error="locked", locked_until=MONO + 95)),
        "pin-blocked": v.View(info, PinCheck(1, "technician", MONO + 30, error="blocked")),
        "pin-blocked-badge": v.View(info, PinCheck(1, "release", MONO + 30, error="blocked")),
        "pin-setup-failed": v.View(info, PinSetup(1, "technician", error="failed")),
        "pin-setup-technician": v.View(info, PinSetup(1, "technician")),
        "pin-setup-mismatch": v.View(
            info, PinSetup(1, "release", error="mismatch", expires_at=MONO + 30, user=ANNA)
        ),
        "pin-setup-repeat": v.View(
            info, PinSetup(1, "release", first="2468", expires_at=MONO + 30, user=ANNA)
        ),
        "session": session(ANNA, _jobs(), frozenset({"job-0", "job-2"}), MONO + 45),
        "session-loading": session(ANNA_SHORT, (), frozenset(), MONO + 58, busy="loading"),
        "session-empty": session(ANNA_SHORT, (), frozenset(), MONO + 58),
        "session-confirm-delete": session(
            ANNA_SHORT, _jobs(), frozenset({"job-1", "job-3"}), MONO + 40, confirm_delete=("job-1", "job-3")
        ),
        "session-in-doubt": session(
            ANNA_SHORT,
            _jobs()[:3],
            frozenset(),
            MONO + 50,
            held_back=(("job-1", Cause(Reason.IN_DOUBT)),),
        ),
        "session-delete-failed": session(
            ANNA_SHORT,
            _jobs()[:2],
            frozenset(),
            MONO + 40,
            problem="delete_failed",
            cause=Cause(Reason.OFFLINE),
        ),
        "releasing": v.View(
            info, Releasing(1, BADGE, ANNA_SHORT, _progress(["printed", "printing", "sending", "waiting"]))
        ),
        "done": done("released", _progress(["printed", "printed", "printed"]), MONO + 8),
        "done-partly": done(
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
            retryable=_jobs()[1:2],
        ),
        "done-nothing": done("nothing_to_print", (), MONO + 5),
        "done-printer-offline": done(
            "printer_offline",
            _progress(
                ["held", "held"], dict.fromkeys((0, 1), Cause(Reason.PRINTER_OFFLINE, "Printer", "Offline"))
            ),
            MONO + 8,
        ),
        "unknown-random": unknown("random_uid", MONO + 9),
        "unknown-not-enrolled": unknown("not_enrolled", MONO + 9),
        "unknown-failed": unknown("enrolment_failed", MONO + 9, Cause(Reason.CANCELLED)),
        "unknown-too-many": unknown("too_many_badges", MONO + 9),
        "unknown-not-confirmed": unknown("not_confirmed", MONO + 9),
        "unknown-other-badge": unknown("other_badge", MONO + 9),
        "unknown-not-ezeep-user": unknown("not_ezeep_user", MONO + 9),
        "enrol": v.View(
            info,
            Enrolling(1, BADGE, "waiting", MONO + 290, ENROL_CODE, ENROL_QR_URL, short_url=ENROL_SHORT_URL),
        ),
        "enrol-confirm": v.View(
            info, Enrolling(1, BADGE, "confirm", MONO + 27, signed_in=_signed_in("Anna Schmidt"))
        ),
        "enrol-confirm-masked": v.View(
            info, Enrolling(1, BADGE, "confirm", MONO + 27, signed_in=_signed_in("a•••@example.com"))
        ),
        "enrol-saving": v.View(
            info, Enrolling(1, BADGE, "saving", MONO + 200, signed_in=_signed_in("Anna Schmidt"))
        ),
    }
    for page in get_args(v.TechnicianPage):
        if page not in ("reader_test", "enrol", "directory"):  # these need more than a page name, below
            views[f"tech-{page.replace('_', '-')}"] = _tech(language, page)
    views["tech-reader-test"] = _tech(
        language,
        "reader_test",
        reader_test=v.ReaderTestResult(
            "pcsc", "ACS ACR122U", "04A1B2C3D4E501", "04A1B2C3D4E501", "1302001234567"
        ),
    )
    views["tech-enrol"] = _tech(language, "enrol", enrol=v.TechEnrol("search", "0012345678"))
    views["tech-enrol-results"] = _tech(
        language,
        "enrol",
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
    views["tech-enrol-sign-in"] = _tech(
        language,
        "enrol",
        enrol=v.TechEnrol(
            "sign_in",
            "0012345678",
            query="anna",
            sign_in=v.SignInCode(PAIRING_CODE, PAIRING_URL, PAIRING_URL),
        ),
    )
    views["tech-enrol-confirm"] = _tech(
        language, "enrol", enrol=v.TechEnrol("confirm", "0099887766", chosen=anna, user_badges=badges[:1])
    )
    views["tech-enrol-confirm-full"] = _tech(
        language, "enrol", enrol=v.TechEnrol("confirm", "0099887766", chosen=anna, user_badges=badges)
    )
    views["tech-enrol-replaced"] = _tech(
        language, "enrol", enrol=v.TechEnrol("saved", "0099887766", chosen=anna, outcome="replaced")
    )
    views["tech-enrol-failed"] = _tech(
        language,
        "enrol",
        enrol=v.TechEnrol("failed", cause=Cause(Reason.BAD_CARD, text="card number 'x' is not hexadecimal")),
    )
    failing = v.DirectoryFacts(
        "ldap",
        write_back=False,
        last_success_age_s=17 * 60,
        entries=9876,
        local=12,
        failures=2,
        conflicts=1,
        not_ezeep_users=3,
        error="reading ldaps://dc1.example.com failed: LDAPSocketOpenError: socket connection error",
    )
    views["tech-directory"] = _tech(language, "directory", directory=failing)
    held_back = dataclasses.replace(failing, source="graph", write_back=True, held_back=True, error="…")
    views["tech-directory-held-back"] = _tech(language, "directory", directory=held_back)
    views["tech-directory-reading"] = _tech(language, "directory")
    views["tech-saved"] = _tech(language, "release_mode", message="saved")
    return views
