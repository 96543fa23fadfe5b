"""PC/SC readers through pcscd and pyscard, and the ACR122U's own LEDs and buzzer.

:class:`PcscReader` watches every reader pcscd sees (or those whose name contains one of the
configured substrings), several at once, on one thread. It waits in ``SCardGetStatusChange``
on all of them and on pcscd's plug-and-play pseudo reader, so a reader plugged in later is
picked up at once. When a card arrives it asks the reader for the UID with the PC/SC part-3
pseudo-APDU ``FF CA 00 00 00`` (get data); each presentation is read once, however long the
card rests on the reader.

pyscard's own ``CardMonitor`` thread dies silently when pcscd goes away. This reader talks to
pcscd through pyscard's low-level ``smartcard.scard`` API instead and supervises its context:
when pcscd stops, restarts or loses the reader, the call fails with ``SCARD_E_NO_SERVICE`` /
``SCARD_F_COMM_ERROR`` and the reader reports itself unhealthy, builds a new context every
``retry_s`` and is back as soon as pcscd is (within a second of pcscd's restart).

:class:`ReaderLedFeedback` plays the station's feedback patterns on the red/green LED and
buzzer of ACR122U readers, through the reader's escape command (``FF 00 40 …`` sent with
``SCardControl``). The CCID driver allows escape commands only when ``ifdDriverOptions``
has bit ``0x0001`` set in its ``Info.plist``.

pyscard itself is imported when this module first talks to pcscd: the reader registry names
this driver at every start, and a station with another kind of reader should not pay for it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from drivers.readers.base import Absent, Reader, ReaderDriver, ReaderError, StopEvent
from station.events import BadgeRead, ReaderKind, ReaderSink
from station.feedback import Pattern
from station.findings import Finding, Status
from station.reader_kinds import PCSC, PcscSettings

if TYPE_CHECKING:
    from smartcard import scard

    from drivers.readers.auto import Survey
    from station.config import ReaderSection
else:

    class _LoadedWhenUsed:
        """``smartcard.scard``, imported at the first use of one of its names."""

        def __getattr__(self, name: str) -> Any:
            from smartcard import scard

            return getattr(scard, name)

    scard = _LoadedWhenUsed()

log = logging.getLogger(__name__)

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"
"""pcscd's pseudo reader whose state changes when a reader is plugged in or out."""

GET_UID = bytes.fromhex("FFCA000000")
"""PC/SC part 3 "get data": the UID of the contactless card on the reader."""


@functools.cache
def _service_gone() -> frozenset[int]:
    """Errors after which the context is useless: pcscd stopped, restarted or was never there.

    libpcsclite calls a connection that pcscd closed without answering a "security violation":
    that is what a call made while pcscd shuts down gets (and what a polkit refusal looks like).
    """
    return frozenset(
        {
            scard.SCARD_E_NO_SERVICE,
            scard.SCARD_E_SERVICE_STOPPED,
            scard.SCARD_F_COMM_ERROR,
            scard.SCARD_E_INVALID_HANDLE,
            scard.SCARD_E_NO_MEMORY,
            scard.SCARD_W_SECURITY_VIOLATION,
        }
    )


@functools.cache
def _readers_changed() -> frozenset[int]:
    """Errors that only mean the reader list changed under us."""
    return frozenset(
        {scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_NO_READERS_AVAILABLE}
    )


_STATE_COUNTER_SHIFT = 16  # pcsc-lite counts card events in the upper 16 bits of the state


class PcscUnavailable(ReaderError):
    """pcscd is not running, stopped or restarted; the context must be built again."""

    def __init__(self, result: int) -> None:
        self.result = result
        hint = ""
        if result == scard.SCARD_W_SECURITY_VIOLATION:
            hint = ": pcscd closed the connection; it is stopping, or its polkit rules refuse this user"
        super().__init__(f"pcscd is not available ({_message(result)}){hint}")


def _message(result: int) -> str:
    return f"{scard.SCardGetErrorMessage(result).rstrip('. ')}, 0x{result & 0xFFFFFFFF:08X}"


def _check(result: int, what: str) -> None:
    if result == scard.SCARD_S_SUCCESS:
        return
    if result in _service_gone():
        raise PcscUnavailable(result)
    raise ReaderError(f"{what} failed: {_message(result)}")


class PcscContext:
    """One ``SCARDCONTEXT``: established on entry, released on exit (also after pcscd died)."""

    def __init__(self) -> None:
        self.handle: int | None = None

    def __enter__(self) -> PcscContext:
        result, handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(result, "SCardEstablishContext")
        self.handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            scard.SCardReleaseContext(handle)  # fails harmlessly when pcscd is gone

    def readers(self) -> list[str]:
        """The names of the readers pcscd sees now (none is not an error)."""
        result, names = scard.SCardListReaders(self.handle, [])
        if result in (scard.SCARD_E_NO_READERS_AVAILABLE, scard.SCARD_E_READER_UNAVAILABLE):
            return []
        _check(result, "SCardListReaders")
        return list(names)


def list_pcsc_readers() -> list[str]:
    """The readers pcscd sees now; raises :class:`PcscUnavailable` when pcscd is not running."""
    with PcscContext() as context:
        return context.readers()


class PcscReader(Reader):
    """Every PC/SC reader pcscd sees (or the ones named), read on one thread.

    :param readers: substrings of the reader names to use (``pcsc_readers`` in the
        configuration); empty: every reader.
    :param name: how this group of readers is shown in health events; each read carries the
        name of the PC/SC reader it came from.
    :param poll_s: the longest wait in pcscd before looking at the stop event again.
    :param retry_s: the pause between attempts to reach pcscd while it is away.

    Health: ok while pcscd runs and at least one wanted reader is attached (the detail lists
    them); not ok with the reason otherwise. A new event is sent only when that changes.

    Example::

        reader = PcscReader(readers=["ACR122"])
        ReaderThread(reader, sink).start()
    """

    kind: ClassVar[ReaderKind] = PCSC.name
    detects_removal: ClassVar[bool] = True

    def __init__(
        self, *, readers: Sequence[str] = (), name: str = "PC/SC", poll_s: float = 0.5, retry_s: float = 0.5
    ) -> None:
        super().__init__(name=name)
        self.wanted = tuple(readers)
        self.poll_ms = max(1, round(poll_s * 1000))
        self._retry_s = retry_s

    def wants(self, reader: str) -> bool:
        """Whether the PC/SC reader named ``reader`` is one of those to use."""
        return not self.wanted or any(part.casefold() in reader.casefold() for part in self.wanted)

    def run(self, sink: ReaderSink, stop: StopEvent) -> None:
        health = _HealthReporter(self, sink)
        while not stop.is_set():
            try:
                with PcscContext() as context:
                    _Watch(self, context, sink, health).run(stop)
            except PcscUnavailable as exc:
                health.report(False, str(exc))
                log.debug("%s: %s; trying again", self.name, exc)
                stop.wait(self._retry_s)

    def read_uid(self, context: PcscContext, reader: str) -> BadgeRead | None:
        """Ask the card on ``reader`` for its UID; None (and a log line) if it cannot tell."""
        protocols = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        result, card, protocol = scard.SCardConnect(
            context.handle, reader, scard.SCARD_SHARE_SHARED, protocols
        )
        if result in _service_gone():
            raise PcscUnavailable(result)
        if result != scard.SCARD_S_SUCCESS:
            log.info("%s: the card could not be read (%s)", reader, _message(result))
            return None
        try:
            result, response = scard.SCardTransmit(card, protocol, list(GET_UID))
            at = time.monotonic()
        finally:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        if result in _service_gone():
            raise PcscUnavailable(result)
        if result != scard.SCARD_S_SUCCESS:
            log.info("%s: the card was taken away while being read (%s)", reader, _message(result))
            return None
        answer = bytes(response)
        uid, status = answer[:-2], answer[-2:]
        if status != b"\x90\x00" or not 1 <= len(uid) <= 10:
            log.warning(
                "%s: the card answered get-UID with %d bytes and status %s; not a contactless card, "
                "or the reader does not support FF CA",
                reader,
                len(uid),
                status.hex().upper() or "(none)",
            )
            return None
        return BadgeRead(uid, self.kind, reader, at, uid.hex().upper())


class _HealthReporter:
    """Sends the group's health only when it changes."""

    def __init__(self, reader: PcscReader, sink: ReaderSink) -> None:
        self._reader = reader
        self._sink = sink
        self._last: tuple[bool, str] | None = None

    def report(self, ok: bool, detail: str) -> None:
        if self._last != (ok, detail):
            self._last = (ok, detail)
            self._sink(self._reader.health(ok, detail))


class _Watch:
    """One context's life: follow the readers and their cards until pcscd goes or stop is set."""

    def __init__(self, reader: PcscReader, context: PcscContext, sink: ReaderSink, health: _HealthReporter):
        self._reader = reader
        self._context = context
        self._sink = sink
        self._health = health
        self._states: dict[str, int] = {}  # reader name → the state pcscd last reported
        self._pnp_state = scard.SCARD_STATE_UNAWARE
        self._pnp = True  # pcscd supports the plug-and-play pseudo reader

    def run(self, stop: threading.Event) -> None:
        self._refresh()
        while not stop.is_set():
            request = list(self._states.items())
            if self._pnp:
                request.append((PNP_NOTIFICATION, self._pnp_state))
            result, states = scard.SCardGetStatusChange(self._context.handle, self._reader.poll_ms, request)
            if result == scard.SCARD_E_TIMEOUT:
                if not self._pnp:
                    self._refresh()
                continue
            if result in _readers_changed():
                self._refresh()
                continue
            _check(result, "SCardGetStatusChange")
            if self._changes(states):
                self._refresh()

    def _changes(self, states: list[tuple[str, int, Any]]) -> bool:
        """Read new cards; True when the reader list must be read again."""
        refresh = False
        for name, event, _atr in states:
            if name == PNP_NOTIFICATION:
                if event & scard.SCARD_STATE_UNKNOWN:
                    self._pnp = False  # an old pcscd: look at the reader list on every timeout
                refresh |= bool(event & scard.SCARD_STATE_CHANGED)
                self._pnp_state = event
                continue
            gone = scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE | scard.SCARD_STATE_IGNORE
            if event & gone:
                refresh = True
            elif _new_presentation(self._states.get(name, scard.SCARD_STATE_UNAWARE), event):
                read = self._reader.read_uid(self._context, name)
                if read is not None:
                    self._sink(read)
            self._states[name] = event
        return refresh

    def _refresh(self) -> None:
        names = [name for name in self._context.readers() if self._reader.wants(name)]
        self._states = {name: self._states.get(name, scard.SCARD_STATE_UNAWARE) for name in names}
        if names:
            self._health.report(True, "readers: " + ", ".join(names))
        elif self._reader.wanted:
            self._health.report(False, "no PC/SC reader named " + " or ".join(self._reader.wanted))
        else:
            self._health.report(False, "no PC/SC reader attached")


def _new_presentation(previous: int, event: int) -> bool:
    """A card is on the reader that was not there at the previous look (or was swapped since).

    A mute card (pcscd could not get its ATR yet) is not there: when it answers later, that is
    the presentation.
    """
    if not _answers(event):
        return False
    if not _answers(previous):
        return True
    # Still present, but pcscd counted a removal and an insertion in between.
    return previous >> _STATE_COUNTER_SHIFT != event >> _STATE_COUNTER_SHIFT


def _answers(state: int) -> bool:
    return bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE


# -- the ACR122U's LEDs and buzzer ---------------------------------------------------------------

ACR122_ESCAPE_CODE = 3500
"""IOCTL_CCID_ESCAPE as pcsc-lite's CCID driver numbers it (``SCARD_CTL_CODE(3500)``)."""

# Per pattern: LED state control (P2), T1 and T2 in units of 100 ms, repetitions, buzzer link.
# P2 bits: 0 final red, 1 final green, 2 red mask, 3 green mask, 4 initial red blink,
# 5 initial green blink, 6 red blink mask, 7 green blink mask. Buzzer: 1 = on during T1.
_GREEN, _RED, _BOTH = 0x0E, 0x0D, 0x0F  # final states with both masks set
_ACR122_PATTERNS: dict[Pattern, tuple[int, int, int, int, int]] = {
    Pattern.READY: (_GREEN, 1, 1, 1, 0),
    Pattern.READ: (_GREEN | 0x20 | 0x80, 1, 1, 1, 1),
    Pattern.RELEASED: (_GREEN | 0x20 | 0x80, 2, 2, 3, 1),
    Pattern.NOTHING_TO_PRINT: (_GREEN | 0x10 | 0x20 | 0x40 | 0x80, 3, 3, 1, 1),
    Pattern.UNKNOWN_CARD: (_GREEN | 0x10 | 0x40, 2, 2, 2, 1),
    Pattern.ERROR: (_RED | 0x10 | 0x40, 3, 2, 3, 1),
    Pattern.NEEDS_PAIRING: (_BOTH, 1, 1, 1, 0),
    Pattern.TECHNICIAN: (_BOTH | 0x10 | 0x40 | 0x80, 5, 5, 2, 0),
}


def acr122_led_command(pattern: Pattern) -> bytes:
    """The ACR122U pseudo-APDU ``FF 00 40 P2 04 T1 T2 REP BUZ`` that shows ``pattern``."""
    p2, t1, t2, repeat, buzzer = _ACR122_PATTERNS[pattern]
    return bytes([0xFF, 0x00, 0x40, p2, 0x04, t1, t2, repeat, buzzer])


class ReaderLedFeedback:
    """A :class:`station.feedback.Feedback` on the LEDs and buzzer of ACR122U readers.

    Patterns are sent on a thread of its own, because the reader answers only after it has
    finished blinking; if several are asked for meanwhile, only the newest is shown. Readers
    whose name does not contain ``match`` are left alone, so with none attached this does
    nothing.

    :param match: the substring that marks a reader with the ACR122U escape command.

    Only the command bytes are tested (no ACR122U is available to the tests).
    """

    def __init__(self, *, match: str = "ACR122") -> None:
        self._match = match
        self._wake = threading.Condition()
        self._pending: Pattern | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="reader-led", daemon=True)
        self._thread.start()

    def play(self, pattern: Pattern) -> None:
        with self._wake:
            self._pending = pattern
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(5.0)

    def _work(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._closed or self._pending is not None)
                if self._closed:
                    return
                pattern, self._pending = self._pending, None
            if pattern is not None:
                self._show(pattern)

    def _show(self, pattern: Pattern) -> None:
        command = acr122_led_command(pattern)
        try:
            readers = [name for name in list_pcsc_readers() if self._match in name]
            for reader in readers:
                _send_escape(reader, command)
        except ReaderError as exc:  # the LED is a nicety: never let it disturb reading
            log.debug("reader LED: %s", exc)


def _send_escape(reader: str, command: bytes) -> None:
    with PcscContext() as context:
        result, card, _protocol = scard.SCardConnect(context.handle, reader, scard.SCARD_SHARE_DIRECT, 0)
        _check(result, f"connecting to {reader} for its LED")
        try:
            result, _response = scard.SCardControl(
                card, scard.SCARD_CTL_CODE(ACR122_ESCAPE_CODE), list(command)
            )
            _check(result, f"the LED command on {reader}")
        finally:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)


# -- registration --------------------------------------------------------------------------


def _open(section: ReaderSection) -> PcscReader:
    return PcscReader(readers=section.of(PcscSettings).pcsc_readers)


def _attached(section: ReaderSection, found: Survey) -> bool:
    reader = _open(section)
    return any(reader.wants(name) for name in found.pcscd.readers)


def _absent(section: ReaderSection) -> Absent:
    named = " or ".join(section.of(PcscSettings).pcsc_readers)
    return Absent(
        f"pcscd sees no reader named {named}" if named else "pcscd sees no reader",
        "plug the reader in, or correct reader.pcsc_readers (names as pcscd shows them above)",
    )


def _pcscd_finding(section: ReaderSection, found: Survey) -> list[Finding]:
    wanted = section.kind in ("auto", PCSC.name)  # auto falls back to PC/SC
    if not found.pcscd.running:
        status: Status = "fail" if section.kind == PCSC.name else "warn" if wanted else "ok"
        fix = "install and start it: sudo apt install pcscd && sudo systemctl enable --now pcscd.socket"
        return [Finding(status, "pcscd", f"not running ({found.pcscd.error})", fix)]
    if found.pcscd.readers:
        return [Finding("ok", "pcscd", "running; readers: " + ", ".join(found.pcscd.readers))]
    return [
        Finding(
            "warn" if wanted else "ok",
            "pcscd",
            "running, but it sees no reader",
            "plug in the PC/SC reader; an ACR122U needs the kernel NFC driver out of the way "
            "and the libccid package",
        )
    ]


DRIVER = ReaderDriver(PCSC, _open, _attached, _absent, _pcscd_finding, usb=True)
