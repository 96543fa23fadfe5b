"""Every shape the station assumes about ezeep Blue, in one place.

Paths, form fields, JSON field names and the few numbers ezeep does not send (poll interval,
code lifetime) are named here, and so are the functions that turn an answer into a model. The
ones ``shared/docs/ezeep-api.md`` marks *assumed* carry an ``# assumed`` comment: correct them
here, in one edit, once they are checked against the live service. The ones a station may have
to adjust before a new image exists can also be set in ``[cloud]`` (see :class:`OwnerRule`).

The assumptions, in one list:

- the RFC 8628 error codes of the token endpoint, the poll interval and the code lifetime;
- the ``tp_id`` claim in a device token, and the users list on the REST host;
- that a device token may list a card holder's jobs with ``user=<user id>`` and may release and
  delete them; the station does not rely on the filter: every job whose owner is not the
  badge's user (or that names no owner) is refused (:class:`OwnerRule`, configurable);
- every job field but ``id``: ``name``, ``created``, ``pages``, ``size``, and the owner field;
- the release body (``jobid``, ``printerid``) and the delete path;
- that a released job leaves the INQUEUE list soon: it may stay listed for a while after the
  release, but not longer than the release engine's quarantine window (``[cloud] in_doubt_s``);
- that a request may land after its client gave up (a congested link, a queueing proxy): a
  request without an answer is in doubt until the job list shows what became of it or that
  window has passed, and a refresh whose answer was lost may have rotated the refresh token;
- that a 429 or 503 is answered before anything is done (a rate limit, maintenance, a load
  balancer without a server), so a release or delete answered so was not carried out; any
  other 5xx may come after the work was done;
- that revoke (documented: 2xx without content, refresh tokens only) kills the refresh tokens
  of that one pairing and no other: pairing again with the same hardware id revokes the
  replaced pair's refresh token and expects the new pair to live on. Nothing relies on the
  access tokens dying with it (the docs say an access token may live on for up to an hour).

Parsers take already-decoded JSON (``object``) and either return a model or raise
:class:`~station.cloud.errors.BadAnswerError`; they never raise anything else.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from urllib.parse import quote

from station.cloud.errors import BadAnswerError, NotFoundError
from station.cloud.models import DeviceBinding, Job, JobState, JobStatus, Printer, UserInfo

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
USERS_PATH: Final = "/printing/v1/users/"  # assumed (emulator-api.md)
PAGE_SIZE: Final = 100  # ezeep's documented maximum


def job_path(job_id: str) -> str:
    return f"{JOBS_PATH}{_path_segment(job_id)}/"  # assumed (DELETE)


def waiting_jobs_query(user_id: str) -> dict[str, str]:
    # `user=` with a device token is assumed (the other filters are documented), so the station
    # does not trust it: OwnerRule checks every job the list returns.
    return {"status": "INQUEUE", "o": "-created", "user": user_id}


OwnerMatch = Literal["exact", "casefold"]
OWNER_FIELD: Final = "owner_id"  # assumed: ezeep's docs show no job field but `count`
OWNER_MATCH: Final[OwnerMatch] = "exact"  # assumed: an opaque user id, compared as it is


@dataclass(frozen=True, slots=True)
class OwnerRule:
    """Which job field names its owner and how it is compared with the badge's user id.

    ``field``: the JSON field of a job that names its owner (``cloud.job_owner_field``).
    ``match``: ``"exact"`` compares the strings as they are; ``"casefold"`` ignores case and
    surrounding blanks, for a service that names owners by e-mail address or spells ids in
    varying case (``cloud.job_owner_match``). An empty owner never matches.

    Example::

        rule = OwnerRule("owner_id", "casefold")
        assert rule.owns(" Ada@Example.com", "ada@example.com")
    """

    field: str = OWNER_FIELD
    match: OwnerMatch = OWNER_MATCH

    def owns(self, owner: str, user_id: str) -> bool:
        if self.match == "casefold":
            owner, user_id = owner.strip().casefold(), user_id.strip().casefold()
        return bool(owner) and owner == user_id


# --- Print API (print host) -----------------------------------------------------------------
PRINT_PATH: Final = "/sfapi/Print/"
STATUS_PATH: Final = "/sfapi/Status/"


def release_body(job_id: str, printer_id: str) -> dict[str, str]:
    return {"jobid": job_id, "printerid": printer_id}  # assumed field names


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
    """A token answer → (access token, refresh token, expires_in seconds)."""
    answer = _mapping(data, "token answer")
    access = _str(answer, "access_token", "token answer")
    refresh = _str(answer, "refresh_token", "token answer")
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
    )


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_job(data: object, owner_field: str = OWNER_FIELD) -> Job:
    """A job; ``owner_id`` is the value of ``owner_field`` ("" when the job names no owner)."""
    # Every field name but `id` is assumed: ezeep's docs show only `count`.
    item = _mapping(data, "job")
    size = _int(item, "size", "job", required=False)
    return Job(
        id=_str(item, "id", "job"),
        name=_str(item, "name", "job", required=False),
        created=_datetime(item.get("created")),
        pages=_int(item, "pages", "job", required=False),
        owner_id=_str(item, owner_field, "job", required=False),
        size=size,
    )


def parse_user(data: object) -> UserInfo:
    item = _mapping(data, "user")
    return UserInfo(
        id=_str(item, "id", "user"),
        email=_str(item, "email", "user", required=False),
        first_name=_str(item, "first_name", "user", required=False),
        last_name=_str(item, "last_name", "user", required=False),
    )


def parse_release(data: object) -> str:
    """``{"jobid": "<spooler job id>"}`` → the spooler job id."""
    return _str(_mapping(data, "release answer"), "jobid", "release answer")


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
