"""From the core's state to the view the UI draws: ``view_of(core) -> View``, a pure function.

The idle mode has four faces, chosen by health in this order: a reader missing (nothing works
without one), ezeep offline, the printer unavailable, else ready. That is why those screens come
and go by themselves: no transition is needed, only a change of health.
"""

from __future__ import annotations

from station.core.state import (
    Booting,
    CoreState,
    Done,
    Enrolling,
    Identifying,
    Idle,
    Pairing,
    Picking,
    PinCheck,
    PinSetup,
    Releasing,
    Technician,
    Unknown,
    Unpaired,
)
from station.core.view import (
    BootingView,
    DoneView,
    EnrolView,
    Health,
    IdentifyingView,
    JobItem,
    NeedsRepairView,
    OfflineView,
    PairingView,
    PinEntryView,
    PinSetupStage,
    PinSetupView,
    PrinterUnavailableView,
    ReaderMissingView,
    ReadyView,
    ReleasingView,
    SessionView,
    StationInfo,
    TechnicianView,
    UnknownBadgeView,
    UnpairedView,
    View,
)
from station.pin import pin_digits


def _reader_health(core: CoreState) -> Health:
    if not core.readers:
        return "unknown"
    return "ok" if any(reader.ok for reader in core.readers) else "down"


def _printer_health(core: CoreState) -> Health:
    if core.printer is None:
        return "unknown"
    return "ok" if core.printer.online else "down"


def info_of(core: CoreState) -> StationInfo:
    printer = core.printer
    return StationInfo(
        station_name=core.identity.station_name,
        language=core.prefs.language,
        release_mode=core.prefs.release_mode,
        printer_name=printer.name if printer else "",
        printer_location=printer.location if printer else "",
        cloud=core.cloud.status,
        reader=_reader_health(core),
        printer=_printer_health(core),
        paired=core.paired,
    )


def _idle(core: CoreState, mode: Idle, info: StationInfo) -> View:
    if info.reader == "down":
        reader = core.readers[-1]
        return ReaderMissingView(info, reader.name, reader.detail)
    cloud = core.cloud
    if cloud.status == "down":
        return OfflineView(info, cloud.reason, cloud.cause, cloud.since, cloud.retry_at)
    if core.printer is not None and info.printer == "down":
        return PrinterUnavailableView(info, core.printer.status)
    return ReadyView(info, just_paired=mode.just_paired)


def _unpaired(mode: Unpaired, info: StationInfo) -> View:
    if mode.repair:
        return NeedsRepairView(info, mode.problem, mode.cause, mode.retry_at)
    return UnpairedView(info, mode.problem, mode.cause, mode.retry_at)


def _session(mode: Picking, info: StationInfo) -> View:
    jobs = tuple(JobItem(job.id, job.name, job.pages, job.created) for job in mode.jobs)
    return SessionView(
        info,
        mode.user.name,
        jobs,
        mode.selected,
        mode.expires_at,
        confirm_delete=mode.confirm_delete,
        busy=mode.busy,
        problem=mode.problem,
        cause=mode.cause,
    )


def _technician(core: CoreState, mode: Technician, info: StationInfo) -> View:
    binding = core.binding
    return TechnicianView(
        info,
        mode.page,
        mode.expires_at,
        core.identity.version,
        hardware_id=core.identity.hardware_id,
        organisation=binding.organisation if binding else "",
        tp_id=binding.tp_id if binding else None,
        session_timeout_s=core.prefs.session_timeout_s,
        hostname=mode.hostname,
        addresses=mode.addresses,
        readers=tuple((r.name, "ok" if r.ok else "down") for r in core.readers),
        reader_test=mode.reader_test,
        enrol=mode.enrol,
        technician_pin_set="technician" in core.pins,
        release_pins_on="release" in core.pins,
        last_unknown_badge=core.last_unknown,
        can_restart=core.tuning.can_restart,
        busy=mode.busy,
        message=mode.message,
    )


def _pin_setup(mode: PinSetup, info: StationInfo) -> View:
    low, high = pin_digits(mode.purpose)
    stage: PinSetupStage = "saving" if mode.saving else "repeat" if mode.first else "choose"
    return PinSetupView(info, mode.purpose, stage, low, high, mode.error, mode.expires_at)


def view_of(core: CoreState) -> View:  # noqa: PLR0911  # one return per mode reads best
    """The view of ``core``: everything the current screen needs, nothing of a past session."""
    info = info_of(core)
    mode = core.mode
    if isinstance(mode, Idle):
        return _idle(core, mode, info)
    if isinstance(mode, Picking):
        return _session(mode, info)
    if isinstance(mode, Technician):
        return _technician(core, mode, info)
    if isinstance(mode, Unpaired):
        return _unpaired(mode, info)
    if isinstance(mode, Pairing):
        return PairingView(
            info, mode.code, mode.short_url, mode.auth_url, mode.expires_at, mode.repair, core.paired
        )
    if isinstance(mode, Identifying):
        return IdentifyingView(info)
    if isinstance(mode, PinSetup):
        return _pin_setup(mode, info)
    if isinstance(mode, PinCheck):
        return PinEntryView(info, mode.purpose, mode.expires_at, mode.error, mode.locked_until, mode.checking)
    if isinstance(mode, Releasing):
        return ReleasingView(info, mode.user.name, mode.jobs)
    if isinstance(mode, Done):
        return DoneView(info, mode.outcome, mode.jobs, mode.expires_at, bool(mode.retryable), mode.cause)
    if isinstance(mode, Unknown):
        return UnknownBadgeView(info, mode.reason, mode.expires_at, mode.cause)
    if isinstance(mode, Enrolling):
        return EnrolView(
            info,
            mode.stage,
            mode.expires_at,
            mode.code,
            mode.short_url,
            mode.auth_url,
            mode.signed_in.shown if mode.signed_in else "",
        )
    assert isinstance(mode, Booting)
    return BootingView(info)
