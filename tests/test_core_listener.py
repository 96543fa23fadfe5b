"""Events out of the core: every event has its listener method, a failing listener stops no other."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest

from station.core import listener as ev


def test_every_event_has_a_method_of_its_own_and_every_method_an_event() -> None:
    events = typing.get_args(ev.CoreEvent)
    methods = {
        name: next(iter(typing.get_type_hints(method).values()))
        for name, method in inspect.getmembers(ev.CoreListener, inspect.isfunction)
    }
    assert sorted(methods.values(), key=lambda kind: kind.__name__) == sorted(
        events, key=lambda kind: kind.__name__
    )
    for kind in events:
        assert dataclasses.is_dataclass(kind) and getattr(kind, "__dataclass_params__").frozen  # noqa: B009


def test_each_event_reaches_its_method_and_a_failing_listener_stops_no_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[object] = []

    class Broken(ev.CoreListener):
        def tap_refused(self, event: ev.TapRefused) -> None:
            raise RuntimeError("a bug")

    class Counting(ev.CoreListener):
        def tap_refused(self, event: ev.TapRefused) -> None:
            heard.append(event)

        def reader_up(self, event: ev.ReaderUp) -> None:
            heard.append(event)

    events: list[ev.CoreEvent] = [ev.TapRefused("random_uid"), ev.ReaderUp("sim"), ev.BackOnline()]
    for event in events:
        ev.announce([Broken(), Counting()], event)
    assert heard == events[:2]
    assert "Broken failed on TapRefused" in caplog.text


def test_personal_facts_stay_out_of_an_events_repr() -> None:
    text = repr(
        [
            ev.BadgeKnown("04A1B2C3", "user-7"),
            ev.TapRefused("rate_limited", "04A1B2C3"),
            ev.EnrolmentRefused("other_badge", "04A1B2C3", "user-7"),
        ]
    )
    assert "04A1B2C3" not in text and "user-7" not in text and "rate_limited" in text


def test_the_docstring_example_runs() -> None:
    namespace: dict[str, object] = {}
    example = str(ev.__doc__).split("Example::\n", 1)[1]
    exec(inspect.cleandoc(example), namespace)  # our own docstring
    listener = namespace["RefusedCards"]()  # type: ignore[operator]
    ev.announce([listener], ev.TapRefused("unreadable"))
    assert listener.count == 1


def test_the_audit_trail_docstring_example_runs() -> None:
    from station.core import audit_trail

    namespace: dict[str, object] = {}
    exec(inspect.cleandoc(str(audit_trail.__doc__).split("::\n", 1)[1]), namespace)
    assert namespace["audit_log"].count() == 1  # type: ignore[attr-defined]


def test_an_audit_entry_that_cannot_be_written_is_only_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from station.core.audit_trail import AuditTrail
    from station.errors import StorageError

    class FullDisk:
        def record(self, event: str, **fields: object) -> int:
            raise StorageError("database or disk is full")

    trail = AuditTrail(FullDisk())
    ev.deliver(trail, ev.TokenRejected())  # returns at once: the write is the trail's thread's
    trail.close()
    assert "could not write the audit entry pairing: database or disk is full" in caplog.text
