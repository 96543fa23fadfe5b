"""Same-card suppression and short-read rejection between a reader and the core."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from drivers.badges import BadgeFilter
from station.events import BadgeRead, ReaderEvent, ReaderHealth

CARD = bytes.fromhex("946EBD28")
OTHER = bytes.fromhex("E43AC9D2")


def read(uid: bytes, at: float) -> BadgeRead:
    return BadgeRead(uid, "wedge", "test", at, uid.hex())


def run(events: Sequence[ReaderEvent], **options: object) -> tuple[list[ReaderEvent], BadgeFilter]:
    passed: list[ReaderEvent] = []
    settings: dict[str, object] = {"repeat_s": 3.0, "min_uid_bytes": 4, "detects_removal": False}
    settings.update(options)
    badge_filter = BadgeFilter(passed.append, **settings)  # type: ignore[arg-type]
    for event in events:
        badge_filter(event)
    return passed, badge_filter


def test_repeats_within_the_window_are_dropped() -> None:
    events: list[ReaderEvent] = [read(CARD, 0.0), read(CARD, 1.0), read(CARD, 2.5)]
    passed, badge_filter = run(events)
    assert passed == events[:1]
    assert badge_filter.dropped_repeat == 2


def test_the_window_runs_from_the_last_time_the_card_was_seen() -> None:
    # A card lying on a reader that types it every second never starts a new session ...
    held = [read(CARD, float(t)) for t in range(10)]
    assert run(held)[0] == held[:1]
    # ... and once it has been gone for repeat_s it is a new presentation.
    later = read(CARD, 9.0 + 3.0)
    assert run([*held, later])[0] == [held[0], later]


def test_another_card_in_between_ends_the_suppression() -> None:
    events: list[ReaderEvent] = [read(CARD, 0.0), read(OTHER, 0.5), read(CARD, 1.0)]
    assert run(events)[0] == events


def test_readers_that_detect_removal_pass_every_presentation() -> None:
    events: list[ReaderEvent] = [read(CARD, 0.0), read(CARD, 0.1)]
    assert run(events, detects_removal=True)[0] == events


def test_zero_repeat_passes_everything() -> None:
    events: list[ReaderEvent] = [read(CARD, 0.0), read(CARD, 0.0)]
    assert run(events, repeat_s=0.0)[0] == events


def test_short_reads_are_rejected_without_logging_the_number(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    short = read(bytes.fromhex("04A1B2"), 0.0)
    passed, badge_filter = run([short, read(CARD, 1.0)], detects_removal=True)
    assert passed == [read(CARD, 1.0)]
    assert badge_filter.dropped_short == 1
    assert "3-byte read" in caplog.text
    assert "04A1B2" not in caplog.text.upper()


def test_a_short_read_does_not_reset_the_repeat_window() -> None:
    events: list[ReaderEvent] = [read(CARD, 0.0), read(b"\x01", 0.5), read(CARD, 1.0)]
    assert run(events)[0] == events[:1]


def test_health_and_random_uids_pass() -> None:
    health = ReaderHealth("wedge", "test", False, "unplugged", 0.0)
    random = read(bytes.fromhex("08AABBCC"), 0.0)
    assert run([health, random])[0] == [health, random]


def test_time_never_runs_backwards() -> None:
    events: list[ReaderEvent] = [read(CARD, 10.0), read(CARD, 12.0), read(CARD, 5.0), read(CARD, 14.0)]
    assert run(events)[0] == events[:1]


@pytest.mark.parametrize(("repeat_s", "min_uid_bytes"), [(-1.0, 4), (3.0, 0)])
def test_bad_settings_are_refused(repeat_s: float, min_uid_bytes: int) -> None:
    with pytest.raises(ValueError):
        BadgeFilter(lambda event: None, repeat_s, min_uid_bytes, False)
