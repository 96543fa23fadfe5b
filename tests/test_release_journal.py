"""The release journal on a real (in-memory) SQLite database: attempts, settling, pruning."""

from __future__ import annotations

from station.database import memory_database
from station.release._journal import Change, Journal


def _states(journal: Journal, *ids: str) -> dict[str, tuple[str, int]]:
    return {job_id: (row.state, row.attempts) for job_id, row in journal.rows(ids).items()}


def test_intent_then_progress_keeps_the_spool_id_and_counts_attempts() -> None:
    journal = Journal(memory_database())
    journal.record_intent("user", "printer", ["a", "b"])
    journal.update([Change("a", "submitted", spool_id="spool-a"), Change("b", "failed", "3011")])
    journal.update([Change("a", "printed")])
    rows = journal.rows(["a", "b", "unknown"])
    assert (rows["a"].state, rows["a"].spool_id) == ("printed", "spool-a")
    assert (rows["b"].state, rows["b"].detail) == ("failed", "3011")
    journal.record_intent("user", "printer", ["b"])  # a retry: a new attempt, the spool id reset
    assert _states(journal, "a", "b") == {"a": ("printed", 1), "b": ("intent", 2)}
    assert [row.job_id for row in journal.unsettled()] == ["b"]


def test_settling_touches_only_the_attempt_that_was_read() -> None:
    journal = Journal(memory_database())
    journal.record_intent("user", "printer", ["gone", "waiting", "resent"])
    read = journal.rows(["gone", "waiting", "resent"])
    # Meanwhile "resent" was settled and sent again by someone else: a newer attempt.
    journal.update([Change("resent", "held")])
    journal.record_intent("user", "printer", ["resent"])
    journal.settle([read["gone"], read["resent"]], [read["waiting"]])
    assert _states(journal, "gone", "waiting", "resent") == {
        "gone": ("released", 1),
        "waiting": ("held", 1),
        "resent": ("intent", 2),
    }


def test_prune_keeps_the_newest_settled_rows_and_every_row_in_flight() -> None:
    journal = Journal(memory_database())
    journal.record_intent("user", "printer", [f"job{n}" for n in range(6)])
    journal.update([Change(f"job{n}", "printed") for n in range(4)])
    journal.prune(keep=2)
    rows = journal.rows(f"job{n}" for n in range(6))
    assert sum(row.state == "printed" for row in rows.values()) == 2
    assert {"job4", "job5"} <= set(rows)


def test_forget_drops_rows() -> None:
    journal = Journal(memory_database())
    journal.record_intent("user", "printer", ["a"])
    journal.forget(["a"])
    assert journal.rows(["a"]) == {}


def test_deleting_rows_are_in_doubt_until_settled() -> None:
    journal = Journal(memory_database())
    journal.record_intent("user", "printer", ["held"])
    journal.update([Change("held", "held")])
    journal.record_delete("user", ["held", "new", "kept"])
    assert _states(journal, "held", "new", "kept") == {
        "held": ("deleting", 2),
        "new": ("deleting", 1),
        "kept": ("deleting", 1),
    }
    assert sorted(row.job_id for row in journal.unsettled()) == ["held", "kept", "new"]
    read = journal.rows(["held", "new", "kept"])
    journal.settle([read["held"], read["new"]], [read["kept"]])  # two gone (deleted), one waiting
    assert _states(journal, "held", "new", "kept") == {"kept": ("held", 1)}
