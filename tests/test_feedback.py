"""LED and buzzer patterns through gpiozero's mock pins: each pattern's pin history."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from drivers.feedback import PROGRAMS, FeedbackGroup, GpioFeedback, NullFeedback, build_feedback
from station.config import FeedbackSection
from station.errors import ConfigError
from station.feedback import Pattern

WAIT_S = 10.0  # an upper bound against hangs, never a speed assertion
SPEED = 1000.0  # every duration a thousand times shorter: the order is what is checked
TWO_LEDS = FeedbackSection(led_green="GPIO17", led_red="GPIO27", buzzer="GPIO22")
F, T = False, True


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    try:
        yield factory
    finally:
        factory.close()


def history(factory: MockFactory, pin: str) -> list[bool]:
    return [bool(s.state) for s in factory.pin(pin).states]


def played(factory: MockFactory, section: FeedbackSection, pattern: Pattern) -> GpioFeedback:
    feedback = build_feedback(section, pin_factory=factory, speed=SPEED)
    assert isinstance(feedback, GpioFeedback)
    feedback.play(pattern)
    assert feedback.wait_shown(WAIT_S)
    return feedback


# (green, red, buzzer) pin histories after each pattern was shown through once; the first
# state of each is the pin's initial "off".
EXPECTED = {
    Pattern.READY: ([F, T], [F], [F]),
    Pattern.READ: ([F, T, F], [F, T, F], [F, T, F]),
    Pattern.RELEASED: ([F, T, F], [F], [F, T, F, T, F]),
    Pattern.NOTHING_TO_PRINT: ([F, T, F], [F, T, F], [F, T, F]),
    Pattern.UNKNOWN_CARD: ([F], [F, T, F, T, F, T, F], [F, T, F, T, F, T, F]),
    Pattern.ERROR: ([F], [F, T, F], [F, T, F]),
    Pattern.NEEDS_PAIRING: ([F, T], [F, T, F], [F]),
    Pattern.TECHNICIAN: ([F, T, F, T], [F, T, F, T], [F, T, F]),
}


def test_every_pattern_is_described() -> None:
    assert set(EXPECTED) == set(Pattern) == set(PROGRAMS)


@pytest.mark.parametrize("pattern", list(Pattern), ids=lambda p: p.value)
def test_pattern_pin_history(factory: MockFactory, pattern: Pattern) -> None:
    feedback = played(factory, TWO_LEDS, pattern)
    green, red, buzzer = EXPECTED[pattern]
    # looping patterns go on playing: compare what the first round left behind
    assert history(factory, "GPIO17")[: len(green)] == green
    assert history(factory, "GPIO27")[: len(red)] == red
    assert history(factory, "GPIO22")[: len(buzzer)] == buzzer
    feedback.close()
    assert not factory.pin("GPIO17").state
    assert not factory.pin("GPIO27").state
    assert not factory.pin("GPIO22").state


def test_one_rgb_led_shows_the_same_colours(factory: MockFactory) -> None:
    section = FeedbackSection(led_rgb=("GPIO5", "GPIO6", "GPIO13"))
    played(factory, section, Pattern.NOTHING_TO_PRINT).close()
    assert history(factory, "GPIO5") == [F, T, F]
    assert history(factory, "GPIO6") == [F, T, F]
    assert history(factory, "GPIO13") == [F]


def test_active_low_wiring_inverts_the_pins(factory: MockFactory) -> None:
    section = FeedbackSection(
        led_green="GPIO17", led_active_high=False, buzzer="GPIO22", buzzer_active_high=False
    )
    feedback = played(factory, section, Pattern.READ)
    # the mock pin starts low; gpiozero raises it at once to mean "off"
    assert history(factory, "GPIO17") == [F, T, F, T]
    assert history(factory, "GPIO22") == [F, T, F, T]
    feedback.close()


def test_play_returns_at_once_and_a_new_pattern_interrupts(factory: MockFactory) -> None:
    feedback = build_feedback(TWO_LEDS, pin_factory=factory, speed=0.01)  # a round takes 100 s
    assert isinstance(feedback, GpioFeedback)
    feedback.play(Pattern.NEEDS_PAIRING)  # loops until replaced
    assert not feedback.wait_shown(0)  # still in its first round: play did not wait for it
    feedback.play(Pattern.READY)
    assert feedback.wait_shown(WAIT_S)
    assert factory.pin("GPIO17").state
    assert not factory.pin("GPIO27").state
    feedback.close()
    feedback.close()
    feedback.play(Pattern.ERROR)  # after close: ignored, no error
    assert not factory.pin("GPIO27").state


def test_no_pins_is_a_no_op_that_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    feedback = build_feedback(FeedbackSection())
    assert isinstance(feedback, NullFeedback)
    feedback.play(Pattern.READY)
    feedback.play(Pattern.READ)
    feedback.close()
    assert caplog.text.count("feedback patterns are not shown") == 1


def test_no_gpio_on_this_machine_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "lgpio")  # not installed off a Pi
    feedback = build_feedback(TWO_LEDS)
    assert isinstance(feedback, NullFeedback)
    assert "no GPIO" in feedback.reason


@pytest.mark.parametrize(
    ("section", "key"),
    [
        (FeedbackSection(led_green="GPIO99"), "feedback.led_green"),
        (FeedbackSection(led_green="GPIO17", buzzer="GPIO17"), "feedback.buzzer"),
    ],
)
def test_wrong_pins_are_configuration_errors(
    factory: MockFactory, section: FeedbackSection, key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build_feedback(section, pin_factory=factory, source="station.toml")
    assert info.value.key == key
    assert str(info.value).startswith(f"station.toml: {key}: ")
    # nothing is left claimed: the same pins can be used again
    build_feedback(FeedbackSection(led_green="GPIO17"), pin_factory=factory).close()


def test_a_group_plays_every_member(factory: MockFactory) -> None:
    gpio = build_feedback(TWO_LEDS, pin_factory=factory, speed=SPEED)
    assert isinstance(gpio, GpioFeedback)
    group = FeedbackGroup([gpio, NullFeedback("test")])
    group.play(Pattern.READY)
    assert gpio.wait_shown(WAIT_S)
    assert factory.pin("GPIO17").state
    group.close()
    assert not factory.pin("GPIO17").state


def test_the_acr122u_leds_join_only_for_a_pcsc_reader(factory: MockFactory) -> None:
    from drivers.readers.nfc import NfcReader
    from drivers.readers.pcsc import PcscReader, ReaderLedFeedback

    with_reader = build_feedback(TWO_LEDS, readers=[PcscReader()], pin_factory=factory)
    assert isinstance(with_reader, FeedbackGroup)
    gpio, reader_led = with_reader.members
    assert isinstance(gpio, GpioFeedback) and isinstance(reader_led, ReaderLedFeedback)
    with_reader.close()
    # nfcpy may own an ACR122U: pcscd is never asked then; nor when reader_led is off
    for readers, section in (
        ([NfcReader()], TWO_LEDS),
        ([PcscReader()], FeedbackSection(led_green="GPIO17", reader_led=False)),
    ):
        feedback = build_feedback(section, readers=readers, pin_factory=factory)
        assert isinstance(feedback, GpioFeedback)
        feedback.close()
    no_gpio = build_feedback(FeedbackSection(), readers=[PcscReader()])
    assert isinstance(no_gpio, FeedbackGroup)
    assert isinstance(no_gpio.members[0], NullFeedback)
    no_gpio.close()
