"""Keyboard-wedge RFID readers (USB readers that type the card number) through evdev.

Which device: a stable ``/dev/input/by-id/usb-…-event-kbd`` path (``reader.wedge_device``), or
the reader's USB id ``vvvv:pppp`` (``reader.wedge_usb_id``, as ``lsusb`` shows it), for which
every input device is scanned. A reader that shows up as several input devices (keyboard,
consumer keys) is matched on the one that has digit keys.

The device is grabbed while the reader runs, so its keystrokes reach nothing else (not the
console, not the touchscreen UI). Key codes are decoded by :mod:`drivers.readers.keymap`, so
the keyboard layout does not matter. A wedge reader cannot tell when a card is taken away:
same-card suppression is left to the time window of :class:`~drivers.badges.BadgeFilter`.

The service user needs read access to the device: the udev rule in ``config/udev`` (or
membership of the ``input`` group) gives it.

evdev (with the key tables of :mod:`drivers.readers.keymap`) is imported when a reader runs:
most stations have none, and it costs the start of every station about 10 ms here.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar, Protocol

from drivers.readers.base import Absent, Reader, ReaderDriver, ReaderError, StopEvent
from station.events import BadgeRead, ReaderKind, ReaderSink
from station.reader_kinds import WEDGE, WedgeSettings

if TYPE_CHECKING:
    from drivers.readers.auto import Survey
    from drivers.readers.keymap import KeyEvent, WedgeFormat
    from station.config import ReaderSection

log = logging.getLogger(__name__)


class InputDevice(Protocol):
    """What the reader needs of an ``evdev.InputDevice``."""

    @property
    def fd(self) -> int: ...
    @property
    def name(self) -> str: ...
    def read(self) -> Iterable[KeyEvent]: ...
    def grab(self) -> None: ...
    def ungrab(self) -> None: ...
    def close(self) -> None: ...


def open_wedge_device(path: str = "", usb_id: str = "") -> InputDevice:
    """Open the reader's input device by path, else by USB ``vendor:product``.

    :raises ReaderError: no such device, or it cannot be opened (permissions).
    """
    import evdev

    if path:
        try:
            return evdev.InputDevice(path)
        except OSError as exc:
            raise ReaderError(f"cannot open the keyboard-wedge reader {path}: {exc.strerror}") from exc
    if not usb_id:
        raise ReaderError("no keyboard-wedge reader configured (reader.wedge_device or reader.wedge_usb_id)")
    vendor, product = (int(part, 16) for part in usb_id.split(":"))
    for candidate in evdev.list_devices():
        try:
            device = evdev.InputDevice(candidate)
        except OSError:
            continue  # another user's device, or gone since the listing
        keys = device.capabilities().get(evdev.ecodes.EV_KEY, [])
        if (device.info.vendor, device.info.product) == (vendor, product) and evdev.ecodes.KEY_1 in keys:
            return device
        device.close()
    raise ReaderError(f"no keyboard-wedge reader with USB id {usb_id} is attached")


class WedgeReader(Reader):
    """A USB reader that types card numbers, read through evdev.

    :param device_path: the ``/dev/input/by-id/…`` path; takes precedence over ``usb_id``.
    :param usb_id: ``vvvv:pppp`` in hex, used when no path is given.
    :param fmt: ``"decimal"`` or ``"hex"``: what the reader types.
    :param key_timeout_s: a read also ends after this long without a key.
    :param opener: opens the device (tests pass one that replays a recording).
    :param clock: the monotonic clock stamped on each read.

    Example::

        reader = WedgeReader(device_path="/dev/input/by-id/usb-08ff_0009-event-kbd")
    """

    kind: ClassVar[ReaderKind] = WEDGE.name
    detects_removal: ClassVar[bool] = False

    def __init__(
        self,
        *,
        device_path: str = "",
        usb_id: str = "",
        fmt: WedgeFormat = "decimal",
        key_timeout_s: float = 0.1,
        opener: Callable[[str, str], InputDevice] = open_wedge_device,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name=device_path or (f"usb {usb_id}" if usb_id else "keyboard wedge"))
        self._device_path = device_path
        self._usb_id = usb_id
        self._fmt = fmt
        self._key_timeout_s = key_timeout_s
        self._opener = opener
        self._clock = clock

    def run(self, sink: ReaderSink, stop: StopEvent) -> None:
        device = self._opener(self._device_path, self._usb_id)
        try:
            try:
                device.grab()
            except OSError as exc:
                raise ReaderError(f"cannot take the keyboard-wedge reader for itself: {exc}") from exc
            try:
                sink(self.health(True, device.name))
                self._read(device, sink, stop)
            finally:
                try:
                    device.ungrab()
                except OSError:
                    log.debug("ungrab failed; the device is probably gone")
        finally:
            device.close()

    def _read(self, device: InputDevice, sink: ReaderSink, stop: StopEvent) -> None:
        from drivers.readers.keymap import WedgeDecoder

        decoder = WedgeDecoder(fmt=self._fmt, key_timeout_s=self._key_timeout_s)
        while not stop.is_set():
            # Without a read under way no timeout: a key or the stop ends the wait.
            timeout = self._key_timeout_s if decoder.pending else None
            try:
                readable, _, _ = select.select([device.fd, stop.fileno()], [], [], timeout)
                keys = device.fd in readable
                texts = [t for event in device.read() for t in decoder.feed(event)] if keys else []
            except BlockingIOError:
                texts = []
            except OSError as exc:
                raise ReaderError(f"the keyboard-wedge reader went away: {exc.strerror or exc}") from exc
            if not readable:
                texts = decoder.flush()
            for text in texts:
                self._emit(text, sink)

    def _emit(self, text: str, sink: ReaderSink) -> None:
        from drivers.readers.keymap import text_to_uid

        try:
            uid = text_to_uid(text, self._fmt)
        except ValueError as exc:
            log.warning("discarded a read from %s: %s", self.name, exc)
            return
        sink(BadgeRead(uid, self.kind, self.name, self._clock(), text))


# -- registration --------------------------------------------------------------------------


def _open(section: ReaderSection) -> WedgeReader:
    settings = section.of(WedgeSettings)
    return WedgeReader(
        device_path=settings.wedge_device,
        usb_id=settings.wedge_usb_id,
        fmt=settings.wedge_format,
        key_timeout_s=settings.wedge_key_timeout_ms / 1000,
    )


def _attached(section: ReaderSection, found: Survey) -> bool:
    return bool(found.wedge)


def _absent(section: ReaderSection) -> Absent:
    settings = section.of(WedgeSettings)
    where = settings.wedge_device or settings.wedge_usb_id or "(not configured)"
    return Absent(
        f"the keyboard-wedge reader {where} is not attached",
        "plug it in; set reader.wedge_device to its /dev/input/by-id/… path or reader.wedge_usb_id",
    )


DRIVER = ReaderDriver(WEDGE, _open, _attached, _absent)
