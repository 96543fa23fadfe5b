"""What ezeep's own pages contradict, corrected on the station's side (issue 12, part A).

Against the emulator over loopback, through the real client: the names ezeep does not confirm
are one :class:`Contract` value a station overrides in ``[cloud.contract]``; users with e-mail
are looked up on the account host (a technician signs in when the device token is refused); the
station's printer is matched by ``tp_id`` and connector, pinned by ``cloud.printer_id``, never a
queue, and in a large organisation checked on the one page it is on; a print refused with
``{"code": N}`` keeps its code; revoke's empty 2xx is success; a pairing without refresh token
or ``tp_id`` claim stops with the fix, an unknown pairing error is kept verbatim; ezeep is
reached through a forward proxy with TLS verified inside the tunnel. What the emulator cannot
be made to send comes from a rewriting transport in front of it, or (for token answers) from a
mock transport.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from station.causes import Cause, Reason, failure_of
from station.cloud import contract
from station.cloud.api import station_printer_of
from station.cloud.contract import Contract
from station.cloud.errors import (
    DeadlineError,
    GrantError,
    OfflineError,
    PairingNotEnabledError,
    PairingRefusedError,
    PrinterMatchError,
    PrintRefusedError,
    UsersRefusedError,
)
from station.cloud.http import CloudHttp
from station.cloud.models import DeviceBinding, Printer, TokenPair
from station.cloud.pairing import Pairer
from station.cloud.stack import CloudStack
from station.config import CloudSection, parse_config
from station.core.pairing import Pairing, Unpaired, on_failed
from station.core.state import CoreState, Tick
from station.database import memory_database
from station.directory import email_resolver
from station.emulator import Emulator
from station.errors import ConfigError
from station.release import ReleaseEngine, ReleaseState
from tests.support.cloud import HARDWARE_ID, pair_stack, stack_for
from tests.support.cloud_mock import mock_http
from tests.support.connect_proxy import ConnectProxy, TlsFront
from tests.support.rewriting import RewritingTransport, json_reply, json_request
from tests.support.tls_files import self_signed


@pytest.fixture
def cloud(emulator: Emulator) -> Iterator[CloudStack]:
    with stack_for(emulator.url, memory_database()) as stack:
        pair_stack(emulator, stack)
        yield stack


# --- the contract as one value -------------------------------------------------------------------


def test_the_contract_defaults_are_todays_names_and_the_example_says_so() -> None:
    assert parse_config("").cloud.contract == Contract()
    today = Contract()
    assert (today.jobs_user_param, today.job_owner, today.release_job_key) == ("user", "owner_id", "jobid")
    assert today.job_path("j 1") == "/printing/v1/printjobs/j%201/"
    assert today.waiting_jobs_query("u1") == {"status": "INQUEUE", "o": "-created", "user": "u1"}
    assert today.release_body("j", "p") == {"jobid": "j", "printerid": "p"}


def test_a_contract_table_is_checked_key_by_key() -> None:
    text = (
        '[cloud.contract]\njob_owner = "owner_email"\nowner_match = "casefold"\n'
        'delete_path = "/v2/jobs/{job_id}"\n'
    )
    contract = parse_config(text, "s.toml").cloud.contract
    assert contract == Contract(
        job_owner="owner_email", owner_match="casefold", delete_path="/v2/jobs/{job_id}"
    )
    assert contract.job_path("x") == "/v2/jobs/x"
    wrong = {
        'job_owner_field = "x"': ("s.toml: cloud.contract.job_owner_field", "unknown key"),
        "job_id = 3": ("cloud.contract.job_id", "must be a string"),
        'job_owner = "owner id"': ("cloud.contract.job_owner", "JSON field name"),
        'delete_path = "/printing/v1/printjobs/"': ("cloud.contract.delete_path", "{job_id}"),
        'delete_path = "printjobs/{job_id}"': ("cloud.contract.delete_path", "starting with /"),
        'users_host = "print"': ("cloud.contract.users_host", "'account', 'api'"),
        'owner_match = "email"': ("cloud.contract.owner_match", "'exact', 'casefold'"),
        'jobs_user_param = "user id"': ("cloud.contract.jobs_user_param", "query parameter"),
        'refused_statuses = "429 404"': ("cloud.contract.refused_statuses", "429 or 5xx"),
        'refused_statuses = "503,429"': ("cloud.contract.refused_statuses", "separated by blanks"),
    }
    for line, (key, words) in wrong.items():
        with pytest.raises(ConfigError) as caught:
            parse_config(f"[cloud.contract]\n{line}\n", "s.toml")
        assert key in str(caught.value) and words in str(caught.value), line
    assert parse_config('[cloud.contract]\nrefused_statuses = "429"\n', "s.toml").cloud.contract.refusals == {
        429
    }
    assert Contract().refusals == {429, 503}
    # The table alone, as doctor --live reads it.
    assert Contract.from_table({"job_name": "title"}).job_name == "title"
    with pytest.raises(ConfigError, match=r"cloud\.contract\.nope"):
        Contract.from_table({"nope": "x"})


OTHER_NAMES = Contract(
    jobs_user_param="owner",
    job_id="uuid",
    job_owner="user_uuid",
    job_name="title",
    job_pages="page_count",
    job_created="submitted",
    job_size="bytes",
    release_job_key="job",
    release_printer_key="printer",
    delete_path="/printing/v2/jobs/{job_id}",
    users_host="account",
    users_path="/v2/members/",
)
_JOB_FIELDS = {
    "id": "uuid",
    "owner_id": "user_uuid",
    "name": "title",
    "pages": "page_count",
    "created": "submitted",
}


class OtherNames:
    """An ezeep that speaks :data:`OTHER_NAMES`: what it is sent is translated to the emulator's
    names (and counted), what the emulator answers back to its own."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def request(self, request: httpx.Request) -> httpx.Request | None:
        path, params = request.url.path, dict(request.url.params)
        if "owner" in params:
            self.seen.add("jobs_user_param")
            params["user"] = params.pop("owner")
            return json_request(request, params=params)
        if path.startswith("/printing/v2/jobs/") and request.method == "DELETE":
            self.seen.add("delete_path")
            return json_request(
                request, path=path.replace("/printing/v2/jobs/", "/printing/v1/printjobs/") + "/"
            )
        if path == "/v2/members/":
            self.seen.add("users_path")
            return json_request(request, path="/v1/users/")
        if path == "/sfapi/Print/":
            body = json.loads(request.content)
            self.seen.add("release keys")
            return json_request(request, body={"jobid": body.pop("job"), "printerid": body.pop("printer")})
        return None

    def reply(self, request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if request.url.path != "/printing/v1/printjobs/" or request.method != "GET":
            return None
        page = response.json()
        page["results"] = [{_JOB_FIELDS.get(k, k): v for k, v in job.items()} for job in page["results"]]
        return json_reply(response, page)


def test_every_contract_name_is_used_as_configured(emulator: Emulator) -> None:
    names = OtherNames()
    transport = RewritingTransport(request=names.request, reply=names.reply)
    section = CloudSection(contract=OTHER_NAMES)
    with stack_for(emulator.url, memory_database(), cloud=section, transport=transport) as stack:
        pair_stack(emulator, stack)
        client = stack.client
        assert client.contract is OTHER_NAMES
        user = emulator.users[2]  # three waiting jobs
        waiting = {job["id"]: job for job in emulator.waiting_jobs(user.email)}
        jobs = client.waiting_jobs(user.id)
        assert {job.id for job in jobs} == set(waiting)
        first = jobs[0]
        assert first.name == waiting[first.id]["name"] and first.pages == waiting[first.id]["pages"]
        assert first.created is not None
        spool_id = client.release(first.id, stack.client.station_printer().id)
        assert client.wait_for_job(spool_id, timeout_s=10, interval_s=0.05).state.final
        client.delete(jobs[1].id)
        assert set(waiting) - {job["id"] for job in emulator.waiting_jobs(user.email)} == {
            first.id,
            jobs[1].id,
        }
        assert [u.id for u in client.find_users(email=user.email)] == [user.id]
    assert names.seen == {"jobs_user_param", "delete_path", "users_path", "release keys"}


# --- users on the account host ----------------------------------------------------------------


def test_users_are_looked_up_on_the_account_host_whatever_the_case(
    cloud: CloudStack, emulator: Emulator
) -> None:
    ada = emulator.users[0]
    assert [u.id for u in cloud.client.find_users(email=ada.email.upper())] == [ada.id]
    assert {u.id for u in cloud.client.find_users(search="HOPPER")} == {emulator.users[1].id}
    assert cloud.client.find_users(email="nobody@example.com") == []
    with pytest.raises(ValueError, match="needs an email or a search"):
        cloud.client.find_users()


def test_the_account_users_list_is_paged_and_shows_an_ordinary_user_only_themself(
    cloud: CloudStack, emulator: Emulator
) -> None:
    token = cloud.keeper.access_token()
    with httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {token}"}) as http:
        page = http.get("/v1/users/", params={"page": 2, "per_page": 2}).json()
        assert page["count"] == 5 and len(page["results"]) == 2
        assert "page=3" in page["next"] and "page=1" in page["previous"]
        assert set(page["results"][0]) >= {"id", "email", "first_name", "last_name", "display_name", "roles"}
        assert http.get("/v1/users/", params={"per_page": 101}).status_code == 400
    ordinary = emulator.users[4]
    user_pair = _signed_in(cloud, emulator, ordinary.email)
    only_themself = cloud.client.find_users(search="example.com", token=user_pair.access_token)
    assert only_themself == cloud.client.find_users(email=ordinary.email) and len(only_themself) == 1


def test_a_badge_import_reads_ezeeps_users_list_once(cloud: CloudStack, emulator: Emulator) -> None:
    now = [0.0]
    resolve = email_resolver(cloud.client, fresh_s=60, clock=lambda: now[0])
    before = emulator.stats()["api"]
    found = [resolve(user.email.upper()) for user in emulator.users]
    assert [user.id if user else None for user in found] == [user.id for user in emulator.users]
    assert resolve("nobody@example.com") is None
    assert emulator.stats()["api"] == before + 1  # five members: one page, read once
    now[0] = 61.0
    resolve(emulator.users[0].email)
    assert emulator.stats()["api"] == before + 2  # read again once it is stale


def _signed_in(cloud: CloudStack, emulator: Emulator, email: str) -> TokenPair:
    """A person's user-mode pairing (as for self-enrolment), approved by them."""
    code = cloud.pairer.start("user")
    emulator.approve(code.code, email)
    return cloud.pairer.wait(code, threading.Event())


def test_a_refused_device_token_lets_a_signed_in_technician_search_once(
    cloud: CloudStack, emulator: Emulator
) -> None:
    emulator.set_faults(refuse_device_users=True)
    refreshes = emulator.stats().get("refresh", 0)
    with pytest.raises(UsersRefusedError, match="an administrator who signs in"):
        cloud.client.find_users(search="hopper")
    assert emulator.stats().get("refresh", 0) == refreshes  # a 403: a new token would not help
    technician = _signed_in(cloud, emulator, emulator.users[0].email)  # an administrator
    found = cloud.client.find_users(search="hopper", token=technician.access_token)
    assert [u.email for u in found] == [emulator.users[1].email]
    cloud.client.revoke(technician.refresh_token)  # afterwards: the sign-in is gone
    with pytest.raises(GrantError, match="invalid_grant"):
        cloud.http.oauth(contract.TOKEN_PATH, contract.refresh_form(technician.refresh_token))


# --- the station's printer --------------------------------------------------------------------


def _printer(pid: str, tp_id: int, connector: str = "", *, queue: bool = False) -> Printer:
    return Printer(pid, f"Printer {pid}", "", tp_id, "Online", connector_id=connector, is_queue=queue)


def test_the_printer_is_matched_by_tp_id_and_connector_and_never_a_queue() -> None:
    here, there = _printer("p1", 7, "c1"), _printer("p2", 7, "c2")
    anyprinter = _printer("q", 7, "c1", queue=True)
    printers = [anyprinter, here, there]
    assert station_printer_of(printers, DeviceBinding("c1", "org", 7)) == here
    assert station_printer_of(printers, DeviceBinding("c2", "org", 7)) == there
    assert (
        station_printer_of([anyprinter, here], DeviceBinding("c9", "org", 7)) == here
    )  # tp_id alone is unique
    with pytest.raises(
        PrinterMatchError, match=r"2 printers have tp_id 7.*printer_id.*= \"p1\"; Printer p2 = \"p2\""
    ):
        station_printer_of(printers, DeviceBinding("c9", "org", 7))
    with pytest.raises(PrinterMatchError, match=r"no printer with tp_id 8.*cloud\.printer_id"):
        station_printer_of(printers, DeviceBinding("c1", "org", 8))
    with pytest.raises(PrinterMatchError, match="no tp_id claim"):
        station_printer_of(printers, DeviceBinding("c1", "org", None))
    # Pinned: whatever the token says.
    assert station_printer_of(printers, DeviceBinding("c9", "org", 7), "p2") == there
    assert station_printer_of(printers, None, "p1") == here
    with pytest.raises(PrinterMatchError, match="pull-print queue"):
        station_printer_of(printers, None, "q")
    with pytest.raises(PrinterMatchError, match="not in this organisation"):
        station_printer_of(printers, None, "gone")
    failure = failure_of(PrinterMatchError("x"))
    assert (failure.kind, failure.cause.reason) == ("not_found", Reason.NO_PRINTER)


def test_a_pinned_printer_is_the_stations_printer(emulator: Emulator) -> None:
    first, second = emulator.printers
    with stack_for(emulator.url, memory_database(), cloud=CloudSection(printer_id=second.id)) as pinned:
        pair_stack(emulator, pinned)  # the token names the first printer's tp_id
        assert pinned.client.station_printer().id == second.id
        assert pinned.keeper.binding is not None and pinned.keeper.binding.tp_id == first.tp_id
    assert parse_config(f'[cloud]\nprinter_id = "{second.id}"\n').cloud.printer_id == second.id
    with pytest.raises(ConfigError, match=r"cloud\.printer_id"):
        parse_config('[cloud]\nprinter_id = "a b"\n')


def _printer_pages(offsets: list[int], connectors: dict[str, str] | None = None) -> RewritingTransport:
    """The emulator, noting the offset of every page of printers asked for; ``connectors``: the
    ``connector_id`` to list for a printer instead of its own (by printer id)."""

    def note(request: httpx.Request) -> None:
        if request.url.path == contract.PRINTERS_PATH:
            offsets.append(int(request.url.params.get("offset", "0")))

    def rewrite(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if request.url.path != contract.PRINTERS_PATH or not connectors:
            return None
        page = response.json()
        for row in page["results"]:
            row["connector_id"] = connectors.get(row["id"], row["connector_id"])
        return json_reply(response, page)

    return RewritingTransport(answer=note, reply=rewrite)


@contextlib.contextmanager
def _paired(
    emulator: Emulator,
    offsets: list[int],
    connectors: dict[str, str] | None = None,
    cloud: CloudSection | None = None,
) -> Iterator[CloudStack]:
    """A station's cloud, paired, through :func:`_printer_pages`."""
    transport = _printer_pages(offsets, connectors)
    with stack_for(emulator.url, memory_database(), transport=transport, cloud=cloud) as stack:
        pair_stack(emulator, stack)
        yield stack


def test_in_a_large_organisation_a_tap_reads_only_the_page_of_its_printer(emulator: Emulator) -> None:
    emulator.set_faults(more_printers=250)  # the station's printer is on the third page
    offsets: list[int] = []
    with _paired(emulator, offsets) as stack:
        ours = emulator.printers[0]
        assert stack.client.station_printer().id == ours.id
        assert offsets == [0, 100, 200]  # the first check reads every page
        offsets.clear()
        assert stack.client.probing(5.0).station_printer().id == ours.id  # a twin knows the page too
        emulator.set_printer_status(ours.id, "Offline")
        printer = stack.client.station_printer()
        assert (printer.id, printer.online) == (ours.id, False)  # its status now, from one page
        assert offsets == [200, 200]


def test_a_pinned_printer_off_the_tokens_connector_is_checked_on_its_page_alone(emulator: Emulator) -> None:
    emulator.set_faults(more_printers=250)
    second = emulator.printers[1]  # the token names the first printer's tp_id and connector
    offsets: list[int] = []
    with _paired(emulator, offsets, cloud=CloudSection(printer_id=second.id)) as stack:
        assert stack.client.station_printer().id == second.id
        assert stack.client.station_printer().id == second.id
        assert offsets == [0, 100, 200, 200]


def test_a_printer_no_longer_where_it_was_is_found_by_reading_every_page_again(emulator: Emulator) -> None:
    emulator.set_faults(more_printers=250)
    offsets: list[int] = []
    with _paired(emulator, offsets) as stack:
        first, second = emulator.printers
        stack.client.station_printer()
        emulator.set_faults(more_printers=150)  # printers removed before it: now on the second page
        offsets.clear()
        assert stack.client.station_printer().id == first.id
        assert offsets == [200, 0, 100]
        offsets.clear()
        assert stack.client.station_printer().id == first.id
        assert offsets == [100]
        # Paired again, to another printer: the page found for the old binding proves nothing.
        emulator.auto_approve_device = None
        code = stack.pairer.start()
        emulator.approve(code.code, email=emulator.users[0].email, printer_id=second.id)
        stack.keeper.install(stack.pairer.wait(code, threading.Event()), hardware_id=HARDWARE_ID)
        offsets.clear()
        assert stack.client.station_printer().id == second.id
        assert offsets == [0, 100]


def test_a_printer_named_by_its_tp_id_alone_is_looked_for_on_every_page_each_time(emulator: Emulator) -> None:
    emulator.set_faults(more_printers=250)
    ours = emulator.printers[0]
    offsets: list[int] = []
    connectors: dict[str, str] = {}
    with _paired(emulator, offsets, connectors) as stack:
        stack.client.station_printer()  # on the token's connector: its page is remembered
        connectors[ours.id] = ""  # ezeep no longer says its connector: a same tp_id may come anywhere
        offsets.clear()
        assert stack.client.station_printer().id == ours.id
        assert stack.client.station_printer().id == ours.id
        assert offsets == [200, 0, 100, 200, 0, 100, 200]  # its page once, then never again


def test_a_printer_moved_off_the_tokens_connector_is_judged_on_every_page(emulator: Emulator) -> None:
    emulator.set_faults(more_printers=250)
    ours = emulator.printers[0]
    offsets: list[int] = []
    connectors: dict[str, str] = {}
    with _paired(emulator, offsets, connectors) as stack:
        stack.client.station_printer()
        emulator.set_faults(shared_tp_id=True)  # a branch office's printer has the same tp_id
        connectors[ours.id] = "another-connector"
        offsets.clear()
        with pytest.raises(PrinterMatchError, match="2 printers have tp_id"):
            stack.client.station_printer()  # as a reading of every page says, not the page alone
        assert offsets == [200, 0, 100, 200]


def test_the_page_of_the_printer_counts_towards_the_lists_cut_as_in_a_reading_of_every_page(
    emulator: Emulator,
) -> None:
    emulator.set_faults(more_printers=250)
    offsets: list[int] = []
    cut_at_260 = CloudSection(max_list_items=260)
    with _paired(emulator, offsets, cloud=cut_at_260) as stack:
        stack.client.station_printer()  # the 251st of 252
        emulator.set_faults(more_printers=270)  # now the 271st: beyond the cut, on the same page
        offsets.clear()
        with pytest.raises(PrinterMatchError, match="no printer with tp_id"):
            stack.client.station_printer()
        assert offsets == [200, 0, 100, 200]


def test_the_page_of_the_printer_and_a_reading_of_every_page_end_within_one_list_deadline(
    emulator: Emulator,
) -> None:
    emulator.set_faults(more_printers=150)
    ours = emulator.printers[0]
    connectors: dict[str, str] = {}
    two_seconds = CloudSection(list_deadline_s=2.0)
    with _paired(emulator, [], connectors, cloud=two_seconds) as stack:
        stack.client.station_printer()  # on the second page
        connectors[ours.id] = ""  # not the station's by itself any more: every page is read
        emulator.set_faults(slow_done_s=0.8, slow_path=contract.PRINTERS_PATH)
        with pytest.raises(DeadlineError, match=r"printers: reading the list took longer than 2 s"):
            stack.client.station_printer()  # 0.8 s for its page, then 1.6 s for both


# --- print errors -------------------------------------------------------------------------------


def _print_refused(status: int) -> RewritingTransport:
    """The emulator, except that every release is refused with ezeep's ``{"code": 804}``."""

    def answer(request: httpx.Request) -> httpx.Response | None:
        return httpx.Response(status, json={"code": 804}) if request.url.path == "/sfapi/Print/" else None

    return RewritingTransport(answer=answer)


@pytest.mark.parametrize("status", [200, 412])
def test_a_refused_print_keeps_its_code_and_the_job_stays_retryable(emulator: Emulator, status: int) -> None:
    with stack_for(emulator.url, memory_database(), transport=_print_refused(status)) as stack:
        pair_stack(emulator, stack)
        user = emulator.users[0]  # one waiting job
        job_id = emulator.waiting_jobs(user.email)[0]["id"]
        with pytest.raises(PrintRefusedError) as caught:
            stack.client.release(job_id, emulator.printers[0].id)
        assert caught.value.code == 804
        engine = ReleaseEngine(stack.client, memory_database(), job_timeout_s=20, poll_interval_s=0.05)
        summary = engine.release(user.id)
    assert [p.state for p in summary.failed] == [ReleaseState.FAILED]
    cause = summary.failed[0].cause
    assert cause is not None and (cause.reason, cause.code) == (Reason.PRINTER_ERROR, 804)
    assert cause.english == "the printer reported an error (804)"
    assert emulator.release_counts() == {} and [j["id"] for j in emulator.waiting_jobs(user.email)] == [
        job_id
    ]


# --- revoke, refresh tokens and the tp_id claim ------------------------------------------------------


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


class TokenEndpoint:
    """An account host whose token answer is ``token`` (what the emulator always sends right)."""

    def __init__(self, token: dict[str, object] | None = None, error: str = "") -> None:
        self.token, self.error = token or {}, error
        self.forms: list[tuple[str, dict[str, list[str]]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        self.forms.append((request.url.path, form))
        if request.url.path == "/oauth/pair/":
            return httpx.Response(200, json={"pairing_code": "abc", "auth_url": "https://account.test/a"})
        if request.url.path == "/oauth/revoke/":
            return httpx.Response(204)  # documented: success without content
        if self.error:
            return httpx.Response(400, json={"error": self.error})
        return httpx.Response(200, json=self.token)

    def revoked(self) -> list[str]:
        return [form["token"][0] for path, form in self.forms if path == "/oauth/revoke/"]


def _pair_with(endpoint: TokenEndpoint, mode: str = "device") -> TokenPair:
    pairer = Pairer(mock_http(endpoint), "release-cid", HARDWARE_ID, interval_s=0.01)
    return pairer.wait(pairer.start(mode), threading.Event())  # type: ignore[arg-type]


DEVICE_CLAIMS = {"sub": "connector-1", "org": "org-1", "pty": "dev", "tp_id": 1001}


def test_a_pairing_without_refresh_token_stops_naming_the_client_id() -> None:
    endpoint = TokenEndpoint({"access_token": _jwt(DEVICE_CLAIMS), "expires_in": 3600})
    with pytest.raises(PairingNotEnabledError) as caught:
        _pair_with(endpoint)
    message = str(caught.value)
    assert "refresh tokens for the client id 'release-cid'" in message and "ask ezeep to enable" in message
    assert "tp_id" not in message and endpoint.revoked() == []
    failure = failure_of(caught.value)
    assert (failure.kind, failure.cause.reason, failure.cause.text) == (
        "stopped",
        Reason.NOT_ENABLED,
        message,
    )
    # A person's sign-in (self-enrolment, a technician's search) needs neither.
    assert _pair_with(endpoint, "user").refresh_token == ""


def test_a_pairing_without_the_tp_id_claim_stops_and_revokes_what_it_got() -> None:
    claims = {k: v for k, v in DEVICE_CLAIMS.items() if k != "tp_id"}
    endpoint = TokenEndpoint({"access_token": _jwt(claims), "refresh_token": "r" * 32, "expires_in": 3600})
    with pytest.raises(
        PairingNotEnabledError,
        match=r"the tp_id claim \(Claim tp_id enabled\) for the client id 'release-cid'",
    ):
        _pair_with(endpoint)
    assert endpoint.revoked() == ["r" * 32]
    both = TokenEndpoint({"access_token": _jwt(claims)})
    with pytest.raises(PairingNotEnabledError, match="refresh tokens and the tp_id claim"):
        _pair_with(both)


def test_an_unknown_pairing_error_is_kept_verbatim() -> None:
    with pytest.raises(PairingRefusedError) as caught:
        _pair_with(TokenEndpoint(error="client_not_allowed_for_device_mode"))
    assert str(caught.value) == caught.value.code == "client_not_allowed_for_device_mode"
    cause = Cause.of_error(caught.value)
    assert (cause.reason, cause.text) == (Reason.PAIRING_REFUSED, "client_not_allowed_for_device_mode")


def test_a_stopped_pairing_waits_for_the_technician_and_a_refused_one_retries() -> None:
    core = CoreState().with_mode(Pairing(3, "abc", "https://a", 100.0))
    stopped, effects = on_failed(
        core, failure_of(PairingNotEnabledError("refresh tokens for ...")), Tick(10.0)
    )
    assert isinstance(stopped.mode, Unpaired) and stopped.mode.problem == "stopped"
    assert stopped.mode.retry_at is None and not any(type(e).__name__ == "SetTimer" for e in effects)
    refused, effects = on_failed(core, failure_of(PairingRefusedError("odd", code="odd")), Tick(10.0))
    assert isinstance(refused.mode, Unpaired) and refused.mode.problem == "refused"
    assert refused.mode.retry_at is not None and any(type(e).__name__ == "SetTimer" for e in effects)


def test_revoke_answered_without_content_is_success_and_only_refresh_tokens_are_sent() -> None:
    endpoint = TokenEndpoint()
    db = memory_database()
    with CloudStack.create(mock_http(endpoint), db, hardware_id=HARDWARE_ID) as stack:
        pair = TokenPair(_jwt(DEVICE_CLAIMS), "refresh-1", 3600, obtained_at=0.0)
        stack.store.save(pair, hardware_id=HARDWARE_ID, tp_id=1001)
        assert stack.keeper.forget(stack.client.revoke) is True
        assert stack.store.load() is None
    assert endpoint.revoked() == ["refresh-1"]
    assert all(pair.access_token not in json.dumps(form) for _, form in endpoint.forms)


def test_a_refresh_answer_without_refresh_token_keeps_the_old_one(
    cloud: CloudStack, emulator: Emulator
) -> None:
    def reply(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if request.url.path != "/oauth/access_token/" or b"refresh_token" not in request.content:
            return None
        return json_reply(response, {k: v for k, v in response.json().items() if k != "refresh_token"})

    db = memory_database()
    with stack_for(emulator.url, db, transport=RewritingTransport(reply=reply)) as stack:
        pair_stack(emulator, stack)
        before = stack.keeper.record
        assert before is not None and before.pair is not None
        stack.keeper.renew(before.pair.access_token)
        after = stack.keeper.record
        assert after is not None and after.pair is not None
        assert after.pair.refresh_token == before.pair.refresh_token
        assert after.pair.access_token != before.pair.access_token


# --- a forward proxy -----------------------------------------------------------------------------


@pytest.fixture
def tls(emulator: Emulator, tmp_path: Path) -> Iterator[tuple[TlsFront, Path]]:
    cert, key = self_signed(tmp_path)
    with TlsFront(emulator.url, cert, key) as front:
        yield front, cert


def test_ezeep_is_reached_through_a_connect_proxy_with_tls_verified(
    emulator: Emulator, tls: tuple[TlsFront, Path]
) -> None:
    front, cert = tls
    with ConnectProxy() as proxy:
        with stack_for(front.url, memory_database(), proxy=proxy.url, ca_file=str(cert)) as stack:
            pair_stack(emulator, stack)
            assert stack.client.station_printer().id == emulator.printers[0].id
        assert proxy.tunnels and set(proxy.tunnels) == {front.authority}
        # Without the CA the certificate is refused inside the tunnel: verification stays on.
        tunnels = len(proxy.tunnels)
        with (
            stack_for(front.url, memory_database(), proxy=proxy.url) as unverified,
            pytest.raises(OfflineError),
        ):
            unverified.pairer.start()
        assert len(proxy.tunnels) == tunnels + 1


def test_the_proxy_comes_from_the_environment_with_no_proxy(
    emulator: Emulator, tls: tuple[TlsFront, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    front, cert = tls
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with stack_for(front.url, memory_database(), ca_file=str(cert)) as stack:
            stack.pairer.start()
        assert proxy.tunnels == [front.authority]
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with stack_for(front.url, memory_database(), ca_file=str(cert)) as direct:
            direct.pairer.start()
        assert proxy.tunnels == [front.authority]  # no new tunnel: straight to the host


def test_the_proxy_setting_is_checked_and_never_logs_its_password(caplog: pytest.LogCaptureFixture) -> None:
    assert (
        parse_config('[cloud]\nproxy = "http://proxy.example:3128"\n').cloud.proxy
        == "http://proxy.example:3128"
    )
    for bad in (
        '"socks5://proxy.example:1080"',
        '"http://proxy.example:3128/path"',
        '"proxy.example"',
        '"http://p:x"',
        '"http://me:secret@proxy.example:3128"',
    ):
        with pytest.raises(ConfigError, match=r"cloud\.proxy"):
            parse_config(f"[cloud]\nproxy = {bad}\n")
    caplog.set_level(logging.INFO)
    url = "https://account.test"
    with (
        CloudHttp(
            account_url=url, api_url=url, print_url=url, client_id="c", proxy="http://me:s3cret@127.0.0.1:9"
        ) as http,
        pytest.raises(OfflineError),  # nobody listens on port 9; the proxy is read at the first request
    ):
        http.request("GET", "api", "/printing/v1/printers/", token="t")
    assert "127.0.0.1:9" in caplog.text and "s3cret" not in caplog.text
