"""The LED and buzzer: the eight feedback patterns played through gpiozero.

Wiring (``[feedback]`` in the configuration): a green and a red LED, or one RGB LED (three
pins), and an active buzzer (one that sounds when powered), each on any GPIO pin, each active
high or low. Anything can be left out; a station with nothing wired gets a feedback that does
nothing and says so once in the log.

Where the station reads cards through an ACR122U on pcscd, that reader's own red/green LED and
buzzer play the patterns too (``reader_led``; see :func:`build_feedback`).

Every pattern uses only green, red and amber (both together), so it looks the same whether a
station has two LEDs or an RGB LED. The patterns (:data:`PROGRAMS`):

==================  ==============================================  ===========================
pattern             light                                           sound
==================  ==============================================  ===========================
ready               green, steady                                   none
read                amber flash (0.1 s), then dark                  one short beep
released            green for 2 s                                   two short beeps
nothing-to-print    amber for 1.6 s                                 one long beep (0.4 s)
unknown-card        red blinks three times                          three short beeps
error               red for 2 s                                     one 1-second beep
needs-pairing       red and green alternate every 0.5 s, until the  none
                    next pattern
technician          amber blinks slowly (1 s on, 1 s off), until    one click on entering
                    the next pattern
==================  ==============================================  ===========================

A pattern is a short program of frames (colour, buzzer, duration) played by one named daemon
thread, so LED and buzzer stay in step. :meth:`GpioFeedback.play` only hands the program to that
thread and returns; a new pattern interrupts the one playing at once.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from station.config import FeedbackSection
from station.errors import ConfigError
from station.feedback import Feedback, Pattern

if TYPE_CHECKING:
    from drivers.readers.base import Reader

log = logging.getLogger(__name__)

_JOIN_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Colour:
    """Which LED colours are lit."""

    red: bool
    green: bool


OFF = Colour(red=False, green=False)
GREEN = Colour(red=False, green=True)
RED = Colour(red=True, green=False)
AMBER = Colour(red=True, green=True)


@dataclass(frozen=True)
class Frame:
    """One step of a pattern: the light, the buzzer and how long; ``None`` holds until replaced."""

    colour: Colour
    beep: bool
    seconds: float | None


@dataclass(frozen=True)
class Program:
    """A pattern's frames; a program with ``loop_from`` repeats its frames from that index on."""

    frames: tuple[Frame, ...]
    loop_from: int | None = None


def _blinks(colour: Colour, times: int, on_s: float, off_s: float, *, beep: bool) -> tuple[Frame, ...]:
    """``colour`` (with a beep if asked) for ``on_s``, then dark and silent for ``off_s``, ``times`` times."""
    return tuple(f for _ in range(times) for f in (Frame(colour, beep, on_s), Frame(OFF, False, off_s)))


_END = Frame(OFF, False, None)

PROGRAMS: dict[Pattern, Program] = {
    Pattern.READY: Program((Frame(GREEN, False, None),)),
    Pattern.READ: Program((Frame(AMBER, True, 0.1), _END)),
    Pattern.RELEASED: Program(
        (
            Frame(GREEN, True, 0.1),
            Frame(GREEN, False, 0.1),
            Frame(GREEN, True, 0.1),
            Frame(GREEN, False, 1.7),
            _END,
        )
    ),
    Pattern.NOTHING_TO_PRINT: Program((Frame(AMBER, True, 0.4), Frame(AMBER, False, 1.2), _END)),
    Pattern.UNKNOWN_CARD: Program((*_blinks(RED, 3, 0.15, 0.15, beep=True), _END)),
    Pattern.ERROR: Program((Frame(RED, True, 1.0), Frame(RED, False, 1.0), _END)),
    Pattern.NEEDS_PAIRING: Program((Frame(RED, False, 0.5), Frame(GREEN, False, 0.5)), loop_from=0),
    Pattern.TECHNICIAN: Program(
        (
            Frame(AMBER, True, 0.05),
            Frame(AMBER, False, 0.95),
            Frame(OFF, False, 1.0),
            Frame(AMBER, False, 1.0),
        ),
        loop_from=2,
    ),
}
"""How each pattern is played; the table in the module docstring describes the same."""


class NullFeedback:
    """A feedback with no LED or buzzer: plays nothing, and says so once in the log."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self._told = threading.Event()

    def play(self, pattern: Pattern) -> None:
        if not self._told.is_set():
            self._told.set()
            log.info("no LED or buzzer (%s); feedback patterns are not shown", self.reason)

    def close(self) -> None:
        pass


class FeedbackGroup:
    """Several feedbacks played together, e.g. the GPIO LEDs and a reader's own LED."""

    def __init__(self, members: Sequence[Feedback]) -> None:
        self.members = tuple(members)

    def play(self, pattern: Pattern) -> None:
        for member in self.members:
            member.play(pattern)

    def close(self) -> None:
        for member in self.members:
            member.close()


Output = Callable[[Colour, bool], None]
"""Sets one device from a frame's colour and buzzer state."""


class GpioFeedback:
    """Plays patterns on gpiozero devices from one background thread.

    :param outputs: one setter per device (see :func:`build_feedback`).
    :param devices: the gpiozero devices, closed by :meth:`close`.
    :param speed: durations are divided by it (tests use a large value); 1.0 on a station.

    Example::

        feedback = build_feedback(config.feedback)
        feedback.play(Pattern.READY)
    """

    def __init__(self, outputs: Sequence[Output], devices: Sequence[Any], *, speed: float = 1.0) -> None:
        self._outputs = tuple(outputs)
        self._devices = tuple(devices)
        self._speed = speed
        self._lock = threading.Condition()
        self._next: Program | None = None
        self._shown = 0  # how many programs were shown through once; see wait_shown()
        self._asked = 0
        self._closed = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._player, name="feedback", daemon=True)
        self._thread.start()

    def play(self, pattern: Pattern) -> None:
        """Start ``pattern`` at once (interrupting the one playing); ignored after :meth:`close`."""
        with self._lock:
            if self._closed:
                return
            self._next = PROGRAMS[pattern]
            self._asked += 1
        self._wake.set()

    def wait_shown(self, timeout: float) -> bool:
        """Wait until the latest pattern was shown through once (a steady one: switched on).

        For tests and for shutdown, where an error pattern should be seen before the exit.
        """
        with self._lock:
            return self._lock.wait_for(lambda: self._shown >= self._asked, timeout)

    def close(self) -> None:
        """Stop the player, switch everything off and release the pins; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._thread.join(_JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            log.warning("the feedback thread did not stop in %g s", _JOIN_TIMEOUT_S)
        for device in self._devices:
            device.close()

    def _player(self) -> None:
        current: tuple[Colour, bool] | None = None
        while True:
            self._wake.wait()
            with self._lock:
                self._wake.clear()
                if self._closed:
                    break
                program, self._next = self._next, None
                asked = self._asked
            if program is not None:
                current = self._show(program, current, asked)
        self._set(OFF, False, current)

    def _show(self, program: Program, current: tuple[Colour, bool] | None, asked: int) -> tuple[Colour, bool]:
        """Play ``program`` until it ends or holds, or a new pattern or close interrupts it."""
        index = 0
        while True:
            frame = program.frames[index]
            current = self._set(frame.colour, frame.beep, current)
            if frame.seconds is None:
                self._done(asked)
                self._wake.wait()
                return current
            if self._wake.wait(frame.seconds / self._speed):
                return current
            index += 1
            if index == len(program.frames):
                self._done(asked)
                if program.loop_from is None:
                    return current
                index = program.loop_from

    def _done(self, asked: int) -> None:
        with self._lock:
            self._shown = max(self._shown, asked)
            self._lock.notify_all()

    def _set(self, colour: Colour, beep: bool, current: tuple[Colour, bool] | None) -> tuple[Colour, bool]:
        if current != (colour, beep):
            for output in self._outputs:
                output(colour, beep)
        return colour, beep


def build_feedback(
    section: FeedbackSection,
    *,
    readers: Sequence[Reader] = (),
    pin_factory: Any = None,
    source: str = "(configuration)",
    speed: float = 1.0,
) -> Feedback:
    """The feedback for the wired pins, or a :class:`NullFeedback` when there is no GPIO.

    With ``reader_led`` set and a PC/SC reader among ``readers``, the LEDs and buzzer of
    ACR122U readers (:class:`~drivers.readers.pcsc.ReaderLedFeedback`) play the patterns too.
    Only then: asking pcscd about readers would start a socket-activated pcscd, which takes an
    ACR122U away from nfcpy.

    :param section: the ``[feedback]`` configuration.
    :param readers: the readers the station runs.
    :param pin_factory: a gpiozero pin factory (tests pass ``MockFactory()``); ``None`` lets
        gpiozero choose (``$GPIOZERO_PIN_FACTORY``, else lgpio on a Pi).
    :param source: the configuration file, named in errors.
    :param speed: passed to :class:`GpioFeedback`.
    :raises ConfigError: a pin name is not valid or a pin is used twice.
    """
    feedback = _gpio_feedback(section, pin_factory, source, speed)
    if section.reader_led and any(reader.kind == "pcsc" for reader in readers):
        from drivers.readers.pcsc import ReaderLedFeedback

        return FeedbackGroup([feedback, ReaderLedFeedback()])
    return feedback


def _gpio_feedback(section: FeedbackSection, pin_factory: Any, source: str, speed: float) -> Feedback:
    if not any((section.led_green, section.led_red, section.led_rgb, section.buzzer)):
        return NullFeedback("no pins configured in [feedback]")
    from gpiozero.exc import GPIOPinInUse, PinFactoryFallback, PinInvalidPin

    wiring = _Wiring(section, pin_factory)
    try:
        with warnings.catch_warnings():
            # gpiozero warns for each factory it could not load; one log line below is enough
            warnings.simplefilter("ignore", PinFactoryFallback)
            wiring.build()
    except (PinInvalidPin, GPIOPinInUse) as exc:
        wiring.close()
        raise ConfigError(source, wiring.key, str(exc)) from exc
    except Exception as exc:  # no pin library, no gpiochip, no permission: run without lights
        wiring.close()
        log.warning("GPIO is not available, so no LED or buzzer: %s", exc)
        return NullFeedback(f"no GPIO on this machine: {exc}")
    except BaseException:
        wiring.close()
        raise
    return GpioFeedback(wiring.outputs, wiring.devices, speed=speed)


class _Wiring:
    """Builds the gpiozero devices one by one, remembering the key of the one being built."""

    def __init__(self, section: FeedbackSection, pin_factory: Any) -> None:
        self.section = section
        self.pin_factory = pin_factory
        self.key = "feedback"
        self.devices: list[Any] = []
        self.outputs: list[Output] = []

    def build(self) -> None:
        import gpiozero

        s, factory = self.section, self.pin_factory
        if s.led_rgb:
            self.key = "feedback.led_rgb"
            rgb = gpiozero.RGBLED(*s.led_rgb, active_high=s.led_active_high, pwm=False, pin_factory=factory)
            self._add(rgb, lambda c, b: (int(c.red), int(c.green), 0))
        if s.led_green:
            self.key = "feedback.led_green"
            self._add(gpiozero.LED(s.led_green, active_high=s.led_active_high, pin_factory=factory), _green)
        if s.led_red:
            self.key = "feedback.led_red"
            self._add(gpiozero.LED(s.led_red, active_high=s.led_active_high, pin_factory=factory), _red)
        if s.buzzer:
            self.key = "feedback.buzzer"
            self._add(gpiozero.Buzzer(s.buzzer, active_high=s.buzzer_active_high, pin_factory=factory), _beep)

    def _add(self, device: Any, value: Callable[[Colour, bool], object]) -> None:
        self.devices.append(device)
        self.outputs.append(lambda colour, beep: setattr(device, "value", value(colour, beep)))

    def close(self) -> None:
        for device in self.devices:
            device.close()


def _green(colour: Colour, beep: bool) -> bool:
    return colour.green


def _red(colour: Colour, beep: bool) -> bool:
    return colour.red


def _beep(colour: Colour, beep: bool) -> bool:
    return beep
