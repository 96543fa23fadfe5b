"""Pure protocol logic of the cloud client, through httpx's MockTransport.

What the emulator cannot produce on demand: arbitrary (fuzzed) answers, exact pause sequences,
a clock that jumps. Everything else is tested against the emulator in test_cloud_emulator.py.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station.cloud import contract
from station.cloud.api import EzeepClient
from station.cloud.errors import (
    BadAnswerError,
    CloudError,
    GrantError,
    NotFoundError,
    OfflineError,
    PairingExpiredError,
    ServerError,
    UnauthorisedError,
)
from station.cloud.http import CloudHttp, retry_after_seconds
from station.cloud.models import PairingCode, TokenPair
from station.cloud.pairing import Pairer
from station.cloud.tokens import TokenKeeper, TokenStore
from station.config import CloudSection
from station.database import memory_database
from tests.support.clock import FakeClock
from tests.support.cloud_mock import mock_http


def jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


def token_answer(n: int, tp_id: int = 7) -> dict[str, object]:
    return {
        "access_token": jwt({"sub": "dev", "org": "org", "pty": "dev", "tp_id": tp_id, "n": n}),
        "refresh_token": f"rt{n}",
        "expires_in": 3600,
        "token_type": "Bearer",
    }


class RecordingEvent(threading.Event):
    """A cancel event whose waits return at once and are recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(round(timeout or 0.0, 3))
        return self.is_set()


# --- the HTTP boundary ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401), UnauthorisedError),
        (httpx.Response(403), UnauthorisedError),
        (httpx.Response(404), NotFoundError),
        (httpx.Response(503, headers={"Retry-After": "3"}), ServerError),
        (httpx.Response(429), ServerError),
        (httpx.Response(418), BadAnswerError),
        (httpx.Response(302, headers={"Location": "https://elsewhere"}), BadAnswerError),
        (httpx.Response(200, content=b"<html>"), BadAnswerError),
        (httpx.Response(200, content=b"[" * 100_000), BadAnswerError),
        (httpx.Response(200, content=b"\xff\xfe"), BadAnswerError),
    ],
)
def test_statuses_map_to_typed_errors(response: httpx.Response, error: type[CloudError]) -> None:
    http = mock_http(lambda request: response)
    with pytest.raises(error):
        http.request("GET", "api", "/x", token="t")


def test_transport_failures_are_offline() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(OfflineError):
        mock_http(fail).request("GET", "api", "/x", token="t")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(OfflineError):
        mock_http(slow).request("GET", "api", "/x", token="t")


def test_the_connect_timeout_comes_from_the_config_and_a_connect_timeout_is_offline() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    section = CloudSection(request_timeout_s=12.0, connect_timeout_s=0.75)
    with CloudHttp.from_config(section, transport=httpx.MockTransport(handler)) as http:
        http.request("GET", "api", "/x", token="t")
    assert seen[0].extensions["timeout"] == {"connect": 0.75, "read": 12.0, "write": 12.0, "pool": 12.0}
    with pytest.raises(ValueError, match="connect_timeout_s"):
        CloudSection(connect_timeout_s=0.1)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("no SYN-ACK", request=request)

    with pytest.raises(OfflineError, match="did not answer in time"):
        mock_http(unreachable).request("GET", "api", "/x", token="t")


def test_every_http_answer_counts_as_contact_and_a_failed_connection_does_not() -> None:
    contacts: list[None] = []
    statuses = [httpx.Response(404), httpx.Response(503), httpx.Response(200, json={})]

    def handler(request: httpx.Request) -> httpx.Response:
        if not statuses:
            raise httpx.ConnectError("refused", request=request)
        return statuses.pop(0)

    http = mock_http(handler, on_answer=lambda: contacts.append(None))
    for error in (NotFoundError, ServerError):
        with pytest.raises(error):
            http.request("GET", "api", "/x", token="t")
    http.request("GET", "api", "/x", token="t")
    assert len(contacts) == 3
    with pytest.raises(OfflineError):
        http.request("GET", "api", "/x", token="t")
    assert len(contacts) == 3


def test_a_failing_contact_callback_never_fails_the_request(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("bookkeeping bug")

    http = mock_http(lambda request: httpx.Response(200, json={"ok": 1}), on_answer=broken)
    assert http.request("GET", "api", "/x", token="t") == {"ok": 1}
    assert "the answer callback failed" in caplog.text


@pytest.mark.parametrize("declared", [True, False])
def test_huge_answers_are_refused(declared: bool) -> None:
    body = b"[" + b"1," * 1000 + b"1]"

    def handler(request: httpx.Request) -> httpx.Response:
        # Without a declared length the body arrives in chunks and is cut off while reading.
        return httpx.Response(200, content=body if declared else iter([body[:1000], body[1000:]]))

    with pytest.raises(BadAnswerError, match=r"too large|larger than"):
        mock_http(handler, max_answer_bytes=100).request("GET", "api", "/x", token="t")


def test_oauth_sends_basic_client_id_and_maps_error_codes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(400, json={"error": "invalid_grant"})

    with pytest.raises(GrantError) as info:
        mock_http(handler).oauth(contract.TOKEN_PATH, contract.refresh_form("r"))
    assert info.value.code == "invalid_grant"
    assert seen[0].headers["Authorization"] == "Basic " + base64.b64encode(b"cid:").decode()
    assert seen[0].url == "https://account.test/oauth/access_token/"
    assert b"grant_type=refresh_token" in seen[0].content


def test_retry_after_forms() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("5") == 5
    assert retry_after_seconds("99999999") == 3600
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("²") is None  # a digit to str.isdigit(), not to float()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
field_names = st.sampled_from(
    [
        "results",
        "count",
        "next",
        "id",
        "name",
        "tp_id",
        "status",
        "jobid",
        "jobstatus",
        "access_token",
        "refresh_token",
        "expires_in",
        "pairing_code",
        "auth_url",
        "verification_uri",
        "error",
        "pages",
        "created",
        "email",
    ]
)
plausible = st.dictionaries(field_names, json_values | st.lists(st.dictionaries(field_names, json_values)))
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    plausible.map(lambda v: json.dumps(v).encode()),
    plausible.map(lambda v: json.dumps(v).encode()[: max(1, len(json.dumps(v)) // 2)]),
)


retry_after_values = st.one_of(
    st.text(max_size=10), st.text(alphabet="0123456789\u00b2\u00b3\u0661\u0662 -:,GMTMon", max_size=30)
).map(lambda text: text.encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from([200, 201, 204, 400, 401, 404, 409, 429, 500, 503]),
    body=bodies,
    retry_after=retry_after_values,
)
def test_fuzzed_answers_raise_only_typed_errors(status: int, body: bytes, retry_after: bytes) -> None:
    http = mock_http(
        lambda request: httpx.Response(status, content=body, headers={b"Retry-After": retry_after})
    )
    store = TokenStore(memory_database(), clock=lambda: 0.0, boot_id="b")
    keeper = TokenKeeper(store, http, clock=lambda: 0.0, wait=lambda s: None, max_attempts=2)
    keeper.install(TokenPair(jwt({"tp_id": 7}), "rt", 3600, 0.0), hardware_id="hw")
    client = EzeepClient(http, keeper, max_items=300, max_jobs=300)
    pairer = Pairer(http, "cid", "hw", code_lifetime_s=1)
    calls: list[Callable[[], object]] = [
        client.printers,
        client.station_printer,
        lambda: client.waiting_jobs("u"),
        lambda: client.release("j", "p"),
        lambda: client.status("s"),
        lambda: client.delete("j"),
        lambda: client.find_users(search="a"),
        lambda: client.me("t"),
        lambda: client.revoke("r"),
        pairer.start,
        lambda: keeper.renew(keeper.access_token()),
    ]
    for call in calls:
        try:
            call()
        except CloudError as error:  # anything else escapes and fails the test
            assert str(error), f"{type(error).__name__} without a message"


def test_hostile_tokens_and_ids_are_typed_errors() -> None:
    deep = base64.urlsafe_b64encode(b"[" * 100_000).decode().rstrip("=")
    with pytest.raises(BadAnswerError):
        contract.jwt_claims(f"e30.{deep}.c2ln")
    # A refresh answer carrying such a token is stored (it may still work) but names no printer.
    answer = {"access_token": f"e30.{deep}.c2ln", "refresh_token": "rt1", "expires_in": 3600}
    keeper, _, _ = keeper_with([httpx.Response(200, json=answer)], FakeClock(4000.0))
    assert keeper.access_token() == answer["access_token"]
    assert keeper.binding is None
    # The ids are refused before anything is sent: a transport that fails the test if used.
    client = EzeepClient(mock_http(lambda request: pytest.fail(f"sent {request.url}")), keeper)
    for job_id in ("", "a/b", ".."):
        with pytest.raises(NotFoundError):
            client.delete(job_id)


# --- pairing pacing -----------------------------------------------------------------------------
def scripted(answers: list[httpx.Response]) -> tuple[CloudHttp, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == contract.PAIR_PATH:
            return httpx.Response(200, json={"pairing_code": f"C{len(seen)}", "auth_url": "https://a/x"})
        return answers.pop(0)

    return mock_http(handler), seen


def test_the_short_address_to_type_is_kept_apart_from_the_link_in_the_qr_code() -> None:
    long = "https://a/auth/signin/?next=%2Foauth%2Fauthorize%2Fpairing%2F%3Fpairing_code%3DC1"
    answer = {"pairing_code": "C1", "auth_url": long, "verification_uri": "https://a/device"}
    assert contract.parse_pairing(answer) == ("C1", long, "https://a/device")
    # ezeep sends none (as far as seen): the station shows the whole link then.
    code = PairingCode("C1", long, 600.0)
    assert contract.parse_pairing({"pairing_code": "C1", "auth_url": long})[2] == code.short_url == long
    with pytest.raises(BadAnswerError, match="verification_uri is not a web address"):
        contract.parse_pairing({**answer, "verification_uri": "javascript:alert(1)"})


def pending(code: str = "authorization_pending") -> httpx.Response:
    return httpx.Response(400, json={"error": code})


def test_slow_down_adds_five_seconds_for_good() -> None:
    http, seen = scripted([pending(), pending("slow_down"), pending(), pending("slow_down"), pending(),
                           httpx.Response(200, json=token_answer(1))])  # fmt: skip
    pairer = Pairer(http, "cid", "hw", clock=lambda: 0.0)
    cancel = RecordingEvent()
    pair = pairer.wait(pairer.start(), cancel)
    assert pair.refresh_token == "rt1"
    assert cancel.waits == [5, 5, 10, 10, 15, 15]
    assert b"hardware_id=hw" in seen[0].content and b"mode=device" in seen[0].content


def test_expired_codes_are_renewed_then_given_up() -> None:
    clock = FakeClock(0.0)
    http, _seen = scripted([pending("expired_token")] * 10)
    pairer = Pairer(http, "cid", "hw", max_codes=3, clock=clock)
    codes: list[PairingCode] = []
    with pytest.raises(PairingExpiredError):
        pairer.wait(pairer.start(), RecordingEvent(), on_new_code=codes.append)
    assert [c.code for c in codes] == ["C3", "C5"]


def test_a_code_past_its_lifetime_is_replaced_without_polling() -> None:
    clock = FakeClock(0.0)
    http, seen = scripted([httpx.Response(200, json=token_answer(1))])
    pairer = Pairer(http, "cid", "hw", code_lifetime_s=600, clock=clock)
    code = pairer.start()
    clock.now = 601.0
    replaced: list[PairingCode] = []
    assert pairer.wait(code, RecordingEvent(), on_new_code=replaced.append).refresh_token == "rt1"
    assert len(replaced) == 1 and [r.url.path for r in seen] == [
        "/oauth/pair/",
        "/oauth/pair/",
        "/oauth/access_token/",
    ]


# --- token keeper -------------------------------------------------------------------------------
def keeper_with(
    answers: list[httpx.Response], clock: FakeClock, store: TokenStore | None = None
) -> tuple[TokenKeeper, list[float], list[bytes]]:
    """A paired keeper on ``store`` (a fresh in-memory one if None) whose refreshes get ``answers``."""
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return answers.pop(0)

    pauses: list[float] = []
    http = mock_http(handler)
    store = store or TokenStore(memory_database(), clock=clock, boot_id="b")
    keeper = TokenKeeper(store, http, clock=clock, wait=pauses.append, backoff_s=1, backoff_cap_s=8)
    keeper.install(TokenPair(jwt({"tp_id": 7}), "rt0", 3600, 0.0), hardware_id="hw")
    return keeper, pauses, bodies


def test_backoff_is_capped_jittered_and_reuses_the_same_refresh_token() -> None:
    clock = FakeClock(4000.0)
    answers = [httpx.Response(503)] * 6 + [httpx.Response(200, json=token_answer(1))]
    keeper, pauses, bodies = keeper_with(answers, clock)
    with pytest.raises(ServerError):
        keeper.access_token()  # expired: five attempts, then give up for now
    assert len(pauses) == 4 and all(p <= 8 for p in pauses)
    assert 0.5 <= pauses[0] <= 1 and 4 <= pauses[3] <= 8
    assert {b for b in bodies} == {b"grant_type=refresh_token&scope=printing&refresh_token=rt0"}
    assert keeper.paired
    keeper.access_token()
    assert keeper.record.pair.refresh_token == "rt1"  # type: ignore[union-attr]


def test_an_early_refresh_that_fails_keeps_the_valid_token() -> None:
    clock = FakeClock(3000.0)  # past 75 % of the lifetime, not expired
    keeper, pauses, bodies = keeper_with(
        [httpx.Response(500), httpx.Response(200, json=token_answer(1))], clock
    )
    old = keeper.access_token()
    assert pauses == [] and len(bodies) == 1  # one attempt, no waiting in front of a user
    assert keeper.access_token() != old


def test_after_a_reboot_a_stored_pair_is_due_at_once() -> None:
    db = memory_database()
    TokenStore(db, clock=lambda: 100.0, boot_id="boot-1").save(
        TokenPair("a", "r", 3600, 100.0), hardware_id="h"
    )
    same_boot = TokenStore(db, clock=lambda: 200.0, boot_id="boot-1").load()
    other_boot = TokenStore(db, clock=lambda: 200.0, boot_id="boot-2").load()
    assert same_boot is not None and same_boot.pair is not None and same_boot.pair.obtained_at == 100.0
    assert (
        other_boot is not None
        and other_boot.pair is not None
        and other_boot.pair.obtained_at == float("-inf")
    )


def test_a_full_disk_keeps_the_new_pair_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(4000.0)
    store = TokenStore(memory_database(), clock=clock, boot_id="b")
    keeper, _, _ = keeper_with(
        [httpx.Response(200, json=token_answer(1)), httpx.Response(200, json=token_answer(2))], clock, store
    )
    from station.errors import StorageError

    def full(*args: object, **kwargs: object) -> None:
        raise StorageError("disk full")

    monkeypatch.setattr(store, "save", full)
    token = keeper.access_token()
    assert keeper.record.pair.refresh_token == "rt1"  # type: ignore[union-attr]
    monkeypatch.undo()
    clock.now = 9000.0
    assert keeper.access_token() != token  # refreshed with rt1, not the stored dead rt0
    assert store.load().pair.refresh_token == "rt2"  # type: ignore[union-attr]


# --- the impatient path -------------------------------------------------------------------------
def test_an_impatient_caller_gets_one_try_and_the_typed_error_at_once() -> None:
    clock = FakeClock(4000.0)  # expired
    answers = [httpx.Response(503), httpx.Response(503), httpx.Response(200, json=token_answer(1))]
    keeper, pauses, bodies = keeper_with(answers, clock)
    with pytest.raises(ServerError):
        keeper.access_token(wait=False)
    with pytest.raises(ServerError):
        keeper.refresh_if_due(wait=False)
    assert pauses == [] and len(bodies) == 2
    assert keeper.refresh_if_due(wait=False)
    assert keeper.record.pair.refresh_token == "rt1"  # type: ignore[union-attr]


def test_the_impatient_client_sends_one_refresh_before_the_call() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(502)

    pauses: list[float] = []
    http = mock_http(handler)
    keeper = TokenKeeper(TokenStore(memory_database(), boot_id="b"), http, wait=pauses.append)
    keeper.install(TokenPair(jwt({"tp_id": 7}), "rt0", 3600, float("-inf")), hardware_id="hw")
    client = EzeepClient(http, keeper)
    with pytest.raises(ServerError):
        client.impatient().waiting_jobs("u1")
    assert seen == [contract.TOKEN_PATH] and pauses == []
    with pytest.raises(ServerError):
        client.waiting_jobs("u1")  # the patient client tries five times, pausing in between
    assert seen.count(contract.TOKEN_PATH) == 6 and len(pauses) == 4


def test_an_impatient_caller_never_waits_behind_a_refresh_under_way() -> None:
    clock = FakeClock(4000.0)
    gate, arrived = threading.Event(), threading.Event()
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        arrived.set()
        gate.wait(30)  # holds the patient refresh in flight until the impatient caller is done
        return httpx.Response(200, json=token_answer(1))

    http = mock_http(handler)
    store = TokenStore(memory_database(), clock=clock, boot_id="b")
    keeper = TokenKeeper(store, http, clock=clock)
    keeper.install(TokenPair(jwt({"tp_id": 7}), "rt0", 3600, 0.0), hardware_id="hw")
    patient: list[str] = []
    thread = threading.Thread(target=lambda: patient.append(keeper.access_token()))
    thread.start()
    assert arrived.wait(30)
    try:
        with pytest.raises(OfflineError, match="under way"):
            keeper.access_token(wait=False)
        with pytest.raises(OfflineError, match="under way"):
            keeper.refresh_if_due(wait=False)
    finally:
        gate.set()
        thread.join(30)
    assert len(bodies) == 1 and patient == [token_answer(1)["access_token"]]
    assert keeper.access_token(wait=False) == patient[0]


def test_a_refresh_under_way_leaves_an_impatient_caller_the_still_valid_token() -> None:
    clock = FakeClock(3000.0)  # due, not expired
    gate, arrived = threading.Event(), threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        arrived.set()
        gate.wait(30)
        return httpx.Response(200, json=token_answer(1))

    http = mock_http(handler)
    store = TokenStore(memory_database(), clock=clock, boot_id="b")
    keeper = TokenKeeper(store, http, clock=clock)
    old = jwt({"tp_id": 7})
    keeper.install(TokenPair(old, "rt0", 3600, 0.0), hardware_id="hw")
    thread = threading.Thread(target=keeper.refresh_if_due)
    thread.start()
    assert arrived.wait(30)
    try:
        assert keeper.access_token(wait=False) == old
        assert keeper.refresh_if_due(wait=False) is False
    finally:
        gate.set()
        thread.join(30)
    assert keeper.access_token(wait=False) == token_answer(1)["access_token"]
