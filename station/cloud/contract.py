"""Every shape the station assumes about ezeep Blue, in one place.

Paths, form fields, JSON field names and the few numbers ezeep does not send (poll interval,
code lifetime) are named here, and so are the functions that turn an answer into a model. What
ezeep's pages confirm is a module constant. What they do not (``shared/docs/ezeep-api.md``,
"What ezeep's own pages say, 2026-12") is a field of :class:`Contract`, with today's guess as
its default: a station corrects it in ``[cloud.contract]`` of its configuration, without a new
image, once ``release-station doctor --live`` shows the guess wrong.

The assumptions, in one list:

- the RFC 8628 error codes of the token endpoint, the poll interval and the code lifetime;
  any other ``error`` is shown to the technician as ezeep sent it;
- that a device token carries ``sub`` (the connector, matched with a printer's
  ``connector_id``) and ``tp_id`` (documented only as a per-client setting, "Claim tp_id
  enabled"), and that ezeep enabled refresh tokens and that claim for the station's client id:
  pairing stops with the fix spelled out when either is missing;
- that the users list of the account host (documented: ``GET /v1/users/``, ``page``/``per_page``,
  admins only) answers with api2's envelope ``{count, next, previous, results}``, and whether a
  device token may read it at all (if not, a technician signs in once and the search runs with
  that user's token);
- that a device token may list a card holder's jobs with ``user=<user id>``
  (:attr:`Contract.jobs_user_param`) and may release and delete them; the station does not rely
  on the filter: every job whose owner is not the badge's user (or that names no owner) is
  refused (:meth:`Contract.owns`);
- every job field: ``id``, ``name``, ``created``, ``pages``, ``size``, and the owner field;
- the release body (``jobid``, ``printerid``) and the delete path;
- that a failed release answers ``{"code": N}`` (documented for ``sfapi/Print`` of a file) and
  that such an answer means nothing was sent to the printer;
- that a released job leaves the INQUEUE list soon: it may stay listed for a while after the
  release, but not longer than the release engine's quarantine window (``[cloud] in_doubt_s``);
- that a request may land after its client gave up (a congested link, a queueing proxy): a
  request without an answer is in doubt until the job list shows what became of it or that
  window has passed, and a refresh whose answer was lost may have rotated the refresh token;
- that a 429 or 503 is answered before anything is done (a rate limit, maintenance, a load
  balancer without a server), so a release or delete answered so was not carried out; any
  other 5xx may come after the work was done (:attr:`Contract.refused_statuses`: some front
  doors answer 503 after they passed the request on, when the server was too slow);
- that revoke (documented: 2xx without content, refresh tokens only) kills the refresh tokens
  of that one pairing and no other: pairing again with the same hardware id revokes the
  replaced pair's refresh token and expects the new pair to live on. Nothing relies on the
  access tokens dying with it (the docs say an access token may live on for up to an hour).

Questions for ezeep (the answers become defaults here, or settle an assumption above):

1. May a device token (pairing code grant, ``mode=device``) list, release and delete the pull
   jobs of another user on api2 and printapi, and which query parameter filters the list by
   user? Is the filter honoured or ignored for a device token?
2. What is the body of the release call (``sfapi/Print`` with ``jobid``? ``fileid``?), and
   which fields does a listed pull job carry (its owner above all)?
3. Which path deletes a pull job?
4. Is the token's ``sub`` the connector id printers carry as ``connector_id``, and is ``tp_id``
   in the token an integer?
5. May a device token read ``account.ezeep.com/v1/users/``, and can it be filtered by e-mail?
6. Which print error codes exist besides 804, and do any of them mean "sent anyway"?
7. Which ``error`` values does the token endpoint answer while a pairing code waits, is denied
   or runs out, and how long does a code live?
8. Where does ezeep keep card ids (pp2), and will a paired device be offered that path?

Parsers take already-decoded JSON (``object``) and either return a model or raise
:class:`~station.cloud.errors.BadAnswerError` (:func:`parse_release` also
:class:`~station.cloud.errors.PrintRefusedError`); they never raise anything else.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from urllib.parse import quote

from station.cloud.errors import BadAnswerError, NotFoundError, PrintRefusedError
from station.cloud.models import DeviceBinding, Job, JobState, JobStatus, Printer, UserInfo
from station.errors import ConfigError

# --- OAuth (account host) -------------------------------------------------------------------
PAIR_PATH: Final = "/oauth/pair/"
TOKEN_PATH: Final = "/oauth/access_token/"  # noqa: S105 (a path, not a secret)
REVOKE_PATH: Final = "/oauth/revoke/"
ME_PATH: Final = "/v1/users/me"  # assumed host: the account host, as in ezeep-js

SCOPE: Final = "printing"
GRANT_PAIRING: Final = "pairing_code"
GRANT_REFRESH: Final = "refresh_token"

# RFC 8628 error codes on the token endpoint: all assumed (ezeep documents none).
ERR_PENDING: Final = "authorization_pending"
ERR_SLOW_DOWN: Final = "slow_down"
ERR_DENIED: Final = "access_denied"
ERR_EXPIRED: Final = "expired_token"
ERR_INVALID_GRANT: Final = "invalid_grant"

# ezeep sends no interval or lifetime with a pairing code: RFC 8628 defaults (assumed).
POLL_INTERVAL_S: Final = 5.0
SLOW_DOWN_STEP_S: Final = 5.0
CODE_LIFETIME_S: Final = 600.0


def pair_form(mode: str, hardware_id: str) -> dict[str, str]:
    form = {"mode": mode, "scope": SCOPE}
    if mode == "device" and hardware_id:
        form["hardware_id"] = hardware_id
    return form


def poll_form(pairing_code: str) -> dict[str, str]:
    return {"grant_type": GRANT_PAIRING, "scope": SCOPE, "pairing_code": pairing_code}


def refresh_form(refresh_token: str) -> dict[str, str]:
    return {"grant_type": GRANT_REFRESH, "scope": SCOPE, "refresh_token": refresh_token}


def revoke_form(refresh_token: str) -> dict[str, str]:
    return {"token": refresh_token}


# --- REST (api host) ------------------------------------------------------------------------
PRINTERS_PATH: Final = "/printing/v1/printers/"
JOBS_PATH: Final = "/printing/v1/printjobs/"
PAGE_SIZE: Final = 100  # ezeep's documented maximum


def page_query(host: Literal["account", "api", "print"], page: int) -> dict[str, str | int]:
    """The paging parameters of page ``page`` (from 0) of a list: the account host counts pages
    from 1 (``page``/``per_page``, documented for its users list), api2 counts items
    (``limit``/``offset``)."""
    if host == "account":
        return {"page": page + 1, "per_page": PAGE_SIZE}
    return {"limit": PAGE_SIZE, "offset": page * PAGE_SIZE}


OwnerMatch = Literal["exact", "casefold"]
UsersHost = Literal["account", "api"]
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_PATH = re.compile(r"/[A-Za-z0-9_./{}-]{0,200}")
_FIELDS: Final = (
    "job_id", "job_owner", "job_name", "job_pages", "job_created", "job_size",
    "release_job_key", "release_printer_key",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Contract:
    """The names ezeep's pages do not confirm, with today's guesses as defaults (``[cloud.contract]``).

    A mismatch found on site becomes a configuration edit: every field is a key of
    ``[cloud.contract]`` in the station's configuration, checked by :meth:`from_table`.

    ``jobs_user_param``: the job list's query parameter that names the card holder.
    ``job_id``, ``job_owner``, ``job_name``, ``job_pages``, ``job_created``, ``job_size``: the
    JSON fields of a listed job. ``owner_match``: how ``job_owner`` is compared with the badge's
    user id: ``"exact"``, or ``"casefold"`` (case and surrounding blanks ignored, for owners named
    by e-mail address). An empty owner never matches.
    ``release_job_key``, ``release_printer_key``: the release body's keys.
    ``delete_path``: the path that deletes a job; ``{job_id}`` stands for its id.
    ``users_host``, ``users_path``: where org members with e-mail and name are listed: the
    account host (paged ``page``/``per_page``, documented) or the REST host (``limit``/``offset``).
    ``refused_statuses``: the HTTP statuses (429 and 5xx, separated by blanks) that mean a
    release or delete was refused before anything was done: the job is held, free to go again.
    Any other 5xx leaves it in doubt (:mod:`station.release`).

    Example::

        contract = Contract.from_table({"job_owner": "owner_email", "owner_match": "casefold"})
        assert contract.owns(" Ada@Example.com", "ada@example.com")
        assert contract.job_path("j 1") == "/printing/v1/printjobs/j%201/"
    """

    jobs_user_param: str = "user"  # assumed: the other filters are documented
    job_id: str = "id"
    job_owner: str = "owner_id"  # assumed: ezeep's docs show no job field but `count`
    owner_match: OwnerMatch = "exact"  # assumed: an opaque user id, compared as it is
    job_name: str = "name"  # assumed
    job_pages: str = "pages"  # assumed
    job_created: str = "created"  # assumed (`o=-created` sorts by it: documented)
    job_size: str = "size"  # assumed
    release_job_key: str = "jobid"  # assumed
    release_printer_key: str = "printerid"  # as sfapi/Print of an uploaded file (documented)
    delete_path: str = "/printing/v1/printjobs/{job_id}/"  # assumed
    users_host: UsersHost = "account"  # documented: GET account.ezeep.com/v1/users/
    users_path: str = "/v1/users/"
    refused_statuses: str = "429 503"  # assumed

    def __post_init__(self) -> None:
        if not _PARAM.fullmatch(self.jobs_user_param):
            raise ValueError("jobs_user_param: must be a query parameter name like user")
        for name in _FIELDS:
            if not _FIELD.fullmatch(getattr(self, name)):
                raise ValueError(f"{name}: must be a JSON field name like owner_id")
        for name in ("delete_path", "users_path"):
            if not _PATH.fullmatch(getattr(self, name)) or "//" in getattr(self, name):
                raise ValueError(f"{name}: must be a path starting with /, like /v1/users/")
        if self.delete_path.count("{job_id}") != 1 or self.delete_path.replace("{job_id}", "").count("{"):
            raise ValueError("delete_path: must hold {job_id} once, like /printing/v1/printjobs/{job_id}/")
        if "{" in self.users_path or "}" in self.users_path:
            raise ValueError("users_path: must be a plain path, like /v1/users/")
        if self.owner_match not in typing.get_args(OwnerMatch):
            raise ValueError(f"owner_match: must be one of 'exact', 'casefold', not {self.owner_match!r}")
        if self.users_host not in typing.get_args(UsersHost):
            raise ValueError(f"users_host: must be one of 'account', 'api', not {self.users_host!r}")
        statuses = self.refused_statuses.split()
        if not all(s.isascii() and s.isdigit() and (s == "429" or 500 <= int(s) <= 599) for s in statuses):
            raise ValueError(
                'refused_statuses: must be 429 or 5xx statuses separated by blanks, like "429 503"'
            )

    @property
    def refusals(self) -> frozenset[int]:
        """:attr:`refused_statuses` as numbers."""
        return frozenset(int(status) for status in self.refused_statuses.split())

    @classmethod
    def from_table(
        cls, data: Mapping[str, object], source: str = "[cloud.contract]", prefix: str = "cloud.contract."
    ) -> Contract:
        """Today's names with the keys of ``data`` (a ``[cloud.contract]`` table) in their place.

        Raises :class:`~station.errors.ConfigError` naming ``source``, the key and what is
        allowed, for an unknown key, a value that is not a string or a value not allowed.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        for key, value in data.items():
            if key not in names:
                raise ConfigError(
                    source, prefix + key, f"unknown key; this section allows: {', '.join(sorted(names))}"
                )
            if not isinstance(value, str):
                raise ConfigError(source, prefix + key, f"must be a string, not {value!r}")
        try:
            return cls(**typing.cast(dict[str, typing.Any], dict(data)))
        except ValueError as exc:
            key, _, rest = str(exc).partition(": ")
            raise ConfigError(source, prefix + key, rest) from None

    def owns(self, owner: str, user_id: str) -> bool:
        """Whether a job whose ``job_owner`` field says ``owner`` is ``user_id``'s."""
        if self.owner_match == "casefold":
            owner, user_id = owner.strip().casefold(), user_id.strip().casefold()
        return bool(owner) and owner == user_id

    def waiting_jobs_query(self, user_id: str) -> dict[str, str]:
        # The user filter is assumed (the other filters are documented), so the station does not
        # trust it: every job the list returns is checked with owns().
        return {"status": "INQUEUE", "o": "-created", self.jobs_user_param: user_id}

    def job_path(self, job_id: str) -> str:
        return self.delete_path.replace("{job_id}", _path_segment(job_id))

    def release_body(self, job_id: str, printer_id: str) -> dict[str, str]:
        return {self.release_job_key: job_id, self.release_printer_key: printer_id}

    def parse_job(self, data: object) -> Job:
        """A listed job; ``owner_id`` is its ``job_owner`` field ("" when it names no owner)."""
        item = _mapping(data, "job")
        return Job(
            id=_str(item, self.job_id, "job"),
            name=_str(item, self.job_name, "job", required=False),
            created=_datetime(item.get(self.job_created)),
            pages=_int(item, self.job_pages, "job", required=False),
            owner_id=_str(item, self.job_owner, "job", required=False),
            size=_int(item, self.job_size, "job", required=False),
        )


# --- Print API (print host) -----------------------------------------------------------------
PRINT_PATH: Final = "/sfapi/Print/"
STATUS_PATH: Final = "/sfapi/Status/"


# ``jobstatus`` values from sfapi/Status (documented); anything else is a Win32 error.
_JOB_STATES: Final = {
    1246: JobState.WAITING,
    129: JobState.PRINTING,
    0: JobState.PRINTED,
    2: JobState.UNKNOWN_JOB,
}


# --- Parsers ----------------------------------------------------------------------------------
def _path_segment(value: str) -> str:
    if not value or "/" in value or value in (".", ".."):
        raise NotFoundError(f"no job can have the id {value!r}")
    return quote(value, safe="")


def _mapping(data: object, what: str) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise BadAnswerError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _str(data: Mapping[str, object], key: str, what: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadAnswerError(f"{what}: field {key!r} missing or not a string")
    text = str(value)
    if required and not text:
        raise BadAnswerError(f"{what}: field {key!r} is empty")
    return text


def _int(data: Mapping[str, object], key: str, what: str, *, required: bool = True) -> int | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
            return int(value)
        if not required:
            return None
        raise BadAnswerError(f"{what}: field {key!r} missing or not an integer")
    return value


def parse_pairing(data: object) -> tuple[str, str, str]:
    """``{pairing_code, auth_url[, verification_uri]}`` → (code, url, short url).

    ``auth_url`` leads straight to the code (it goes into the QR code). ``verification_uri``
    (RFC 8628's name; **assumed**, ezeep's answer has none as far as we have seen) is a short
    address a person types before entering the code; without it the short url is ``auth_url``.
    """
    answer = _mapping(data, "pairing answer")
    url = _web_address(answer, "auth_url")
    short = _web_address(answer, "verification_uri", required=False) or url
    return _str(answer, "pairing_code", "pairing answer"), url, short


def _web_address(answer: Mapping[str, object], key: str, *, required: bool = True) -> str:
    url = _str(answer, key, "pairing answer", required=required)
    if url and not url.startswith(("https://", "http://")):
        raise BadAnswerError(f"pairing answer: {key} is not a web address")
    return url


def parse_token(data: object) -> tuple[str, str, int]:
    """A token answer → (access token, refresh token, expires_in seconds).

    The refresh token is "" when the answer has none: ezeep issues one only to a client id it
    enabled refresh tokens for (the caller decides whether it can do without).
    """
    answer = _mapping(data, "token answer")
    access = _str(answer, "access_token", "token answer")
    refresh = _str(answer, "refresh_token", "token answer", required=False)
    expires_in = _int(answer, "expires_in", "token answer", required=False)
    if expires_in is None:
        expires_in = 3600  # documented lifetime of every ezeep access token
    if not 0 < expires_in <= 30 * 86400:
        raise BadAnswerError("token answer: expires_in out of range")
    return access, refresh, expires_in


def grant_error(data: object) -> str | None:
    """The OAuth ``error`` code of a 4xx answer, if it has one."""
    if isinstance(data, Mapping):
        error = data.get("error")
        if isinstance(error, str) and error:
            return error[:64]
    return None


def error_code(data: object) -> int | None:
    """ezeep's own error code of a refused request (``{"code": 804}``), if it has one."""
    if isinstance(data, Mapping):
        code = data.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return None


def jwt_claims(token: str) -> dict[str, object]:
    """The payload of a JWT, decoded without verifying it (TLS authenticates the server)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise BadAnswerError("access token: not a JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise BadAnswerError("access token: payload is not base64 JSON") from exc
    if not isinstance(claims, dict):
        raise BadAnswerError("access token: payload is not a JSON object")
    return claims


def device_binding(claims: Mapping[str, object]) -> DeviceBinding:
    """``sub``, ``org`` and the ``tp_id`` claim (assumed name) of a device token."""
    tp_id = _int(claims, "tp_id", "access token", required=False)
    return DeviceBinding(
        subject=_str(claims, "sub", "access token", required=False),
        organisation=_str(claims, "org", "access token", required=False),
        tp_id=tp_id,
    )


def parse_page(data: object, what: str) -> tuple[list[object], int | None, bool]:
    """An api2 list ``{count, next, previous, results}`` → (results, count, has_next)."""
    answer = _mapping(data, what)
    results = answer.get("results")
    if not isinstance(results, list):
        raise BadAnswerError(f"{what}: 'results' missing or not a list")
    count = _int(answer, "count", what, required=False)
    return results, count, bool(answer.get("next"))


def parse_printer(data: object) -> Printer:
    item = _mapping(data, "printer")
    return Printer(
        id=_str(item, "id", "printer"),
        name=_str(item, "name", "printer", required=False),
        location=_str(item, "location", "printer", required=False),
        tp_id=_int(item, "tp_id", "printer", required=False),
        status=_str(item, "status", "printer", required=False) or "Unknown",
        connector_id=_str(item, "connector_id", "printer", required=False),
        is_queue=item.get("is_queue") is True,
    )


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_user(data: object) -> UserInfo:
    item = _mapping(data, "user")
    return UserInfo(
        id=_str(item, "id", "user"),
        email=_str(item, "email", "user", required=False),
        first_name=_str(item, "first_name", "user", required=False),
        last_name=_str(item, "last_name", "user", required=False),
    )


def parse_release(data: object) -> str:
    """``{"jobid": "<spooler job id>"}`` → the spooler job id.

    ``{"code": N}`` instead (ezeep's failed print) raises :class:`PrintRefusedError`.
    """
    answer = _mapping(data, "release answer")
    code = error_code(answer)
    if code is not None and answer.get("jobid") is None:
        raise PrintRefusedError(f"ezeep refused to print the job (code {code})", code=code, status=200)
    return _str(answer, "jobid", "release answer")


def parse_status(data: object) -> JobStatus:
    answer = _mapping(data, "status answer")
    code = _int(answer, "jobstatus", "status answer")
    assert code is not None
    return JobStatus(
        state=_JOB_STATES.get(code, JobState.FAILED),
        code=code,
        text=_str(answer, "jobstatusstring", "status answer", required=False),
        pages_printed=_int(answer, "jobpagesprinted", "status answer", required=False) or 0,
        pages_total=_int(answer, "jobpagestotal", "status answer", required=False) or 0,
    )
