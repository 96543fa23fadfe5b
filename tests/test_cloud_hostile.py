"""A cloud that answers wrongly or with hostile intent, through the real client, release engine
and token keeper against the ezeep emulator's fault switches on loopback.

- a job belongs to one person: a job list that ignores ``user=``, or jobs that name no owner,
  never make the station list, release or delete someone else's job;
- a trickling answer ends at the request's total deadline (``DeadlineError``, which the release
  engine counts as no answer: the job is in doubt, not failed);
- a huge answer is refused while it is read, a compressed one (a decompression bomb) before it
  is read, an endless list is cut and the log says so, and a whole list ends at its deadline;
- pairing again revokes the replaced refresh token at ezeep, and a revoke that cannot reach
  ezeep does not stop the pairing.
"""

from __future__ import annotations

import logging
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from station.causes import Cause, Reason
from station.cloud import contract
from station.cloud.api import EzeepClient
from station.cloud.errors import BadAnswerError, DeadlineError, GrantError
from station.cloud.http import CloudHttp
from station.cloud.models import Job, ListEnd, TokenPair
from station.cloud.stack import CloudStack
from station.config import CloudSection, parse_config
from station.database import memory_database
from station.emulator import Emulator
from station.emulator.faults import gzip_bomb
from station.errors import ConfigError
from station.release import JobProgress, ReleaseEngine, ReleaseState
from tests.support.cloud import pair_stack as pair
from tests.support.cloud_mock import Handler, mock_http

HW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CLIENT = "hostile-tests"
NOT_THEIRS = Cause(Reason.NOT_ALLOWED, text="the job is not the user's")


@dataclass
class Rig:
    """A paired station's cloud parts and release engine, talking to ``emulator``."""

    emulator: Emulator
    cloud: CloudStack
    client: EzeepClient
    engine: ReleaseEngine


def make_cloud(emulator: Emulator, section: CloudSection | None = None, **http: Any) -> CloudStack:
    """The cloud parts of a station; ``section`` sets the client's rules, ``http`` CloudHttp's."""
    options = {"timeout_s": 5.0, **http}
    url = emulator.url
    transport = CloudHttp(account_url=url, api_url=url, print_url=url, client_id=CLIENT, **options)
    db = memory_database()
    return CloudStack.create(transport, db, hardware_id=HW, poll_interval_s=0.01, cloud=section)


@pytest.fixture
def rig(emulator: Emulator) -> Iterator[Rig]:
    with make_cloud(emulator, deadline_s=1.5) as cloud:
        pair(emulator, cloud)
        engine = ReleaseEngine(cloud.client, memory_database(), job_timeout_s=20, poll_interval_s=0.05)
        yield Rig(emulator, cloud, cloud.client, engine)


def everybody_waiting(emulator: Emulator) -> dict[str, set[str]]:
    return {user.id: {job["id"] for job in emulator.waiting_jobs(user.email)} for user in emulator.users}


# --- a job belongs to one person -------------------------------------------------------------


def test_a_list_that_ignores_user_lists_and_releases_only_the_users_jobs(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.emulator.set_faults(ignore_user_filter=True)
    before = everybody_waiting(rig.emulator)
    grace = rig.emulator.users[1]  # two waiting jobs; three other users have some too
    assert len(before[grace.id]) == 2 and sum(len(jobs) for jobs in before.values()) == 10

    jobs = rig.client.waiting_jobs(grace.id)
    assert {job.id for job in jobs} == before[grace.id]
    assert "the job list held 8 job(s) that are someone else's; refused:" in caplog.text
    summary = rig.engine.release(grace.id)  # "print all": the engine reads the list itself
    assert {p.job_id for p in summary.printed} == before[grace.id]
    assert rig.emulator.release_counts() == dict.fromkeys(before[grace.id], 1)
    after = everybody_waiting(rig.emulator)
    assert after == {**before, grace.id: set()}  # nobody else's job moved


def test_the_engine_refuses_jobs_named_for_someone_else(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    grace, katherine = rig.emulator.users[1], rig.emulator.users[3]
    theirs = rig.client.waiting_jobs(katherine.id)
    # Someone else's jobs handed in as if they were Grace's: refused, never sent nor deleted.
    summary = rig.engine.release(grace.id, jobs=theirs)
    assert {p.state for p in summary.held} == {ReleaseState.HELD}
    assert {p.cause for p in summary.held} == {NOT_THEIRS}
    assert len(summary.held) == len(theirs) and rig.emulator.release_counts() == {}
    deleted = rig.engine.delete(theirs, user_id=grace.id)
    assert deleted.deleted == () and {p.job_id for p in deleted.failed} == {job.id for job in theirs}
    assert {job["id"] for job in rig.emulator.waiting_jobs(katherine.email)} == {job.id for job in theirs}
    assert f"refused to release {len(theirs)} job(s) that are not the user's" in caplog.text
    # A retry names jobs only: one whose journal row is another user's is not sent for Grace.
    rig.emulator.set_printer_fails(rig.emulator.printers[0].id)
    failed = rig.engine.release(katherine.id, jobs=theirs[:1]).failed
    assert [p.job_id for p in failed] == [theirs[0].id]
    rig.emulator.set_printer_fails(rig.emulator.printers[0].id, False)
    again = rig.engine.retry(grace.id, failed)
    assert [(p.job_id, p.cause) for p in again.held] == [(theirs[0].id, NOT_THEIRS)]
    assert rig.emulator.release_counts() == {theirs[0].id: 1}


def test_a_job_without_owner_is_refused_and_logged_without_secrets(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = rig.emulator.users[2]  # three waiting jobs
    waiting = {job["id"] for job in rig.emulator.waiting_jobs(user.email)}
    rig.emulator.set_faults(hide_job_owner=True)
    assert rig.client.waiting_jobs(user.id) == []
    summary = rig.engine.release(user.id)
    assert summary == type(summary)() and rig.emulator.release_counts() == {}
    line = next(r.getMessage() for r in caplog.records if "name no owner" in r.getMessage())
    assert line.startswith("the job list held 3 job(s) that name no owner ('owner_id'); refused: ")
    assert set(line.rsplit(": ", 1)[1].split(", ")) == waiting
    record = rig.cloud.keeper.record
    assert record is not None and record.pair is not None
    assert record.pair.access_token not in caplog.text and record.pair.refresh_token not in caplog.text


def test_the_owner_rule_follows_the_configuration(emulator: Emulator) -> None:
    rule = contract.Contract(job_owner="owner_email", owner_match="casefold")
    assert rule.owns(" Ada@Example.COM", "ada@example.com")
    assert not rule.owns("", "") and not contract.Contract().owns("ADA", "ada")
    text = '[cloud.contract]\njob_owner = "owner_email"\nowner_match = "casefold"\n'
    assert parse_config(text).cloud.contract == rule
    for bad in ('owner_match = "email"', 'job_owner = "owner id"'):
        with pytest.raises(ConfigError):
            parse_config(f"[cloud.contract]\n{bad}\n")
    # Ids in another case match only when the configuration says so.
    user = emulator.users[3]
    shouting = user.id.upper()
    for match, expected in (("exact", 0), ("casefold", 4)):
        section = CloudSection(contract=contract.Contract(owner_match=match))  # type: ignore[arg-type]
        with make_cloud(emulator, section) as cloud:
            pair(emulator, cloud)
            jobs = cloud.client.waiting_jobs(user.id)
            assert len(jobs) == 4
            assert sum(cloud.client.owns(job, shouting) for job in jobs) == expected


# --- slow, huge and endless answers ----------------------------------------------------------


def test_a_trickling_answer_ends_at_the_total_deadline(rig: Rig) -> None:
    # One byte every 0.2 s: no single read waits near the 5 s read timeout, the whole takes minutes.
    rig.emulator.set_faults(trickle_s=0.2)
    started = time.monotonic()
    with pytest.raises(DeadlineError, match=r"took longer than 1\.5 s"):
        rig.client.printers()
    assert time.monotonic() - started < 10  # cut at the deadline: the whole answer takes minutes
    rig.emulator.set_faults(trickle_s=0)
    assert rig.client.printers()  # the connection pool recovers


def test_a_silent_server_is_cut_off_at_the_deadline_not_the_read_timeout(rig: Rig) -> None:
    # 4.5 s of silence is within the 5 s read timeout; the 1.5 s deadline cuts the wait itself
    # (an answer read to its end and found late would take the 4.5 s).
    rig.emulator.set_faults(latency_s=4.5)
    started = time.monotonic()
    with pytest.raises(DeadlineError):
        rig.client.printers()
    assert time.monotonic() - started < 4.0


def test_a_trickling_release_is_in_doubt_not_failed(rig: Rig) -> None:
    user = rig.emulator.users[0]  # one waiting job
    (job,) = rig.client.waiting_jobs(user.id)
    rig.emulator.set_faults(trickle_s=0.2, trickle_path=contract.PRINT_PATH)
    progress: list[JobProgress] = []
    summary = rig.engine.release(user.id, jobs=[job], on_progress=progress.append)
    # No answer in time: in doubt. The release reached ezeep (only its answer trickled), so the
    # check that follows finds the job gone from the queue: never failed, never sent again.
    assert [(p.state, p.cause.reason if p.cause else None) for p in progress][-2:] == [
        (ReleaseState.UNCONFIRMED, Reason.NO_ANSWER),
        (ReleaseState.UNCONFIRMED, Reason.OUTCOME_UNKNOWN),
    ]
    assert [p.cause.reason for p in summary.unconfirmed if p.cause] == [Reason.OUTCOME_UNKNOWN]
    assert summary.failed == ()
    assert rig.engine.retry(user.id, [*summary.unconfirmed]).printed == ()
    assert rig.emulator.release_counts() == {job.id: 1}


def test_deadline_error_is_no_answer() -> None:
    assert Cause.of_error(DeadlineError("slow")).reason is Reason.NO_ANSWER
    assert parse_config("[cloud]\nrequest_deadline_s = 3\n").cloud.request_deadline_s == 3.0
    with pytest.raises(ConfigError, match="request_deadline_s"):
        parse_config("[cloud]\nrequest_deadline_s = 1\n")


def test_a_huge_answer_is_refused_while_it_is_read(emulator: Emulator) -> None:
    with make_cloud(emulator, max_answer_bytes=256 * 1024) as cloud:
        pair(emulator, cloud)
        emulator.set_faults(huge_body_bytes=512 * 1024 * 1024)
        with pytest.raises(BadAnswerError, match="larger than 262144 bytes"):
            cloud.client.printers()
        # The emulator got out only what was read plus what the socket buffers took.
        assert emulator.stats()["flood_bytes"] < 256 * 1024 + 32 * 1024 * 1024
        emulator.set_faults(huge_body_bytes=0)
        assert cloud.client.printers()


def test_an_endless_job_list_is_cut_and_logged(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    with make_cloud(emulator, CloudSection(max_jobs=250)) as cloud:
        pair(emulator, cloud)
        emulator.set_faults(endless_jobs=True)
        before = emulator.stats()["api"]
        jobs, ends = jobs_and_ends(cloud, emulator.users[0].id)
        assert len(jobs) == 250
        assert emulator.stats()["api"] - before == 3  # pages beyond the cap were not fetched
        assert "jobs: the list was cut at 250 items (3 pages); further pages were not fetched" in caplog.text
        assert ends == [None, None, ListEnd.CUT]  # no proof that a job it does not hold is gone


def jobs_and_ends(cloud: CloudStack, user_id: str) -> tuple[list[Job], list[ListEnd | None]]:
    """``user_id``'s waiting jobs, and what each page told of how the list ended."""
    ends: list[ListEnd | None] = []
    return cloud.client.waiting_jobs(user_id, on_page=lambda _, end: ends.append(end)), ends


def paired_on(handler: Handler) -> CloudStack:
    """The cloud parts on an installed token pair, every answer from ``handler``."""
    cloud = CloudStack.create(mock_http(handler), memory_database(), hardware_id=HW)
    cloud.keeper.install(TokenPair("a.e30.c", "rt", 3600, time.monotonic()), hardware_id=HW)
    return cloud


def test_a_job_list_tells_whether_it_was_read_whole(emulator: Emulator) -> None:
    """Only a list read in one page shows the queue at one moment (see ListEnd)."""
    with make_cloud(emulator) as cloud:
        pair(emulator, cloud)
        user = emulator.users[4]  # seeded with no jobs of its own
        assert jobs_and_ends(cloud, user.id)[1] == [ListEnd.WHOLE]  # an empty queue, too
        for n in range(contract.PAGE_SIZE + 1):
            emulator.add_job(user.email, f"Doc {n}.pdf")
        assert jobs_and_ends(cloud, user.id)[1] == [None, ListEnd.PAGED]


def test_a_job_page_holding_more_than_asked_for_is_a_list_cut_short() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        items = [{"id": f"j{n}", "name": "", "owner_id": "u1"} for n in range(150)]
        return httpx.Response(200, json={"count": 150, "next": None, "results": items})

    jobs, ends = jobs_and_ends(paired_on(handler), "u1")
    assert len(jobs) == 100
    assert ends == [ListEnd.CUT]


def test_a_first_page_that_names_a_next_one_is_no_whole_list() -> None:
    """Its ``count`` says every job is there, its ``next`` that more follow: reading stops, but
    a job it does not hold is not shown gone."""

    def handler(request: httpx.Request) -> httpx.Response:
        item = {"id": "j1", "name": "", "owner_id": "u1"}
        return httpx.Response(200, json={"count": 1, "next": "https://api/?offset=100", "results": [item]})

    jobs, ends = jobs_and_ends(paired_on(handler), "u1")
    assert len(jobs) == 1
    assert ends == [ListEnd.PAGED]


def test_an_overfull_page_counts_for_the_items_asked_for(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        items = [{"id": f"p{n}", "name": "", "tp_id": n} for n in range(150)]
        return httpx.Response(200, json={"count": 150, "next": None, "results": items})

    assert len(paired_on(handler).client.printers()) == 100
    assert "printers: page 1 held 150 items, more than the 100 asked for" in caplog.text


BOMB_BYTES = 200_000_000  # unpacks from under 500 bytes
PEAK_LIMIT = 8 * 1024 * 1024


def refused_with_peak(call: Callable[[], object]) -> tuple[str, int]:
    """Why ``call()`` was refused (it must raise BadAnswerError), and the most memory Python
    held meanwhile, in bytes."""
    tracemalloc.start()
    try:
        with pytest.raises(BadAnswerError) as refused:
            call()
        return str(refused.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_compressed_answer_is_refused_before_it_is_unpacked() -> None:
    bomb = gzip_bomb(BOMB_BYTES)
    sent = {"Content-Encoding": "gzip, gzip"}
    empty: dict[str, object] = {"count": 0, "next": None, "results": []}

    def handler(request: httpx.Request) -> httpx.Response:
        if sent["Content-Encoding"] == "identity":
            return httpx.Response(200, json=empty, headers=sent)
        # A stream, as from the network: content= would have httpx unpack it here already.
        compressed = httpx.ByteStream(bomb)
        return httpx.Response(200, stream=compressed, headers=sent)

    with mock_http(handler) as http:
        why, peak = refused_with_peak(lambda: http.request("GET", "api", "/printers/", token="t"))
        assert "compressed (gzip, gzip) although the station asked for none; refused unread" in why
        assert peak < PEAK_LIMIT
        sent["Content-Encoding"] = "deflate"
        with pytest.raises(BadAnswerError, match=r"compressed \(deflate\)"):
            http.request("GET", "api", "/printers/", token="t")
        sent["Content-Encoding"] = "identity"  # said out loud, but nothing to unpack
        assert http.request("GET", "api", "/printers/", token="t") == empty


def test_a_decompression_bomb_through_the_socket_costs_nothing(emulator: Emulator) -> None:
    # Not the hostile rig's 1.5 s deadline: tracemalloc slows the emulator's thread too, and on a
    # busy machine the refusal must not turn into a DeadlineError.
    with make_cloud(emulator, deadline_s=20) as cloud:
        pair(emulator, cloud)
        emulator.set_faults(gzip_bomb_bytes=BOMB_BYTES)
        why, peak = refused_with_peak(cloud.client.printers)
        assert why.startswith("ezeep's answer to GET /printing/v1/printers/ is compressed (gzip, gzip)")
        assert peak < PEAK_LIMIT
        emulator.set_faults(gzip_bomb_bytes=0)
        assert cloud.client.printers()


def test_a_whole_list_ends_at_its_deadline(emulator: Emulator) -> None:
    # 0.3 s a page and a next page for ever: each page is well within its own 20 s deadline,
    # 10000 jobs (100 pages) would take 30 s; the list's 2 s end it.
    with make_cloud(emulator, CloudSection(max_jobs=10_000, list_deadline_s=2)) as cloud:
        pair(emulator, cloud)
        emulator.set_faults(endless_jobs=True, latency_s=0.3)
        started = time.monotonic()
        with pytest.raises(DeadlineError, match=r"jobs: reading the list took longer than 2 s \(\d page"):
            cloud.client.waiting_jobs(emulator.users[0].id)
        assert time.monotonic() - started < 2 + 5  # not the 30 s of the whole list
        # A page that trickles is cut where the list's deadline falls, not at its own 20 s.
        emulator.set_faults(endless_jobs=False, latency_s=0, trickle_s=0.05, trickle_path=contract.JOBS_PATH)
        started = time.monotonic()
        with pytest.raises(DeadlineError, match=r"took longer than 2 s \(0 page\(s\) read\)"):
            cloud.client.waiting_jobs(emulator.users[0].id)
        assert time.monotonic() - started < 2 + 5  # not the page's own 20 s
        emulator.set_faults(trickle_s=0)
        assert len(cloud.client.waiting_jobs(emulator.users[0].id)) == 1
    assert parse_config("[cloud]\nlist_deadline_s = 90\n").cloud.list_deadline_s == 90.0
    with pytest.raises(ConfigError, match="list_deadline_s"):
        parse_config("[cloud]\nlist_deadline_s = 1\n")


# --- pairing again ---------------------------------------------------------------------------


def test_pairing_again_revokes_the_old_refresh_token(rig: Rig) -> None:
    record = rig.cloud.keeper.record
    assert record is not None and record.pair is not None
    old = record.pair
    revokes = rig.emulator.stats()["revoke"]
    pair(rig.emulator, rig.cloud)
    assert rig.emulator.stats()["revoke"] == revokes + 1
    with pytest.raises(GrantError, match="invalid_grant"):
        rig.cloud.http.oauth(contract.TOKEN_PATH, contract.refresh_form(old.refresh_token))
    assert rig.client.printers()  # the new pair works
    assert rig.cloud.keeper.renew(rig.cloud.keeper.access_token())


def test_pairing_again_while_revoke_cannot_reach_ezeep(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    record = rig.cloud.keeper.record
    assert record is not None and record.pair is not None
    old = record.pair
    code = rig.cloud.pairer.start()
    rig.emulator.approve(code.code, email=rig.emulator.users[0].email)
    new = rig.cloud.pairer.wait(code, threading.Event())
    rig.emulator.set_faults(offline=True)
    rig.cloud.keeper.install(new, hardware_id=HW)  # the revoke fails; pairing goes on
    rig.emulator.set_faults(offline=False)
    assert "could not revoke a refresh token at ezeep" in caplog.text
    stored = rig.cloud.keeper.record
    assert stored is not None and stored.pair is not None
    assert stored.pair.refresh_token == new.refresh_token != old.refresh_token
    assert old.refresh_token not in caplog.text
    assert rig.client.printers()
