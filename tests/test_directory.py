"""The badge directory: mappings, checks, import planning and export, and a full disk."""

from __future__ import annotations

import io
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.cloud.models import UserInfo
from station.database import Database, memory_database, open_database
from station.directory import (
    BadgeConflictError,
    BadgeEntry,
    BadgeLimitError,
    Directory,
    ImportRow,
    InvalidEntryError,
    LineProblem,
    export_csv,
    export_json,
    mask_badge,
    mask_email,
    plan_import,
    public_name,
    read_import,
    validate_badge_id,
)
from station.errors import StorageError
from tests.support.clock import FakeClock

USERS = {
    "ann@example.com": UserInfo("u-ann", "ann@example.com", "Ann", "Arbor"),
    "bob@example.com": UserInfo("u-bob", "bob@example.com", "Bob", ""),
}


class Resolver:
    """The seam plan_import takes: the seeded users, and a record of who was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, email: str) -> UserInfo | None:
        self.asked.append(email)
        if email == "twins@example.com":
            raise LookupError("2 ezeep users have the e-mail address twins@example.com")
        return USERS.get(email.lower())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC).timestamp())


@pytest.fixture
def directory(clock: FakeClock) -> Directory:
    return Directory(memory_database(), now=clock.wall)


def test_enrol_lookup_touch_remove(directory: Directory, clock: FakeClock) -> None:
    entry = directory.enrol(
        "04A1B2C3", "u-ann", email="ann@example.com", display_name="Ann", how="technician"
    )
    assert entry == directory.lookup("04A1B2C3")
    assert entry.enrolled_by == "technician"
    assert entry.enrolled_at == clock.wall().replace(microsecond=0)
    assert entry.last_seen is None
    clock.advance(timedelta(hours=1))
    directory.touch("04A1B2C3")
    directory.touch("UNKNOWN")  # harmless
    seen = directory.lookup("04A1B2C3")
    assert seen is not None and seen.last_seen == clock.wall().replace(microsecond=0)
    assert directory.lookup("UNKNOWN") is None
    assert directory.count() == 1
    assert directory.remove("04A1B2C3") is True
    assert directory.remove("04A1B2C3") is False
    assert directory.entries() == []


def test_repr_hides_badge_id_and_email(directory: Directory) -> None:
    entry = directory.enrol("04A1B2C3", "u-ann", email="ann@example.com", how="self")
    assert "04A1B2C3" not in repr(entry)
    assert "ann@example.com" not in repr(entry)
    assert "u-ann" in repr(entry)


@pytest.mark.parametrize(
    ("badge", "words"),
    [
        ("", "empty"),
        ("04 A1", "whitespace"),
        ("04A1\t", "whitespace"),
        ("04\x07A1", "unprintable"),
        ("X" * 65, "65 characters long; at most 64"),
    ],
)
def test_bad_badge_ids_are_refused_with_a_reason(directory: Directory, badge: str, words: str) -> None:
    with pytest.raises(InvalidEntryError, match=words):
        directory.enrol(badge, "u-ann", how="cli")
    assert directory.count() == 0


def test_badge_id_limits() -> None:
    assert validate_badge_id("X" * 64) == "X" * 64
    assert validate_badge_id("0012345678") == "0012345678"


def test_bad_user_id_and_email(directory: Directory) -> None:
    with pytest.raises(InvalidEntryError, match="user id is empty"):
        directory.enrol("AA", "", how="cli")
    with pytest.raises(InvalidEntryError, match="not an e-mail address"):
        directory.enrol("AA", "u-ann", email="ann(at)example.com", how="cli")


def test_another_users_badge_needs_replace(directory: Directory, clock: FakeClock) -> None:
    directory.enrol("AA", "u-ann", email="ann@example.com", how="self")
    with pytest.raises(BadgeConflictError, match=r"already belongs to ann@example\.com") as info:
        directory.enrol("AA", "u-bob", how="technician")
    assert info.value.existing is not None and info.value.existing.user_id == "u-ann"
    clock.advance(timedelta(days=1))
    entry = directory.enrol("AA", "u-bob", how="technician", replace=True)
    assert (entry.user_id, entry.email, entry.enrolled_by) == ("u-bob", "", "technician")
    assert entry.enrolled_at == clock.wall().replace(microsecond=0)


def test_enrolling_the_same_user_again_keeps_the_history(directory: Directory, clock: FakeClock) -> None:
    first = directory.enrol("AA", "u-ann", how="self")
    directory.touch("AA")
    clock.advance(timedelta(days=1))
    again = directory.enrol("AA", "u-ann", email="ann@example.com", display_name="Ann", how="technician")
    assert (again.enrolled_by, again.enrolled_at) == ("self", first.enrolled_at)
    assert again.last_seen is not None
    assert (again.email, again.display_name) == ("ann@example.com", "Ann")


def test_the_badge_limit_counts_the_users_other_badges(directory: Directory, clock: FakeClock) -> None:
    directory.enrol("AA", "u-ann", how="self", limit=2)
    clock.advance(timedelta(days=1))
    directory.enrol("BB", "u-ann", how="technician", limit=2)
    directory.enrol("BB", "u-ann", display_name="Ann", how="self", limit=2)  # the same badge again: fine
    with pytest.raises(BadgeLimitError, match="already has 2 badges; at most 2 are allowed"):
        directory.enrol("CC", "u-ann", how="self", limit=2)
    assert directory.lookup("CC") is None
    assert [entry.badge_id for entry in directory.badges_of("u-ann")] == ["AA", "BB"]  # oldest first
    assert directory.badges_of("u-bob") == []


def test_unlink_replaces_one_of_the_users_badges_in_one_step(directory: Directory) -> None:
    directory.enrol("AA", "u-ann", how="self")
    directory.enrol("BB", "u-ann", how="self")
    directory.enrol("XX", "u-bob", how="self")
    directory.enrol("CC", "u-ann", how="technician", limit=2, unlink="AA")
    assert [entry.badge_id for entry in directory.badges_of("u-ann")] == ["BB", "CC"]
    directory.enrol("DD", "u-ann", how="technician", unlink="XX")  # only ever the same user's badge
    assert directory.lookup("XX") is not None
    with pytest.raises(BadgeLimitError):
        directory.enrol("EE", "u-ann", how="technician", limit=2, unlink="nothing")
    assert len(directory.badges_of("u-ann")) == 3  # the refused step changed nothing


def test_masks_for_screens() -> None:
    assert mask_badge("04A1B2C3D4") == "…C3D4"
    assert mask_email("kim.meyer@example.com") == "k•••@example.com"
    assert mask_email("") == "" and mask_email("no address") == ""
    assert public_name("Kim Meyer", "kim.meyer@example.com") == "Kim Meyer"
    assert public_name("", "kim.meyer@example.com") == "k•••@example.com"
    assert public_name("kim.meyer@example.com", "") == "k•••@example.com"  # ezeep's name is the address
    assert public_name("", "", "u-kim") == "u-kim"


# -- reading import files --------------------------------------------------------------------


def test_csv_rows_and_every_bad_line() -> None:
    text = (
        "badge, email ,name\n"  # header names may carry spaces
        "AA,ann@example.com,Ann\n"
        "\n"
        "BB,bob@example.com\n"  # short row: name empty
        ",carl@example.com\n"
        "CC\n"
        'DD,"dora@example.com","Dora\nSecond line"\n'
        "EE,eve@example.com,Eve,extra\n"
    )
    rows, problems = read_import(text)
    assert rows == [
        ImportRow(2, "AA", email="ann@example.com", name="Ann"),
        ImportRow(4, "BB", email="bob@example.com"),
        ImportRow(7, "DD", email="dora@example.com", name="Dora\nSecond line"),
    ]
    assert [str(p) for p in problems] == [
        "line 5: missing badge",
        "line 6: missing email or user_id",
        "line 9: 4 values but the header names 3 columns",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "line 1: the file is empty"),
        ("badge,name\nAA,Ann\n", "line 1: the header must name the columns badge and email or user_id"),
        ("email,user_id\nx@y.de,u\n", "line 1: the header must name the columns badge and email or user_id"),
        (
            "badge,user_id,colour\nAA,u,red\n",
            "line 2: unknown column colour; allowed: badge, user_id, email, name",
        ),
        ('badge,user_id\n"AA,u\n', "line 2: not valid CSV"),
    ],
)
def test_csv_file_problems(text: str, problem: str) -> None:
    rows, problems = read_import(text)
    assert rows == []
    assert str(problems[0]).startswith(problem)


def test_json_rows_carry_the_line_their_object_starts_on() -> None:
    text = """[
  {"badge": "AA", "email": "ann@example.com"},
  {
    "badge": 1234,
    "email": "bob@example.com"
  },
  "AA",
  {"badge": "CC", "user_id": "u-carl", "name": "Carl"},
  {"badge": "DD"},
  {"badge": "EE", "user_id": "u", "team": "x"}
]
"""
    rows, problems = read_import(text)
    assert rows == [
        ImportRow(2, "AA", email="ann@example.com"),
        ImportRow(8, "CC", user_id="u-carl", name="Carl"),
    ]
    assert [str(p) for p in problems] == [
        "line 3: badge must be a string (quote it: leading zeros matter)",
        'line 7: each item must be an object like {"badge": …, "email": …}',
        "line 9: missing email or user_id",
        "line 10: unknown column team; allowed: badge, user_id, email, name",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[]", None),
        ('[{"badge": "AA", "user_id": "u"}', "line 1: expected , or ] after the item"),
        ('[\n{"badge": "AA", "user_id": "u"},\n]', "line 3: not valid JSON: Expecting value"),
        ('[\n{"badge": "AA" "user_id": "u"}\n]', "line 2: not valid JSON: Expecting ',' delimiter"),
        ('[{"badge": "AA", "user_id": "u"}]\n{"more": 1}', "line 2: text after the end of the list"),
    ],
)
def test_json_file_problems(text: str, problem: str | None) -> None:
    _, problems = read_import(text)
    assert [str(p) for p in problems] == ([problem] if problem else [])


# -- planning --------------------------------------------------------------------------------


def test_plan_reports_every_bad_line_and_resolves_each_address_once(directory: Directory) -> None:
    directory.enrol("KEPT", "u-ann", email="ann@example.com", display_name="Ann Arbor", how="self")
    directory.enrol("TAKEN", "u-zed", email="zed@example.com", how="self")
    rows = [
        ImportRow(2, "NEW1", email="ann@example.com"),
        ImportRow(3, "NEW2", email="ANN@example.com"),  # same address, other case: not asked again
        ImportRow(4, "NEW1", email="bob@example.com"),
        ImportRow(5, "bad id", user_id="u-x"),
        ImportRow(6, "NEW3", email="nobody@example.com"),
        ImportRow(7, "NEW4", email="not-an-address"),
        ImportRow(8, "NEW5", email="twins@example.com"),
        ImportRow(9, "TAKEN", email="bob@example.com"),
        ImportRow(10, "KEPT", email="ann@example.com"),
        ImportRow(11, "NEW6", user_id="u-direct", email="direct@example.com", name="Di"),
    ]
    resolver = Resolver()
    plan = plan_import(rows, directory, resolver)
    assert [str(p) for p in plan.problems] == [
        "line 4: badge NEW1 is already on line 2",
        "line 5: the badge id contains whitespace",
        "line 6: no ezeep user has the e-mail address nobody@example.com",
        "line 7: 'not-an-address' is not an e-mail address",
        "line 8: 2 ezeep users have the e-mail address twins@example.com",
        "line 9: badge TAKEN already belongs to zed@example.com (use --replace to overwrite)",
    ]
    assert [(c.line, c.action, c.user_id) for c in plan.changes] == [
        (2, "add", "u-ann"),
        (3, "add", "u-ann"),
        (10, "unchanged", "u-ann"),
        (11, "add", "u-direct"),
    ]
    assert plan.changes[0].display_name == "Ann Arbor"
    assert sorted(resolver.asked) == [
        "ann@example.com",
        "bob@example.com",
        "nobody@example.com",
        "twins@example.com",
    ]


def test_rows_with_user_ids_never_ask_the_cloud(directory: Directory) -> None:
    def offline(email: str) -> UserInfo | None:
        raise AssertionError("the cloud must not be asked")

    plan = plan_import(
        [ImportRow(2, "AA", user_id="u-1"), ImportRow(3, "BB", user_id="u-2")], directory, offline
    )
    assert plan.problems == ()
    assert directory.apply_import(plan.changes) == 2


def test_replace_update_and_apply(directory: Directory) -> None:
    directory.enrol("TAKEN", "u-zed", how="self")
    directory.enrol("SAME", "u-bob", how="self")
    rows = [ImportRow(2, "TAKEN", email="ann@example.com"), ImportRow(3, "SAME", email="bob@example.com")]
    plan = plan_import(rows, directory, Resolver(), replace=True)
    assert [c.action for c in plan.changes] == ["replace", "update"]
    assert directory.apply_import(plan.changes) == 2
    taken, same = directory.lookup("TAKEN"), directory.lookup("SAME")
    assert taken is not None and (taken.user_id, taken.enrolled_by) == ("u-ann", "import")
    assert same is not None and (same.email, same.enrolled_by) == ("bob@example.com", "self")


def test_a_badge_that_changed_after_planning_stops_the_whole_import(directory: Directory) -> None:
    rows = [ImportRow(2, "AA", user_id="u-1"), ImportRow(3, "BB", user_id="u-2")]
    plan = plan_import(rows, directory, Resolver())
    directory.enrol("BB", "u-other", how="technician")  # the station enrolled it meanwhile
    with pytest.raises(BadgeConflictError, match="line 3: the badge changed while importing"):
        directory.apply_import(plan.changes)
    assert directory.lookup("AA") is None
    entry = directory.lookup("BB")
    assert entry is not None and entry.user_id == "u-other"


# -- export ----------------------------------------------------------------------------------

_token = st.text(
    st.characters(exclude_categories=["Cs", "Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cn"]),
    min_size=1,
    max_size=64,
).filter(lambda s: s.isprintable() and not any(c.isspace() for c in s))
_name = st.text(st.characters(exclude_categories=["Cs"]), max_size=30).map(str.strip)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        _token,
        st.tuples(_token, st.sampled_from(["", "ann@example.com", "b.o+b@ex.org"]), _name),
        max_size=8,
    ),
    st.sampled_from([export_csv, export_json]),
)
def test_export_reads_back_unchanged(data: dict[str, tuple[str, str, str]], export: object) -> None:
    directory = Directory(memory_database())
    for badge, (user_id, email, name) in data.items():
        directory.enrol(badge, user_id, email=email, display_name=name, how="cli")
    out = io.StringIO()
    export(directory.entries(), out)  # type: ignore[operator]
    rows, problems = read_import(out.getvalue())
    assert problems == []
    plan = plan_import(rows, directory, Resolver())
    assert plan.problems == ()
    assert {c.action for c in plan.changes} <= {"unchanged"}
    assert {(r.badge, r.user_id, r.email, r.name) for r in rows} == {
        (badge, user_id, email, name) for badge, (user_id, email, name) in data.items()
    }


def test_empty_exports() -> None:
    csv_out, json_out = io.StringIO(), io.StringIO()
    export_csv([], csv_out)
    export_json([], json_out)
    assert csv_out.getvalue() == "badge,user_id,email,name\r\n"
    assert read_import(json_out.getvalue()) == ([], [])


# -- a full disk -----------------------------------------------------------------------------


def _fill_up(db: Database) -> None:
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")


def test_a_full_disk_loses_nothing_and_says_so(tmp_path: Path) -> None:
    db = open_database(tmp_path / "station.db")
    directory = Directory(db)
    directory.enrol("KEEP", "u-keep", how="cli")
    _fill_up(db)
    rows = [ImportRow(n + 2, f"BADGE{n:05d}", user_id=f"user-{n:05d}-" + "x" * 60) for n in range(2000)]
    plan = plan_import(rows, directory, Resolver())
    with pytest.raises(
        StorageError, match="could not import the badges: the disk is full, nothing was saved"
    ):
        directory.apply_import(plan.changes)
    assert [e.user_id for e in directory.entries()] == ["u-keep"]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    directory.enrol("ONE-MORE", "u-small", how="cli")  # still usable once space is there
    assert directory.count() == 2


def test_storage_error_keeps_the_sqlite_cause(tmp_path: Path) -> None:
    db = open_database(tmp_path / "station.db")
    _fill_up(db)
    directory = Directory(db)
    with pytest.raises(StorageError) as info:
        for n in range(5000):
            directory.enrol(f"B{n}", "u-" + "y" * 100, display_name="z" * 200, how="cli")
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert directory.lookup(f"B{n}") is None  # the failed enrolment left nothing behind


def test_line_problem_text() -> None:
    assert str(LineProblem(7, "missing badge")) == "line 7: missing badge"
    assert BadgeEntry.__dataclass_fields__["badge_id"].repr is False
