"""The ezeep calls the station makes with its device token: printers, jobs, release, status, users.

:class:`EzeepClient` adds the bearer token from the :class:`~station.cloud.tokens.TokenKeeper`
to every call. A 401 makes the keeper refresh (once for all callers) and the call is retried
once; a second 401 is an :class:`UnauthorisedError`. An :meth:`EzeepClient.impatient` client
(for calls a person is waiting on) never sits in the keeper's retries: a token that must be
refreshed gets one try, and a refresh already under way means :class:`OfflineError`. Lists are
read page by page until the server has no more, bounded by ``max_pages``. Every failure is one
of :mod:`station.cloud.errors`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from station.cloud import contract
from station.cloud.errors import NotFoundError, UnauthorisedError
from station.cloud.http import CloudHttp, Host
from station.cloud.models import Job, JobStatus, Printer, UserInfo
from station.cloud.tokens import TokenKeeper

log = logging.getLogger(__name__)

T = TypeVar("T")


class EzeepClient:
    """ezeep's REST and print APIs as the station uses them.

    Args:
        http: the station's :class:`CloudHttp`.
        keeper: the device's :class:`TokenKeeper`.
        max_pages: how many pages of 100 any list may have before it is cut off (logged).
        wait_for_token: False: refresh the token with one try and never wait behind another
            caller's refresh (see :meth:`TokenKeeper.access_token`).

    Example::

        client = EzeepClient(http, keeper)
        printer = client.station_printer()
        for job in client.waiting_jobs(user_id):
            spool_id = client.release(job.id, printer.id)
    """

    def __init__(
        self, http: CloudHttp, keeper: TokenKeeper, *, max_pages: int = 50, wait_for_token: bool = True
    ) -> None:
        self._http = http
        self._keeper = keeper
        self._max_pages = max_pages
        self._wait = wait_for_token

    def impatient(self) -> EzeepClient:
        """The same connection and token, for calls a person is waiting on (``wait_for_token=False``)."""
        return EzeepClient(self._http, self._keeper, max_pages=self._max_pages, wait_for_token=False)

    # --- printers -----------------------------------------------------------------------------
    def printers(self) -> list[Printer]:
        return self._pages(contract.PRINTERS_PATH, {}, contract.parse_printer, "printers")

    def station_printer(self) -> Printer:
        """The printer this station is bound to, by the ``tp_id`` in its token."""
        binding = self._keeper.binding
        if binding is None or binding.tp_id is None:
            raise NotFoundError("the station's token names no printer (no tp_id claim)")
        for printer in self.printers():
            if printer.tp_id == binding.tp_id:
                return printer
        raise NotFoundError(f"no printer with tp_id {binding.tp_id} in this organisation")

    # --- jobs -------------------------------------------------------------------------------------
    def waiting_jobs(self, user_id: str) -> list[Job]:
        """Every job waiting in the user's queue, newest first (all pages)."""
        return self._pages(
            contract.JOBS_PATH, contract.waiting_jobs_query(user_id), contract.parse_job, "jobs"
        )

    def release(self, job_id: str, printer_id: str) -> str:
        """Send a pull job to a printer; the spooler job id to follow with :meth:`status`."""
        answer = self._call(
            "POST", "print", contract.PRINT_PATH, json_body=contract.release_body(job_id, printer_id)
        )
        return contract.parse_release(answer)

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
        self._call("DELETE", "api", contract.job_path(job_id))

    # --- users ----------------------------------------------------------------------------------
    def find_users(self, email: str | None = None, search: str | None = None) -> list[UserInfo]:
        """Org members by exact e-mail or by a substring of name or e-mail."""
        query: dict[str, str | int] = {}
        if email:
            query["email"] = email
        if search:
            query["search"] = search
        if not query:
            raise ValueError("find_users needs an email or a search text")
        return self._pages(contract.USERS_PATH, query, contract.parse_user, "users")

    def me(self, user_access_token: str) -> UserInfo:
        """Who a *user* token (from a user-mode pairing) belongs to."""
        answer = self._http.request("GET", "account", contract.ME_PATH, token=user_access_token)
        return contract.parse_user(answer)

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token (a user's after self-enrolment, or the device's on unpair)."""
        self._http.oauth(contract.REVOKE_PATH, contract.revoke_form(refresh_token))

    # --- inside -----------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        host: Host,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Mapping[str, object] | None = None,
    ) -> object:
        token = self._keeper.access_token(wait=self._wait)
        try:
            return self._http.request(method, host, path, token=token, params=params, json_body=json_body)
        except UnauthorisedError:
            log.info("ezeep refused the access token for %s %s; refreshing once", method, path)
            token = self._keeper.renew(token, wait=self._wait)
            return self._http.request(method, host, path, token=token, params=params, json_body=json_body)

    def _pages(
        self, path: str, query: Mapping[str, str | int], parse: Callable[[object], T], what: str
    ) -> list[T]:
        items: list[T] = []
        for page in range(self._max_pages):
            params = {**query, "limit": contract.PAGE_SIZE, "offset": page * contract.PAGE_SIZE}
            results, count, has_next = contract.parse_page(
                self._call("GET", "api", path, params=params), what
            )
            items.extend(parse(item) for item in results)
            if not has_next or not results or (count is not None and len(items) >= count):
                return items
        log.warning("%s: stopped after %d pages", what, self._max_pages)
        return items
