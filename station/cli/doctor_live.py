"""``release-station doctor --live``: each assumption the station makes about ezeep, tried on the
configured ezeep with the station's own token, one line each (``ok``, ``warn``, ``FAIL`` or
``unknown``) with what to do:

- the refresh token: the stored pair has one and a refresh rotates it (refresh tokens are
  enabled per client id);
- the token's claims: ``tp_id`` present, and its type (the claim is enabled per client id);
- the printers the device token lists, exactly one of them this station's (the token's
  ``tp_id`` on the token's connector, or the one ``[cloud] printer_id`` pins), whether a tap
  can check it on the one page of the list it is on (else, with more printers than a page
  holds, pin it), and the ``is_queue`` flags (a pull-print queue is never a release target);
- the job list: readable with the device token, and the field names its jobs carry;
- the user filter: the list asked for a user who does not exist must be empty; if it holds
  as many jobs as the unfiltered list, ezeep ignored the filter and the station must not
  release (it refuses others' jobs by owner, but nothing may rest on a filter that is ignored);
- the users list: reachable with the device token, with e-mail addresses;
- with ``--release-test USER``: a technician prints a page to AnyPrinter, the station releases
  it to its printer and follows it until it is printed.

Nothing goes anywhere but the configured ezeep hosts, and nothing printed carries a token or a
badge number (printer, connector and user ids are not secrets). The station's own token store is
used: a refresh it causes rotates the pair and is stored before the new access token is used,
exactly as the running station's would be (the keeper's file lock keeps a running station and
the doctor from spending the same refresh token).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TextIO

from station.cloud import contract
from station.cloud.api import RefusedJobs, log_refused, ours_by_itself, station_printer_of
from station.cloud.errors import (
    BadAnswerError,
    CloudError,
    GrantError,
    NotFoundError,
    PrinterMatchError,
    TokenRejectedError,
    UnauthorisedError,
)
from station.cloud.models import Job, JobState, JobStatus
from station.cloud.stack import CloudStack
from station.config import CloudSection
from station.findings import Finding

MAX_PRINTER_PAGES = 50
RELEASE_POLL_S = 2.0  # how often the release test looks for the technician's new page


@dataclass(frozen=True, slots=True)
class ReleaseTest:
    """``--release-test``: whose page to release (an ezeep user id, or an e-mail address to look
    up), how long to wait for it to arrive and then to print, and how often to look for it."""

    user: str
    wait_s: float = 120.0
    poll_s: float = RELEASE_POLL_S


def live_findings(
    cloud: CloudStack,
    section: CloudSection,
    *,
    release_test: ReleaseTest | None = None,
    out: TextIO,
    stop: threading.Event | None = None,
    directory_source: str = "local",
) -> Iterator[Finding]:
    """Every live check, in order, each line as soon as it is known (the release test prompts the
    technician on ``out`` in between); the later ones are left out when the station is not paired
    or cannot list its printers. ``directory_source``: ``[directory] source``; a synced directory
    needs the users list unattended."""
    client_id = section.client_id or "(cloud.client_id is empty)"
    first = _refresh(cloud, client_id)
    yield first
    if first.status != "ok" and not cloud.keeper.paired:
        return
    yield _claims(cloud, client_id)
    try:
        printers = _printers(cloud)
    except CloudError as exc:
        yield _unreachable("printers", exc)
        return
    listed, station_printer = _printer_findings(cloud, section, printers)
    yield from listed
    try:
        yield from _job_findings(cloud, section)
    except CloudError as exc:
        yield _unreachable("job list", exc)
    yield _users(cloud, synced=directory_source != "local")
    if release_test is not None:
        yield _release(cloud, station_printer, release_test, out, stop or threading.Event())


# -- the token --------------------------------------------------------------------------------


def _refresh(cloud: CloudStack, client_id: str) -> Finding:
    topic = "ezeep refresh token"
    record = cloud.keeper.record
    if record is None or record.pair is None:
        rejected = "" if record is None else " (ezeep rejected the last token pair)"
        return Finding("fail", topic, f"the station is not paired{rejected}", "pair it: release-station pair")
    if not record.pair.refresh_token:
        return Finding(
            "fail", topic, "the stored token pair has no refresh token", _enable_refresh(client_id)
        )
    try:
        cloud.keeper.renew(record.pair.access_token, wait=False)
    except CloudError as exc:
        return _refresh_failed(exc, client_id)
    return Finding("ok", topic, "issued, and a refresh rotated it (the new pair is stored)")


def _enable_refresh(client_id: str) -> str:
    return f"ask ezeep to enable refresh tokens (with rotation) for client id {client_id}, then pair again"


def _refresh_failed(exc: CloudError, client_id: str) -> Finding:
    topic = "ezeep refresh token"
    if isinstance(exc, GrantError):
        refused = f"ezeep refused the refresh grant for client id {client_id}: {exc.code}"
        return Finding("fail", topic, refused, _enable_refresh(client_id))
    if isinstance(exc, TokenRejectedError):
        again = "pair again: release-station pair (the same hardware id returns to the same printer)"
        return Finding("fail", topic, "ezeep rejected the stored refresh token (invalid_grant)", again)
    if isinstance(exc, BadAnswerError) and "refresh_token" in str(exc):
        return Finding(
            "fail", topic, "ezeep's token answer carried no refresh token", _enable_refresh(client_id)
        )
    if isinstance(exc, BadAnswerError):
        return Finding("fail", topic, f"ezeep's token answer could not be read: {exc}", "report this answer")
    return _unreachable("refresh token", exc)


def _claims(cloud: CloudStack, client_id: str) -> Finding:
    topic = "ezeep token claims"
    record = cloud.keeper.record
    if record is None or record.pair is None:
        return Finding("unknown", topic, "no token to read", "pair the station: release-station pair")
    try:
        claims = contract.jwt_claims(record.pair.access_token)
    except BadAnswerError as exc:
        return Finding("fail", topic, str(exc), "ask ezeep why the access token is not a JWT")
    kind = f"sub {claims.get('sub')}, pty {claims.get('pty', '(none)')}"
    tp_id = claims.get("tp_id")  # the documented per-client claim ("Claim tp_id")
    enable = (
        f"ask ezeep to enable the tp_id claim ('Claim tp_id') for client id {client_id} and pair again"
        " (release-station pair --force); meanwhile pin the printer with [cloud] printer_id"
    )
    if tp_id is None:
        return Finding("fail", topic, f"no tp_id claim ({kind}; claims: {', '.join(sorted(claims))})", enable)
    if isinstance(tp_id, int) and not isinstance(tp_id, bool):
        return Finding("ok", topic, f"tp_id {tp_id} (an integer), {kind}")
    if isinstance(tp_id, str) and tp_id.strip().isdigit():
        return Finding("ok", topic, f"tp_id {tp_id!r} (a string of digits, read as a number), {kind}")
    return Finding(
        "fail",
        topic,
        f"tp_id {tp_id!r} is a {type(tp_id).__name__}, not a printer number",
        "ask ezeep what the claim holds; meanwhile pin the printer with [cloud] printer_id",
    )


# -- printers ---------------------------------------------------------------------------------


def _printers(cloud: CloudStack) -> list[Mapping[str, object]]:
    """Every printer the device token lists, as ezeep sent it (all pages, up to 50)."""
    rows: list[Mapping[str, object]] = []
    for page in range(MAX_PRINTER_PAGES):
        params = {"limit": contract.PAGE_SIZE, "offset": page * contract.PAGE_SIZE}
        results, _count, has_next = contract.parse_page(
            cloud.client.get("api", contract.PRINTERS_PATH, params=params), "printers"
        )
        rows += [item for item in results if isinstance(item, Mapping)]
        if not has_next or not results:
            break
    return rows


def _printer_findings(
    cloud: CloudStack, section: CloudSection, printers: list[Mapping[str, object]]
) -> tuple[list[Finding], Mapping[str, object] | None]:
    """The printers line, the station's printer (and the line saying how it was found), the
    ``is_queue`` line."""
    if not printers:
        none = (
            "ask an ezeep admin whether the station's printer is in the organisation the station paired with"
        )
        return [Finding("fail", "ezeep printers", "the device token lists no printer", none)], None
    queues = [p for p in printers if p.get("is_queue") is True]
    flagged = sum("is_queue" in p for p in printers)
    listed = Finding(
        "ok", "ezeep printers", f"{len(printers)} listed, {len(queues)} of them pull-print queues"
    )
    match, chosen = _station_printer(cloud, section, printers)
    topic = "ezeep is_queue flags"
    if flagged == 0:
        queue_line = Finding(
            "unknown",
            topic,
            "no printer carries an is_queue flag: a pull-print queue cannot be told from a printer",
            "make sure the station's printer above is a physical printer (else pin one with [cloud]"
            " printer_id); ask ezeep whether api2's printers carry is_queue",
        )
    else:
        names = ", ".join(str(p.get("name") or p.get("id")) for p in queues) or "none"
        queue_line = Finding(
            "ok", topic, f"{flagged} of {len(printers)} carry it; queues (never used): {names}"
        )
    return [listed, match, queue_line], chosen


def _station_printer(
    cloud: CloudStack, section: CloudSection, printers: list[Mapping[str, object]]
) -> tuple[Finding, Mapping[str, object] | None]:
    """The station's printer by the station's own rule (:func:`station_printer_of`: the one
    ``cloud.printer_id`` pins, else the token's ``tp_id`` on the token's connector, never a queue),
    so that the doctor and the station cannot disagree; only the wording is the doctor's."""
    topic = "ezeep station's printer"
    try:
        models = [contract.parse_printer(p) for p in printers]
    except BadAnswerError as exc:
        return Finding("fail", topic, str(exc), "ask ezeep about the printers list's fields"), None
    try:
        chosen = station_printer_of(models, cloud.keeper.binding, section.printer_id)
    except PrinterMatchError as exc:
        return Finding("fail", topic, str(exc), "pin the station's printer with [cloud] printer_id"), None
    raw = next(p for p in printers if str(p.get("id")) == chosen.id)  # the model's id is a string
    if section.printer_id:
        return Finding("ok", topic, f"{_name(raw)}, pinned by cloud.printer_id"), raw
    how = f"tp_id {chosen.tp_id}"
    same_tp = sum(1 for p in models if p.tp_id == chosen.tp_id and not p.is_queue)
    if same_tp > 1:
        how += f" (on {same_tp} printers; the token's connector picks one)"
    by_itself = ours_by_itself(chosen, cloud.keeper.binding, section.printer_id)
    if len(printers) > contract.PAGE_SIZE and not by_itself:
        # See EzeepClient.station_printer: only a printer on the token's connector, or a pinned
        # one, can be checked on the page it is on.
        slow = (
            f"{_name(raw)}, by {how} alone, not on the token's connector: with {len(printers)} printers"
            " listed, each check (every tap) reads every page of them"
        )
        pin = f'pin it with [cloud] printer_id = "{chosen.id}": a check then reads only the page it is on'
        return Finding("warn", topic, slow, pin), raw
    return Finding("ok", topic, f"{_name(raw)}, by {how}"), raw


def _name(printer: Mapping[str, object]) -> str:
    where = f", {printer.get('location')}" if printer.get("location") else ""
    ids = f"id {printer.get('id')}, connector {printer.get('connector_id', '?')}"
    return f"{printer.get('name') or '(no name)'}{where} ({ids})"


# -- jobs ---------------------------------------------------------------------------------------


def _job_findings(cloud: CloudStack, section: CloudSection) -> list[Finding]:
    """The job list (readable, and its fields) and the user filter."""
    query = cloud.client.contract.waiting_jobs_query("")
    param = next(key for key, value in query.items() if value == "")
    unfiltered = {key: value for key, value in query.items() if key != param}
    try:
        answer = cloud.client.get("api", contract.JOBS_PATH, params={**unfiltered, "limit": 100})
        everyone = contract.parse_page(answer, "jobs")
    except UnauthorisedError as exc:
        ask = "ask ezeep to let the station's device token list AnyPrinter jobs (contract.py, question 1)"
        return [Finding("fail", "ezeep job list", f"refused for the device token: {exc}", ask)]
    results, count, _ = everyone
    total = count if count is not None else len(results)
    lines = [Finding("ok", "ezeep job list", f"readable with the device token: {total} job(s) wait")]
    lines.append(_job_fields(results, cloud.client.contract))
    nobody = str(uuid.uuid4())
    answer = cloud.client.get("api", contract.JOBS_PATH, params={**unfiltered, param: nobody, "limit": 100})
    filtered, filtered_count, _ = contract.parse_page(answer, "jobs")
    listed = filtered_count if filtered_count is not None else len(filtered)
    topic = "ezeep user filter"
    if listed == 0 and total == 0:
        lines.append(
            Finding(
                "unknown",
                topic,
                "no job waits in the organisation, so an ignored filter cannot be told from an honoured one",
                "print a page to AnyPrinter and run doctor --live again",
            )
        )
    elif listed == 0:
        lines.append(Finding("ok", topic, f"honoured: {param}=<a user who does not exist> lists nothing"))
    else:
        ignored = "ignored" if listed == total else "not honoured"
        lines.append(
            Finding(
                "fail",
                topic,
                f"{ignored}: {param}=<a user who does not exist> lists {listed} of the {total} waiting jobs;"
                " the station must not release",
                "ask ezeep which parameter filters a device token's job list by user and set it in"
                " [cloud.contract] jobs_user_param; until then keep the station from releasing",
            )
        )
    return lines


def _job_fields(results: list[object], names: contract.Contract) -> Finding:
    topic = "ezeep job fields"
    owner = names.job_owner
    jobs = [job for job in results if isinstance(job, Mapping)]
    if not jobs:
        return Finding("unknown", topic, "no job to look at", "print a page to AnyPrinter and run again")
    seen = sorted({str(key) for job in jobs for key in job})
    missing = [name for name in (names.job_id, owner) if not all(name in job for job in jobs)]
    if missing:
        return Finding(
            "fail",
            topic,
            f"jobs carry {', '.join(seen)}; no {' or '.join(map(repr, missing))}: the station refuses all",
            "set the field that names the owner's user id in [cloud.contract] job_owner"
            " (and job_id), from the fields listed",
        )
    fields = (names.job_id, names.job_name, names.job_created, names.job_pages, names.job_size)
    absent = [name for name in fields if name not in seen]
    blank = f"; not sent (shown blank): {', '.join(absent)}" if absent else ""
    return Finding("ok", topic, f"jobs carry {', '.join(seen)} (owner in {owner!r}){blank}")


# -- users ----------------------------------------------------------------------------------------


def _users(cloud: CloudStack, *, synced: bool) -> Finding:
    topic = "ezeep users list"
    names = cloud.client.contract
    path = names.users_path
    try:
        answer = cloud.client.get(names.users_host, path, params=contract.page_query(names.users_host, 0))
        results, _count, _ = contract.parse_page(answer, "users")
    except UnauthorisedError:
        if synced:  # the directory's sync resolves its addresses with nobody there to sign in
            return Finding(
                "fail",
                topic,
                f"{path} is refused for the device token, and the synced directory needs it",
                "give the directory's people their ezeep user ids, or ask ezeep to let the device"
                " token read the users list",
            )
        return Finding(
            "unknown",
            topic,
            f"{path} is refused for the device token",
            "e-mail lookups (badge import, enrolment search) ask a technician to sign in once",
        )
    except NotFoundError:
        return Finding(
            "fail", topic, f"{path} is not found", "set [cloud.contract] users_host and users_path"
        )
    except CloudError as exc:
        return _unreachable("users list", exc)
    users = [u for u in results if isinstance(u, Mapping)]
    if users and "email" not in users[0]:
        fields = ", ".join(sorted(str(key) for key in users[0]))
        return Finding(
            "fail",
            topic,
            f"{path} lists users without e-mail addresses (fields: {fields})",
            'look users up on the account host: [cloud.contract] users_host = "account",'
            ' users_path = "/v1/users/"',
        )
    return Finding("ok", topic, f"{path} reachable" + (", with e-mail addresses" if users else " (empty)"))


# -- the release test -----------------------------------------------------------------------------


def _release(
    cloud: CloudStack,
    printer: Mapping[str, object] | None,
    test: ReleaseTest,
    out: TextIO,
    stop: threading.Event,
) -> Finding:
    topic = "ezeep release test"
    if printer is None:
        return Finding(
            "fail", topic, "not run: the station has no printer (see above)", "fix the printer line first"
        )
    try:
        user_id = _user_id(cloud, test.user)
    except (CloudError, LookupError) as exc:
        return Finding("fail", topic, f"not run: {exc}", "give the technician's ezeep user id instead")
    client = cloud.client
    warn_once = _once_each()

    def listing() -> list[Job]:
        return client.waiting_jobs(user_id, on_refused=warn_once)

    try:
        before = {job.id for job in listing()}
        print(
            f"Print a page to AnyPrinter as {test.user} now; waiting up to {test.wait_s:g} s for it...",
            file=out,
            flush=True,
        )
        job = _new_job(listing, before, test, stop)
        if job is None:
            return Finding(
                "fail",
                topic,
                f"no new job of {test.user} arrived in {test.wait_s:g} s",
                "print to AnyPrinter, then run again",
            )
        started = time.monotonic()
        spool_id = client.release(job.id, str(printer.get("id")))
        status = client.wait_for_job(spool_id, timeout_s=test.wait_s, stop=stop)
    except CloudError as exc:
        refused = "the lines above say which assumption fails; if none does, report this message to ezeep"
        return Finding("fail", topic, f"{type(exc).__name__}: {exc}", refused)
    return _followed(status, str(printer.get("name")), time.monotonic() - started, test.wait_s)


def _followed(status: JobStatus, printer: str, taken_s: float, wait_s: float) -> Finding:
    """The release test's line, from the last status of the released page."""
    topic = "ezeep release test"
    if status.state is JobState.PRINTED:
        pages = f"{status.pages_printed} page(s)"
        return Finding("ok", topic, f"released to {printer} and printed ({pages}) in {taken_s:.1f} s")
    what = f"status {status.code} {status.text}".strip()
    if status.state.final:
        return Finding(
            "fail",
            topic,
            f"the printer reported {what} ({status.state.name.lower()})",
            "check the printer in the ezeep portal (online, paper, toner), then run again",
        )
    return Finding(
        "fail",
        topic,
        f"released, but not printed in {wait_s:g} s (last {what})",
        "check that the printer's connector is online in the ezeep portal",
    )


def _user_id(cloud: CloudStack, user: str) -> str:
    if "@" not in user:
        return user
    found = [u for u in cloud.client.find_users(email=user) if u.email.casefold() == user.casefold()]
    if len(found) != 1:
        raise LookupError(f"{len(found)} ezeep users have the e-mail address {user}")
    return found[0].id


def _new_job(
    list_jobs: Callable[[], list[Job]], before: set[str], test: ReleaseTest, stop: threading.Event
) -> Job | None:
    deadline = time.monotonic() + test.wait_s
    while True:
        fresh = [job for job in list_jobs() if job.id not in before]
        if fresh:
            return fresh[0]
        left = deadline - time.monotonic()
        if left <= 0 or stop.wait(min(test.poll_s, left)):
            return None


def _once_each() -> Callable[[RefusedJobs], None]:
    """The station's warning about jobs a list held that are not the user's, said once per kind
    and count: the release test reads the list every few seconds, and a profile that ignores
    the user filter would repeat it at each look (the station's own run still warns each time)."""
    told: set[tuple[str, int]] = set()

    def refused(jobs: RefusedJobs) -> None:
        if (jobs.why, len(jobs.job_ids)) not in told:
            told.add((jobs.why, len(jobs.job_ids)))
            log_refused(jobs)

    return refused


# -- inside -------------------------------------------------------------------------------------


def _unreachable(what: str, exc: CloudError) -> Finding:
    """The line of a check that ezeep's answer ended: refused or unreadable (FAIL), or none (unknown)."""
    if isinstance(exc, UnauthorisedError):
        refused = "ask ezeep to let a release station's device token read it (contract.py, questions)"
        return Finding("fail", f"ezeep {what}", f"refused for the device token: {exc}", refused)
    if isinstance(exc, BadAnswerError | NotFoundError):
        return Finding("fail", f"ezeep {what}", f"ezeep's answer does not fit: {exc}", "report this answer")
    return Finding(
        "unknown",
        f"ezeep {what}",
        f"not checked: {exc}",
        "see the cloud lines of `release-station doctor` (network, TLS, proxy) and run again",
    )
