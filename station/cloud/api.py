"""The ezeep calls the station makes with its device token: printers, jobs, release, status, users.

:class:`EzeepClient` adds the bearer token from the :class:`~station.cloud.tokens.TokenKeeper`
to every call. A 401 makes the keeper refresh (once for all callers) and the call is retried
once; a second 401 is an :class:`UnauthorisedError`, and so is a 403 at once (the token is
valid but may not make that call: a new one would not either). An :meth:`EzeepClient.impatient` client
(for calls a person is waiting on) never sits in the keeper's retries: a token that must be
refreshed gets one try, and a refresh already under way means :class:`OfflineError`. Every failure is one of
:mod:`station.cloud.errors`.

A hostile or broken answer cannot make a list endless: lists are read page by page until the
server has no more, but a page counts for at most the 100 items asked for, and once a list
holds ``max_items`` (a user's jobs: ``max_jobs``) no further page is fetched; the log says the
list was cut. Each request has its own total deadline (:class:`~station.cloud.http.CloudHttp`),
and a whole list has one more, ``list_deadline_s``: no page is asked for once it has passed and
a page's request ends by then, so the list ends in :class:`DeadlineError` (which callers treat as
no answer) however many pages a slow server hands out. Token refreshes on the way are bounded by
their own request deadlines only. A :meth:`EzeepClient.probing` client (the core's health
check) gives each request of :meth:`EzeepClient.station_printer` a short deadline of its own: a
probe sent into a black hole just before the network returns must not wait out the full request
timeout before the next probe can find ezeep again.

A job belongs to one person: :meth:`EzeepClient.waiting_jobs` returns only the jobs whose owner
(by the configured :class:`~station.cloud.contract.Contract`) is the user asked for, whatever
the list held; the others, and jobs naming no owner, are dropped and logged by count and id.
:meth:`EzeepClient.owns` lets the release engine ask the same question before it releases or
deletes a job. Every name ezeep does not document comes from :attr:`EzeepClient.contract`.

The station's printer is the one whose ``tp_id`` is the token's, on the token's connector
(``sub``, compared with a printer's ``connector_id``), unless ``cloud.printer_id`` pins one;
pull-print queues (``is_queue``) never are (:class:`PrinterMatchError` says why none was found).
Every tap checks it, so a tap must not read every page of a large organisation's printers, one
round trip each, before it releases anything: once a reading of the whole list has found it,
and the page it is on can prove it by itself, the next check reads only that page (see
:meth:`EzeepClient.station_printer`).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from station.cloud import contract
from station.cloud.errors import (
    DeadlineError,
    PrinterMatchError,
    PrintRefusedError,
    RefusedError,
    UnauthorisedError,
    UsersRefusedError,
)
from station.cloud.http import CloudHttp, Host
from station.cloud.models import DeviceBinding, Job, JobStatus, ListEnd, Printer, UserInfo, job_ids_for_log
from station.cloud.tokens import TokenKeeper
from station.config import CloudSection

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RefusedJobs:
    """Jobs a job list held that :meth:`EzeepClient.waiting_jobs` left out: why (``"are someone
    else's"``, ``"name no owner (…)"``) and their ids."""

    why: str
    job_ids: tuple[str, ...]

    def __str__(self) -> str:
        ids = job_ids_for_log(self.job_ids)
        return f"the job list held {len(self.job_ids)} job(s) that {self.why}; refused: {ids}"


def log_refused(refused: RefusedJobs) -> None:
    """The station's way with refused jobs: a warning each time a list holds them."""
    log.warning("%s", refused)


T = TypeVar("T")

MAX_LIST_ITEMS = 5000  # printers or users of an organisation: 50 pages
MAX_JOBS = 500  # one person's waiting jobs: more than any screen or release needs
LIST_DEADLINE_S = 60.0  # a whole list of printers, jobs or users, every page included
_TODAY = contract.Contract()


class EzeepClient:
    """ezeep's REST and print APIs as the station uses them.

    Args:
        http: the station's :class:`CloudHttp`.
        keeper: the device's :class:`TokenKeeper`.
        contract: the names ezeep does not document (``[cloud.contract]``); kept as
            :attr:`contract`.
        printer_id: the printer that :meth:`station_printer` returns whatever the token says
            (``cloud.printer_id``); "" to match the token's ``tp_id`` and connector.
        max_items: how many items a list of printers or users may have before it is cut off
            (logged; ``cloud.max_list_items``).
        max_jobs: the same for a user's waiting jobs (``cloud.max_jobs``).
        list_deadline_s: how long reading a whole list may take, all its pages
            (:class:`DeadlineError`; ``cloud.list_deadline_s``).
        wait_for_token: False: refresh the token with one try and never wait behind another
            caller's refresh (see :meth:`TokenKeeper.access_token`).

    Example::

        client = EzeepClient(http, keeper)
        printer = client.station_printer()
        for job in client.waiting_jobs(user_id):
            spool_id = client.release(job.id, printer.id)
    """

    def __init__(
        self,
        http: CloudHttp,
        keeper: TokenKeeper,
        *,
        contract: contract.Contract = _TODAY,
        printer_id: str = "",
        max_items: int = MAX_LIST_ITEMS,
        max_jobs: int = MAX_JOBS,
        list_deadline_s: float = LIST_DEADLINE_S,
        wait_for_token: bool = True,
    ) -> None:
        if max_items < 1 or max_jobs < 1 or list_deadline_s <= 0:
            raise ValueError("max_items and max_jobs must be at least 1, list_deadline_s above 0")
        self._http = http
        self._keeper = keeper
        self.contract = contract
        self._printer_id = printer_id
        self._max_items = max_items
        self._max_jobs = max_jobs
        self._list_deadline_s = list_deadline_s
        self._wait = wait_for_token
        self._probe_s: float | None = None  # each request of station_printer(), when set
        self._found = _PrinterPage()  # shared with the twins: one station, one printer

    @classmethod
    def from_config(cls, http: CloudHttp, keeper: TokenKeeper, cloud: CloudSection) -> EzeepClient:
        return cls(
            http,
            keeper,
            contract=cloud.contract,
            printer_id=cloud.printer_id,
            max_items=cloud.max_list_items,
            max_jobs=cloud.max_jobs,
            list_deadline_s=cloud.list_deadline_s,
        )

    def impatient(self) -> EzeepClient:
        """The same connection, token and limits, for calls a person is waiting on
        (``wait_for_token=False``)."""
        twin = copy.copy(self)
        twin._wait = False
        return twin

    def probing(self, deadline_s: float) -> EzeepClient:
        """The same client, whose :meth:`station_printer` (a health probe) gives each request at
        most ``deadline_s`` (``cloud.probe_deadline_s``); every other call is unchanged."""
        if deadline_s <= 0:
            raise ValueError("deadline_s must be above 0")
        twin = copy.copy(self)
        twin._probe_s = deadline_s
        return twin

    # --- printers -----------------------------------------------------------------------------
    def printers(self) -> list[Printer]:
        return self._printers(None)

    def _printers(
        self,
        each_s: float | None,
        *,
        only_page: int | None = None,
        on_page: Callable[[list[Printer], ListEnd | None], None] | None = None,
        until: float | None = None,
    ) -> list[Printer]:
        parse = contract.parse_printer
        return self._pages(
            contract.PRINTERS_PATH,
            {},
            parse,
            "printers",
            self._max_items,
            request_s=each_s,
            only_page=only_page,
            on_page=on_page,
            until=until,
        )

    def station_printer(self) -> Printer:
        """The printer this station releases to, with its status now: the pinned one
        (``cloud.printer_id``), else the one with the token's ``tp_id`` on the token's connector;
        never a pull-print queue.

        The first call reads every page of the organisation's printers. When the printer it finds
        is the station's whatever else the list holds (pinned, or on the token's connector: a
        ``tp_id`` is unique there), later calls read only the page it was on, as long as the
        token's binding and the pin are the same, and take it from there if it still is. Anywhere
        else (printers were added or removed before it, it changed) every page is read again, and
        so is every page each time for a printer matched by its ``tp_id`` alone (a printer with
        the same ``tp_id`` may be added anywhere). Both readings together end within
        ``list_deadline_s``.

        Raises :class:`PrinterMatchError` (a :class:`NotFoundError`) when there is none or more
        than one, saying which to pin.
        """
        binding, pinned = self._keeper.binding, self._printer_id
        until = time.monotonic() + self._list_deadline_s
        last = self._found.get(binding, pinned)
        if last is not None:
            listed = self._printers(self._probe_s, only_page=last.page, until=until)
            for printer in listed:
                if printer.id == last.printer_id and ours_by_itself(printer, binding, pinned):
                    return printer
            log.info("the station's printer is no longer where it was in the list; reading every page")
            self._found.set(None)
        pages: list[list[Printer]] = []
        printers = self._printers(self._probe_s, on_page=lambda kept, end: pages.append(kept), until=until)
        chosen = station_printer_of(printers, binding, pinned)
        if ours_by_itself(chosen, binding, pinned):
            page = next(n for n, kept in enumerate(pages) if chosen in kept)
            self._found.set(_Found(binding, pinned, chosen.id, page))
        return chosen

    # --- jobs -------------------------------------------------------------------------------------
    def waiting_jobs(
        self,
        user_id: str,
        *,
        on_page: Callable[[list[Job], ListEnd | None], None] | None = None,
        on_refused: Callable[[RefusedJobs], None] = log_refused,
    ) -> list[Job]:
        """Every job waiting in the user's queue, newest first (all pages, up to ``max_jobs``).

        Only the user's own jobs: whatever the server's ``user=`` filter did, a job whose owner
        is someone else, or that names no owner, is left out and told to ``on_refused`` (by
        default a warning in the log, by count and id). ``on_page`` hears each page's own jobs
        as soon as the page is read, before the next one is asked for, on the calling thread:
        the release engine starts releasing them. With the last page it hears how the list
        ended (:class:`ListEnd`: whether a job the list does not hold is gone from the queue);
        with the others None. A page without any of the user's jobs is told only when it is
        the last.
        """
        own: list[Job] = []
        unowned: list[str] = []
        others: list[str] = []

        def page(jobs: list[Job], end: ListEnd | None) -> None:
            mine: list[Job] = []
            for job in jobs:
                if self.owns(job, user_id):
                    mine.append(job)
                else:
                    (others if job.owner_id else unowned).append(job.id)
            own.extend(mine)
            if on_page is not None and (mine or end is not None):
                on_page(mine, end)

        self._pages(
            contract.JOBS_PATH,
            self.contract.waiting_jobs_query(user_id),
            self.contract.parse_job,
            "jobs",
            self._max_jobs,
            on_page=page,
        )
        named = f"name no owner ({self.contract.job_owner!r})"
        for ids, why in ((unowned, named), (others, "are someone else's")):
            if ids:
                on_refused(RefusedJobs(why, tuple(ids)))
        return own

    def owns(self, job: Job, user_id: str) -> bool:
        """Whether ``job`` (as :meth:`waiting_jobs` returned it) belongs to ``user_id``."""
        return self.contract.owns(job.owner_id, user_id)

    def release(self, job_id: str, printer_id: str) -> str:
        """Send a pull job to a printer; the spooler job id to follow with :meth:`status`.

        Raises :class:`PrintRefusedError` with ezeep's code when it answers ``{"code": N}``.
        """
        body = self.contract.release_body(job_id, printer_id)
        try:
            answer = self._call("POST", "print", contract.PRINT_PATH, json_body=body)
        except RefusedError as exc:
            raise PrintRefusedError(str(exc), code=exc.code, status=exc.status) from exc
        return contract.parse_release(answer)

    def warm_print(self, requests: int) -> None:
        """Open connections to the print host for ``requests`` releases soon to be sent, in the
        background (see :meth:`CloudHttp.warm`)."""
        self._http.warm("print", requests)

    def status(self, spool_id: str) -> JobStatus:
        answer = self._call("GET", "print", contract.STATUS_PATH, params={"id": spool_id})
        return contract.parse_status(answer)

    def wait_for_job(
        self,
        spool_id: str,
        *,
        timeout_s: float,
        interval_s: float = 1.0,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> JobStatus:
        """Poll :meth:`status` until the job is printed, failed or unknown, or ``timeout_s`` passes.

        Returns the last status seen; it is not final when time ran out (or ``stop`` was set).
        """
        stop = stop or threading.Event()
        deadline = clock() + timeout_s
        current = self.status(spool_id)
        while not current.state.final and clock() < deadline:
            if stop.wait(max(0.0, min(interval_s, deadline - clock()))):
                break
            current = self.status(spool_id)
        return current

    def delete(self, job_id: str) -> None:
        self._call("DELETE", "api", self.contract.job_path(job_id))

    # --- users ----------------------------------------------------------------------------------
    def find_users(
        self, email: str | None = None, search: str | None = None, *, token: str | None = None
    ) -> list[UserInfo]:
        """Org members by exact e-mail (case ignored) or by a substring of name or e-mail.

        The users list (``contract.users_host``/``users_path``) documents no filter, so every
        page is read (up to ``max_items``) and matched here. ``token``: a signed-in user's access
        token (a technician's, from a user-mode pairing) to read it with instead of the device
        token; ezeep shows an ordinary user only themself. Raises :class:`UsersRefusedError`
        when ezeep refuses the list to the device token.
        """
        if not (email or search):
            raise ValueError("find_users needs an email or a search text")
        users = self.users(token=token)
        if email:
            users = [u for u in users if u.email.strip().casefold() == email.strip().casefold()]
        if search:
            needle = search.casefold()
            users = [u for u in users if needle in f"{u.email} {u.display_name}".casefold()]
        return users

    def users(self, *, token: str | None = None) -> list[UserInfo]:
        """Every org member ezeep shows (up to ``max_items``), from ``contract.users_host`` and
        ``users_path``; ``token``, :class:`UsersRefusedError`: as for :meth:`find_users`."""
        host: Host = self.contract.users_host
        path = self.contract.users_path
        try:
            return self._pages(
                path, {}, contract.parse_user, "users", self._max_items, host=host, token=token
            )
        except UnauthorisedError as exc:
            if token is not None:
                raise
            raise UsersRefusedError(
                f"ezeep refused its users list ({host} host, {path}) to the station's device token;"
                " it may show it to an administrator who signs in"
            ) from exc

    def me(self, user_access_token: str) -> UserInfo:
        """Who a *user* token (from a user-mode pairing) belongs to."""
        answer = self._http.request("GET", "account", contract.ME_PATH, token=user_access_token)
        return contract.parse_user(answer)

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token (a user's after self-enrolment, or the device's on unpair)."""
        self._http.oauth(contract.REVOKE_PATH, contract.revoke_form(refresh_token))

    # --- inside -----------------------------------------------------------------------------------
    def get(self, host: Host, path: str, *, params: Mapping[str, str | int] | None = None) -> object:
        """A GET with the device token, as ezeep answers it (decoded, not parsed), refreshed once
        on a 401: for the checks that read ezeep's raw answers (``release-station doctor --live``)."""
        return self._call("GET", host, path, params=params)

    def _call(
        self,
        method: str,
        host: Host,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Mapping[str, object] | None = None,
        until: float | None = None,
        token: str | None = None,
    ) -> object:
        """One request with the device token, refreshed and retried once on a 401; ``until``:
        as for :meth:`CloudHttp.request`. ``token``: another principal's access token, sent
        as it is (no refresh)."""
        if token is not None:
            return self._http.request(
                method, host, path, token=token, params=params, json_body=json_body, until=until
            )
        token = self._keeper.access_token(wait=self._wait)
        try:
            return self._http.request(
                method, host, path, token=token, params=params, json_body=json_body, until=until
            )
        except UnauthorisedError as exc:
            if exc.status == 403:  # the token is good but may not do this: a new one may not either
                raise
            log.info("ezeep refused the access token for %s %s; refreshing once", method, path)
            token = self._keeper.renew(token, wait=self._wait)
            return self._http.request(
                method, host, path, token=token, params=params, json_body=json_body, until=until
            )

    def _pages(
        self,
        path: str,
        query: Mapping[str, str | int],
        parse: Callable[[object], T],
        what: str,
        limit: int,
        *,
        request_s: float | None = None,
        host: Host = "api",
        token: str | None = None,
        on_page: Callable[[list[T], ListEnd | None], None] | None = None,
        only_page: int | None = None,
        until: float | None = None,
    ) -> list[T]:
        """Every page of a list, each cut to the page size asked for, the whole cut at ``limit``
        and ended by ``list_deadline_s``; ``request_s``: each page's request within this too.
        ``host``: where the list is (its paging: :func:`contract.page_query`); ``token``: as
        for :meth:`_call`; ``on_page``: hears each page's items (as kept) once the page is read,
        and how the list ended with its last page (None before: further pages will be asked for).
        ``only_page``: read that page (from 0) alone, counting the pages before it towards
        ``limit`` (never with ``on_page``); ``until``: the :func:`time.monotonic` time the list
        must end by (default: ``list_deadline_s`` from now)."""
        assert on_page is None or only_page is None, "a page alone tells nothing of the list's end"
        items: list[T] = []
        first = page = only_page or 0
        before = first * contract.PAGE_SIZE  # the items of the pages not read count towards limit
        if before >= limit:
            return items
        overlong = False  # a page held more than asked for: what it held beyond was not read
        until = time.monotonic() + self._list_deadline_s if until is None else until
        while True:
            params = {**query, **contract.page_query(host, page)}
            page_until = until if request_s is None else min(until, time.monotonic() + request_s)
            try:
                answer = self._call("GET", host, path, params=params, until=page_until, token=token)
            except DeadlineError as exc:
                if time.monotonic() < until:
                    raise  # the page's own deadline
                raise DeadlineError(
                    f"{what}: reading the list took longer than {self._list_deadline_s:g} s"
                    f" ({page - first} page(s) read)"
                ) from exc
            results, count, has_next = contract.parse_page(answer, what)
            if len(results) > contract.PAGE_SIZE:
                log.warning(
                    "%s: page %d held %d items, more than the %d asked for; the rest were ignored",
                    what,
                    page + 1,
                    len(results),
                    contract.PAGE_SIZE,
                )
                results = results[: contract.PAGE_SIZE]
                overlong = True
            room = limit - before - len(items)
            kept = [parse(item) for item in results[:room]]
            items.extend(kept)
            last = not has_next or not results or (count is not None and len(items) >= count)
            cut = len(results) > room or (not last and before + len(items) >= limit)
            if on_page is not None:
                on_page(kept, _end(page, last=last, cut=cut, overlong=overlong, has_next=has_next))
            if cut:
                log.warning(
                    "%s: the list was cut at %d items (%d pages); further pages were not fetched",
                    what,
                    limit,
                    page + 1 - first,
                )
                return items
            if last or only_page is not None:
                return items
            page += 1


def ours_by_itself(printer: Printer, binding: DeviceBinding | None, pinned: str) -> bool:
    """Whether ``printer`` is the station's whatever else the list holds: the pinned one, or
    the one with the token's ``tp_id`` on the token's connector (a ``tp_id`` is unique there)."""
    if printer.is_queue:
        return False
    if pinned:
        return printer.id == pinned
    return (
        binding is not None
        and binding.tp_id is not None
        and printer.tp_id == binding.tp_id
        and _on_tokens_connector(printer, binding)
    )


def _on_tokens_connector(printer: Printer, binding: DeviceBinding) -> bool:
    return bool(printer.connector_id) and printer.connector_id == binding.subject


@dataclass(frozen=True, slots=True)
class _Found:
    """Where a reading of every page found the station's printer, and with which binding and pin."""

    binding: DeviceBinding | None
    pinned: str
    printer_id: str
    page: int


class _PrinterPage:
    """The last :class:`_Found`, shared by a client and its twins. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: _Found | None = None

    def get(self, binding: DeviceBinding | None, pinned: str) -> _Found | None:
        """Where the printer was found, if it was found with this binding and pin."""
        with self._lock:
            found = self._found
        return found if found is not None and (found.binding, found.pinned) == (binding, pinned) else None

    def set(self, found: _Found | None) -> None:
        with self._lock:
            self._found = found


def _end(page: int, *, last: bool, cut: bool, overlong: bool, has_next: bool) -> ListEnd | None:
    """How a list ended with page ``page`` (from 0); None: further pages will be asked for.

    Whole only when the first page named no next one: a ``count`` that says every item is
    there ends the reading, but proves nothing (it may be stale).
    """
    if not (last or cut):
        return None
    if cut or overlong:
        return ListEnd.CUT
    return ListEnd.WHOLE if page == 0 and not has_next else ListEnd.PAGED


def station_printer_of(printers: list[Printer], binding: DeviceBinding | None, pinned: str = "") -> Printer:
    """The station's printer among ``printers`` (see :meth:`EzeepClient.station_printer`).

    Example::

        floor = Printer("p1", "Floor 2", "", tp_id=7, status="Online", connector_id="c1")
        other = Printer("p2", "Lobby", "", tp_id=7, status="Online", connector_id="c2")
        assert station_printer_of([floor, other], DeviceBinding("c1", "org", 7)) == floor
    """
    if pinned:
        chosen = [p for p in printers if p.id == pinned]
        if not chosen:
            raise PrinterMatchError(f"the printer cloud.printer_id = {pinned!r} is not in this organisation")
        if chosen[0].is_queue:
            raise PrinterMatchError(
                f"cloud.printer_id {pinned!r} is a pull-print queue ({chosen[0].name}), not a printer"
            )
        return chosen[0]
    if binding is None or binding.tp_id is None:
        raise PrinterMatchError(
            "the station's token names no printer (no tp_id claim): set cloud.printer_id"
            f" to one of: {_listed(printers)}"
        )
    same_tp = [p for p in printers if p.tp_id == binding.tp_id and not p.is_queue]
    on_connector = [p for p in same_tp if _on_tokens_connector(p, binding)]
    chosen = on_connector or same_tp
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        raise PrinterMatchError(
            f"no printer with tp_id {binding.tp_id} in this organisation: set cloud.printer_id"
            f" to one of: {_listed(printers)}"
        )
    raise PrinterMatchError(
        f"{len(chosen)} printers have tp_id {binding.tp_id} and none is on the token's connector:"
        f" set cloud.printer_id to one of: {_listed(chosen)}"
    )


def _listed(printers: list[Printer]) -> str:
    """Printers a technician may pin, for a message: name and the id as TOML writes it, queues left out."""
    targets = [f'{p.name or "(no name)"} = "{p.id}"' for p in printers if not p.is_queue]
    return "; ".join(targets[:10]) + ("; ..." if len(targets) > 10 else "") if targets else "(none)"
