"""The cloud client against the ezeep emulator over real HTTP on 127.0.0.1.

Pairing, the token lifecycle (rotation, single flight, lost answers, reuse detection, several
processes on one database) and every API call the station makes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from station.cloud.api import EzeepClient
from station.cloud.errors import (
    ClosedError,
    CloudError,
    DeadlineError,
    NotFoundError,
    OfflineError,
    PairingCancelledError,
    PairingDeniedError,
    ServerError,
    TokenRejectedError,
)
from station.cloud.http import CloudHttp
from station.cloud.models import JobState, PairingCode, TokenPair
from station.cloud.pairing import Pairer
from station.cloud.stack import CloudStack
from station.cloud.tokens import TokenKeeper, TokenStore
from station.database import open_database
from station.emulator import Emulator
from tests.support.clock import ClockedEvent, FakeClock
from tests.support.emulator_http import wait_for_slow_done

HW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CLIENT = "release-station-test"

EmulatorFactory = Callable[..., Emulator]


def make_http(emulator: Emulator) -> CloudHttp:
    return CloudHttp.single_host(emulator.url, client_id=CLIENT, timeout_s=5)


@pytest.fixture
def cloud(emulator: Emulator, tmp_path: Path) -> Iterator[CloudStack]:
    with CloudStack.create(
        make_http(emulator), open_database(tmp_path / "station.db"), hardware_id=HW, poll_interval_s=0.05
    ) as stack:
        yield stack


@pytest.fixture
def flow(profiled_emulator: Emulator, tmp_path: Path) -> Iterator[tuple[CloudStack, Emulator]]:
    """The station's cloud parts and an emulator, once per emulator profile (default, strict)."""
    with CloudStack.create(
        make_http(profiled_emulator),
        open_database(tmp_path / "station.db"),
        hardware_id=HW,
        poll_interval_s=0.05,
    ) as stack:
        yield stack, profiled_emulator


def pair(cloud: CloudStack, emulator: Emulator, printer: int = 0) -> TokenPair:
    emulator.auto_approve_device = emulator.printers[printer].id
    code = cloud.pairer.start()
    pair = cloud.pairer.wait(code, threading.Event())
    cloud.keeper.install(pair, hardware_id=HW)
    return pair


def test_full_pairing_binds_the_printer(flow: tuple[CloudStack, Emulator], tmp_path: Path) -> None:
    cloud, emulator = flow
    pair(cloud, emulator, printer=1)
    assert cloud.keeper.paired
    binding = cloud.keeper.binding
    assert binding is not None and binding.tp_id == emulator.printers[1].tp_id == emulator.binding(HW)
    assert cloud.client.station_printer().id == emulator.printers[1].id
    assert (tmp_path / "station.db").stat().st_mode & 0o777 == 0o600
    # Persisted before use: a second keeper on the same database sees the same pair.
    again = TokenKeeper(TokenStore(open_database(tmp_path / "station.db")), cloud.http)
    assert again.paired and again.binding == binding


def test_pairing_by_hand_with_pending_polls(cloud: CloudStack, emulator: Emulator) -> None:
    # The first member approves the code on the sign-in page once two polls were told to wait.
    # The pauses between polls move a fake clock instead of sleeping, so no poll can be late for
    # the approval, however loaded the machine.
    code = cloud.pairer.start()
    assert "pairing_code" in code.auth_url and code.code in code.auth_url

    def meanwhile() -> None:
        if emulator.stats()["poll"] == 2:
            emulator.approve(code.code, email=emulator.users[0].email)

    token_pair = cloud.pairer.wait(code, ClockedEvent(FakeClock(), meanwhile))
    assert token_pair.expires_in > 0
    assert emulator.stats()["poll"] == 3  # pending, pending, approved


def test_denied_pairing(cloud: CloudStack, emulator: Emulator) -> None:
    code = cloud.pairer.start()
    emulator.deny(code.code)
    with pytest.raises(PairingDeniedError):
        cloud.pairer.wait(code, threading.Event())


def test_cancel_stops_at_once(cloud: CloudStack) -> None:
    code = cloud.pairer.start()
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(PairingCancelledError):
        cloud.pairer.wait(code, cancel)


def test_slow_down_slows_polling_for_good(
    make_emulator: EmulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # The pairer and the emulator share one fake clock, which the pairer's pauses move: the
    # emulator sees them exactly, however loaded the machine. The pairer starts too fast (0.1 s
    # against 1 s), is told to slow down once (the emulator's interval becomes 1 + 5 s), and
    # polling every 0.1 + 6 s from then on, is never told again; the code is approved at 20 s.
    clock = FakeClock()
    emulator = make_emulator(poll_interval_s=1.0, clock=clock)
    http = make_http(emulator)
    pairer = Pairer(http, CLIENT, HW, interval_s=0.1, slow_down_step_s=6.0, clock=clock)
    code = pairer.start()
    approve_at = clock() + 20.0
    approved: list[float] = []

    def meanwhile() -> None:
        if clock() >= approve_at and not approved:
            emulator.approve(code.code, email=emulator.users[0].email)
            approved.append(clock())

    caplog.set_level(logging.INFO, logger="station.cloud.pairing")
    assert pairer.wait(code, ClockedEvent(clock, meanwhile)).access_token
    # Polls at 0.1 (pending), 0.2 (slow_down), 6.3, 12.4, 18.5 (pending) and 24.6 (approved).
    assert emulator.stats()["poll"] == 6
    assert caplog.text.count("ezeep asked to poll more slowly") == 1
    http.close()


def test_expired_code_is_replaced(make_emulator: EmulatorFactory, tmp_path: Path) -> None:
    emulator = make_emulator(code_lifetime_s=0.4)
    http = make_http(emulator)
    pairer = Pairer(http, CLIENT, HW, interval_s=0.1)
    shown: list[PairingCode] = []

    def approve(code: PairingCode) -> None:
        shown.append(code)
        emulator.approve(code.code, email=emulator.users[0].email, printer_id=emulator.printers[0].id)

    first = pairer.start()
    token_pair = pairer.wait(first, threading.Event(), on_new_code=approve)
    assert len(shown) == 1 and shown[0].code != first.code
    assert token_pair.refresh_token
    http.close()


def test_rotation_over_many_refreshes(flow: tuple[CloudStack, Emulator]) -> None:
    cloud, emulator = flow
    pair(cloud, emulator)
    seen = set()
    for _ in range(30):
        assert cloud.keeper.renew(cloud.keeper.access_token())
        record = cloud.keeper.record
        assert record is not None and record.pair is not None
        seen.add(record.pair.refresh_token)
        # The stored pair is always the newest one.
        stored = cloud.store.load()
        assert stored is not None and stored.pair is not None
        assert stored.pair.refresh_token == record.pair.refresh_token
    assert len(seen) == 30
    assert emulator.stats()["refresh"] == 30
    assert cloud.client.station_printer().tp_id == emulator.printers[0].tp_id


@pytest.mark.parametrize("mixed", [False, True], ids=["waiting", "waiting-and-impatient"])
def test_twenty_threads_cause_one_refresh(
    make_emulator: EmulatorFactory, tmp_path: Path, mixed: bool
) -> None:
    emulator = make_emulator()
    clock = FakeClock(0.0)
    db = open_database(tmp_path / "station.db")
    http = make_http(emulator)
    keeper = TokenKeeper(TokenStore(db, clock=clock), http, clock=clock)
    emulator.auto_approve_device = emulator.printers[0].id
    pairer = Pairer(http, CLIENT, HW, interval_s=0.05, clock=clock)
    keeper.install(pairer.wait(pairer.start(), threading.Event()), hardware_id=HW)
    emulator.set_faults(latency_s=0.3)  # keep the one refresh in flight while the others arrive
    clock.now = 4000.0  # past expires_in (3600 s): the waiting callers must wait for a fresh token
    barrier = threading.Barrier(20)
    tokens: dict[bool, list[str]] = {True: [], False: []}
    refused: list[OfflineError] = []

    def need_token(wait: bool) -> None:
        barrier.wait()
        try:
            tokens[wait].append(keeper.access_token(wait=wait))
        except OfflineError as exc:  # impatient, and a refresh was under way: told so at once
            refused.append(exc)

    threads = [threading.Thread(target=need_token, args=(not mixed or n % 2 == 0,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert emulator.stats()["refresh"] == 1
    waiting = 10 if mixed else 20
    assert len(tokens[True]) == waiting and len(tokens[False]) + len(refused) == 20 - waiting
    assert len(set(tokens[True] + tokens[False])) == 1
    stored = TokenStore(db).load()
    assert stored is not None and stored.pair is not None
    assert stored.pair.access_token == tokens[True][0]  # persisted before anyone used it
    http.close()


def test_an_impatient_caller_does_not_wait_for_another_process_refreshing(
    cloud: CloudStack, emulator: Emulator
) -> None:
    pair(cloud, emulator)
    token = cloud.keeper.access_token()
    requests = emulator.stats()["refresh"]
    with cloud.store.exclusive():  # as another process holds it while it refreshes
        assert cloud.keeper.refresh_if_due(wait=False) is False  # not due yet: nothing to do
        with pytest.raises(OfflineError, match="another process"):
            cloud.keeper.renew(token, wait=False)
    assert emulator.stats()["refresh"] == requests
    assert cloud.keeper.renew(token, wait=False) != token


def test_dropped_answer_after_rotation_leads_to_repairing_with_the_same_tp_id(
    cloud: CloudStack, emulator: Emulator
) -> None:
    pair(cloud, emulator, printer=1)
    tp_id = cloud.keeper.binding.tp_id  # type: ignore[union-attr]
    emulator.set_faults(drop_after_rotation=1)
    old = cloud.keeper.access_token()
    with pytest.raises(TokenRejectedError):
        cloud.keeper.renew(old)
    # Dropped answer (OfflineError) -> retried with the same token -> invalid_grant.
    assert emulator.stats()["refresh"] == 2
    assert not cloud.keeper.paired
    assert cloud.keeper.last_tp_id == tp_id
    with pytest.raises(TokenRejectedError):
        cloud.keeper.access_token()
    # Re-pair with the same hardware id: the emulator keeps the binding (auto-approval would
    # pick printer 0 for a new device, so getting printer 1 back proves the binding held).
    pair(cloud, emulator, printer=0)
    assert cloud.keeper.paired
    assert cloud.keeper.binding.tp_id == tp_id
    assert cloud.client.station_printer().tp_id == tp_id


def test_reuse_detection_never_trips_with_two_processes_on_one_database(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Two keepers with their own connections to one database (as two processes would) refresh
    concurrently; the flock and the re-read mean no rotated token is ever spent twice."""
    emulator.set_faults(reuse_detection=True)
    path = tmp_path / "station.db"
    stacks = [
        CloudStack.create(make_http(emulator), open_database(path), hardware_id=HW, poll_interval_s=0.05)
        for _ in range(2)
    ]
    pair(stacks[0], emulator)
    keepers = [TokenKeeper(TokenStore(open_database(path)), stack.http) for stack in stacks]
    errors: list[BaseException] = []

    def churn(keeper: TokenKeeper) -> None:
        for _ in range(15):
            try:
                keeper.renew(keeper.access_token())
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=churn, args=(k,)) for k in keepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Both still hold a live pair: one more API call each works.
    for keeper, stack in zip(keepers, stacks, strict=True):
        assert EzeepClient(stack.http, keeper).printers()
    for stack in stacks:
        stack.close()


def test_reuse_detection_revokes_the_family_and_repairing_recovers(
    cloud: CloudStack, emulator: Emulator
) -> None:
    pair(cloud, emulator, printer=1)
    emulator.set_faults(reuse_detection=True)
    record = cloud.keeper.record
    assert record is not None and record.pair is not None
    stale = record.pair.refresh_token
    cloud.keeper.renew(cloud.keeper.access_token())
    # Someone presents the rotated token (a thief, or a buggy second process): family revoked.
    from station.cloud import contract

    with pytest.raises(Exception, match="invalid_grant"):
        cloud.http.oauth(contract.TOKEN_PATH, contract.refresh_form(stale))
    with pytest.raises(TokenRejectedError):
        cloud.keeper.renew(cloud.keeper.access_token())
    pair(cloud, emulator, printer=0)
    assert cloud.keeper.binding.tp_id == emulator.printers[1].tp_id  # type: ignore[union-attr]


def test_5xx_is_retried_with_the_same_token_honouring_retry_after(emulator: Emulator, tmp_path: Path) -> None:
    http = make_http(emulator)
    pauses: list[float] = []
    store = TokenStore(open_database(tmp_path / "station.db"))
    keeper = TokenKeeper(store, http, wait=pauses.append, backoff_s=0.01, backoff_cap_s=30)
    emulator.auto_approve_device = emulator.printers[0].id
    pairer = Pairer(http, CLIENT, HW, interval_s=0.05)
    keeper.install(pairer.wait(pairer.start(), threading.Event()), hardware_id=HW)
    emulator.set_faults(error_5xx=3, retry_after_s=7)
    keeper.renew(keeper.access_token())
    assert pauses == [7, 7, 7]
    assert emulator.stats()["refresh"] == 1  # the three 503s never reached the token endpoint
    emulator.set_faults(error_5xx=10)
    with pytest.raises(ServerError):
        keeper.renew(keeper.access_token())
    assert keeper.paired  # a 5xx never costs the pair
    http.close()


def test_offline_is_a_typed_error(cloud: CloudStack, emulator: Emulator) -> None:
    pair(cloud, emulator)
    emulator.set_faults(offline=True)
    with pytest.raises(OfflineError):
        cloud.client.printers()
    emulator.set_faults(offline=False)
    assert cloud.client.printers()


def test_api_calls(flow: tuple[CloudStack, Emulator]) -> None:
    cloud, emulator = flow
    pair(cloud, emulator)
    listed = {p.id for p in cloud.client.printers()}
    if emulator.profile == "strict":  # besides: a twin of each on another connector, the AnyPrinter queue
        assert listed > {p.id for p in emulator.printers} and len(listed) == 5
    else:
        assert listed == {p.id for p in emulator.printers}
    user = emulator.users[4]  # no seeded jobs
    for n in range(130):  # more than one page of 100
        emulator.add_job(user.email, name=f"doc {n}.pdf", pages=1 + n % 3)
    jobs = cloud.client.waiting_jobs(user.id)
    # Under strict the list ignored user= and held everybody's jobs: only the user's are kept.
    assert len(jobs) == 130 and len({j.id for j in jobs}) == 130
    assert all(j.owner_id == user.id for j in jobs)
    station = cloud.client.station_printer()
    assert station.id == emulator.printers[0].id
    spool_id = cloud.client.release(jobs[0].id, station.id)
    status = cloud.client.wait_for_job(spool_id, timeout_s=30, interval_s=0.1)
    assert status.state is JobState.PRINTED
    assert emulator.release_counts()[jobs[0].id] == 1
    cloud.client.delete(jobs[1].id)
    assert len(emulator.waiting_jobs(user.email)) == 128
    with pytest.raises(NotFoundError):
        cloud.client.delete("no-such-job")
    found = cloud.client.find_users(email=user.email)
    assert [u.id for u in found] == [user.id]
    assert user.id in {u.id for u in cloud.client.find_users(search=user.last_name[:4])}


def test_only_the_users_own_jobs_whatever_the_list_holds(flow: tuple[CloudStack, Emulator]) -> None:
    cloud, emulator = flow
    pair(cloud, emulator)
    user = emulator.users[0]  # one seeded job; the others have nine between them
    asked = {"status": "INQUEUE", "user": user.id}
    token = cloud.keeper.access_token()
    listed = cloud.http.request("GET", "api", "/printing/v1/printjobs/", token=token, params=asked)
    assert isinstance(listed, dict)
    # Strict: ezeep's pages do not say a device token's user= is honoured, so it is ignored there.
    assert listed["count"] == (10 if emulator.profile == "strict" else 1)
    jobs = cloud.client.waiting_jobs(user.id)
    assert [job.id for job in jobs] == [job["id"] for job in emulator.waiting_jobs(user.email)]
    assert all(cloud.client.owns(job, user.id) for job in jobs)


def test_failed_print(flow: tuple[CloudStack, Emulator]) -> None:
    cloud, emulator = flow
    pair(cloud, emulator)
    emulator.set_printer_fails(emulator.printers[0].id, True)
    job = cloud.client.waiting_jobs(emulator.users[0].id)[0]
    if emulator.profile == "strict":  # refused at once, with ezeep's code
        with pytest.raises(CloudError) as refused:
            cloud.client.release(job.id, emulator.printers[0].id)
        assert getattr(refused.value, "code", None) == 804
        assert job.id in {j.id for j in cloud.client.waiting_jobs(emulator.users[0].id)}
        return
    spool_id = cloud.client.release(job.id, emulator.printers[0].id)
    status = cloud.client.wait_for_job(spool_id, timeout_s=30, interval_s=0.1)
    assert status.state is JobState.FAILED and status.code == 3011


def test_user_pairing_me_and_revoke(flow: tuple[CloudStack, Emulator]) -> None:
    cloud, emulator = flow
    pair(cloud, emulator)
    user = emulator.users[2]
    emulator.auto_approve_user = user.email
    code = cloud.pairer.start("user")
    user_pair = cloud.pairer.wait(code, threading.Event())
    assert cloud.client.me(user_pair.access_token).id == user.id
    cloud.client.revoke(user_pair.refresh_token)
    assert emulator.stats()["revoke"] == 1


def test_unpair_revokes_and_forgets(flow: tuple[CloudStack, Emulator]) -> None:
    cloud, emulator = flow
    pair(cloud, emulator)
    assert cloud.keeper.forget(revoke=cloud.client.revoke)
    assert not cloud.keeper.paired and cloud.keeper.record is None
    assert cloud.store.load() is None
    with pytest.raises(TokenRejectedError):
        cloud.client.printers()


def test_a_whole_run_logs_no_token(
    cloud: CloudStack, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: set[str] = set()
    token_pair = pair(cloud, emulator)
    secrets |= {token_pair.access_token, token_pair.refresh_token}
    for _ in range(3):
        secrets.add(cloud.keeper.renew(cloud.keeper.access_token()))
        record = cloud.keeper.record
        assert record is not None and record.pair is not None
        secrets.add(record.pair.refresh_token)
    cloud.client.waiting_jobs(emulator.users[0].id)
    emulator.set_faults(drop_after_rotation=1)
    with pytest.raises(TokenRejectedError):
        cloud.keeper.renew(cloud.keeper.access_token())
    cloud.keeper.forget(revoke=cloud.client.revoke)
    text = caplog.text
    assert "token refresh attempt" in text  # the run did log
    for secret in secrets:
        assert secret not in text
        assert secret.split(".")[-1] not in text  # not even a JWT's signature part


def test_close_cuts_a_request_in_flight_and_refuses_later_ones(emulator: Emulator) -> None:
    """A stop closes the connection under a request ezeep holds: it ends at once, as expected."""
    http = make_http(emulator)  # 5 s timeout, far beyond the wait below
    emulator.set_faults(held_path="/printing/v1/printers/")  # held until the test lets it go
    ended: list[BaseException] = []

    def request() -> None:
        try:
            http.request("GET", "api", "/printing/v1/printers/", token="any")
        except Exception as exc:  # the test looks at what it was
            ended.append(exc)

    thread = threading.Thread(target=request)
    thread.start()
    wait_for_slow_done(emulator, 1, held=True)
    closed = time.monotonic()
    http.close()
    thread.join(4.0)
    assert not thread.is_alive()
    assert time.monotonic() - closed < 4.0  # cut, not ended by the 5 s timeout
    emulator.set_faults(held_path="")
    assert [type(exc) for exc in ended] == [ClosedError]
    assert isinstance(ended[0], OfflineError)  # callers that know offline know this
    with pytest.raises(ClosedError, match="not sent"):
        http.request("GET", "api", "/printing/v1/printers/", token="any")
    http.close()  # twice is fine


def test_a_refresh_that_lands_after_its_timeout_rotates_the_token_and_loses_nothing(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The refresh answer never arrives in time, but ezeep rotated: the old refresh token is
    dead. The station pairs again with the same hardware id and keeps its printer."""
    http = CloudHttp.single_host(emulator.url, client_id=CLIENT, timeout_s=2.0)
    with CloudStack.create(
        http, open_database(tmp_path / "station.db"), hardware_id=HW, poll_interval_s=0.05
    ) as cloud:
        pair(cloud, emulator, printer=1)
        binding = cloud.keeper.binding
        assert binding is not None
        emulator.set_faults(held_path="/oauth/access_token/")  # until the test lets it land
        keeper = TokenKeeper(cloud.store, http, max_attempts=1)
        with pytest.raises(OfflineError):
            keeper.renew(keeper.access_token())
        emulator.set_faults(held_path="")
        wait_for_slow_done(emulator, 1)  # the rotation landed after the station gave up
        with pytest.raises(TokenRejectedError):
            keeper.renew(keeper.access_token())
        assert not keeper.paired and keeper.last_tp_id == binding.tp_id
        pair(cloud, emulator, printer=0)  # auto-approval offers printer 0; the binding wins
        assert cloud.client.station_printer().tp_id == binding.tp_id


def test_a_probe_gives_each_request_a_short_deadline(cloud: CloudStack, emulator: Emulator) -> None:
    pair(cloud, emulator)
    probe = cloud.client.probing(0.5)
    emulator.set_faults(held_path="/printing/v1/printers/")  # a black hole
    started = time.monotonic()
    with pytest.raises(DeadlineError):
        probe.station_printer()
    assert time.monotonic() - started < 4.0  # not the 5 s request timeout
    emulator.set_faults(held_path="")
    assert probe.station_printer().id == emulator.printers[0].id
    with pytest.raises(ValueError, match="above 0"):
        cloud.client.probing(0)


def test_more_requests_at_once_than_the_keepalive_limit_leave_every_connection_open_for_the_next(
    cloud: CloudStack, emulator: Emulator
) -> None:
    """httpcore 1.0 closes idle connections while its pool holds more than
    ``max_keepalive_connections`` connections, busy ones counted, and may close one it has just
    given to a request that has not started (encode/httpcore#1110): a release sent on it would
    wait out its deadline for an answer that cannot come, and be in doubt. The station's pool
    never takes that path: 24 requests at once (16 releases and their status checks on the print
    host and the rest on the other two can pass 20) leave 24 connections, and 24 more at once
    open none."""
    pair(cloud, emulator)
    cloud.client.station_printer()  # the token, and the pairing's connections gone idle
    emulator.set_faults(latency_s=0.3)  # every request of a round is in flight together

    def round_of_requests() -> int:
        before = emulator.stats()["connections"]
        answered: list[object] = []
        threads = [
            threading.Thread(target=lambda: answered.append(cloud.client.printers())) for _ in range(24)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(answered) == 24  # a failed request opens no connection: it must not count as none
        return emulator.stats()["connections"] - before

    assert round_of_requests() >= 23  # one may be the idle one from before
    assert round_of_requests() == 0
