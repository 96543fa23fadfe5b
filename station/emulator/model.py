"""The emulator's values: org members, printers, fault switches, settings, and the seeded demo org."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

# Every seeded id derives from this namespace, so users and printers keep their ids across runs.
_NAMESPACE = uuid.UUID("6b1d6a52-63f4-4c0e-9d3a-5e0a1f2b7c11")

PRINTER_STATUSES = ("Online", "Offline")
ALL_CLIENTS = "*"
HOLD_MAX_S = 60.0  # the longest ``held_path`` holds a request: a failed test cannot hang the server


def stable_id(kind: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{key}"))


ORG_ID = stable_id("org", "demo")


@dataclass(frozen=True, slots=True)
class EmuUser:
    id: str
    email: str
    first_name: str
    last_name: str
    admin: bool = True  # an ezeep administrator (the account host's users list shows them everyone)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def as_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
        }


# The connector (print server, hub) the seeded printers hang off; a device bound to a printer
# becomes that printer's connector instead (see ``Org.connector_of``).
OFFICE_CONNECTOR = stable_id("connector", "office")
# Where the ``shared_tp_id`` twins hang off, and the virtual connector of the AnyPrinter queue.
BRANCH_CONNECTOR = stable_id("connector", "branch")
QUEUE_CONNECTOR = stable_id("connector", "anyprinter")


@dataclass(frozen=True, slots=True)
class EmuPrinter:
    id: str
    name: str
    location: str
    tp_id: int
    status: str
    is_queue: bool = False


@dataclass(frozen=True, slots=True)
class Faults:
    """Run-time fault switches. Counters (``error_5xx``, ``drop_after_rotation``) count down.

    A hostile or broken service: ``trickle_s`` sends every answer body (of the paths starting
    with ``trickle_path``; "" all) one byte at a time, this many seconds apart;
    ``huge_body_bytes`` answers every request with a body this large (no
    ``Content-Length``); ``endless_jobs`` makes every page of the job list full, with a next
    page for ever; ``ignore_user_filter`` lists every user's jobs whatever ``user=`` asked for;
    ``hide_job_owner`` leaves the owner field out of listed jobs; ``refuse_device_users``
    answers a device token's ``GET /v1/users/`` on the account host with 403; ``gzip_bomb_bytes`` answers
    every request with this many zero bytes gzipped twice (``Content-Encoding: gzip, gzip``), a
    few hundred bytes on the wire.

    What ezeep's own pages say (``shared/docs/ezeep-api.md``, "2026-12"), each on its own:
    ``revoke_no_content`` answers a revoke 204 (default 200; both without a body);
    ``refresh_token_clients`` and ``tp_id_claim_clients`` name the client ids (comma-separated,
    ``*`` every one, "" none) ezeep enabled refresh tokens and the ``tp_id`` claim for: a token
    answer to any other client carries no refresh token (and its refresh grant is answered
    ``unauthorized_client``), a device token no ``tp_id``; ``shared_tp_id`` lists before every
    printer a twin with the same ``tp_id`` on another connector (tp_id is unique per connector
    only); ``users_without_email`` makes api2's ``/printing/v1/users/`` list every member as
    ezeep's pages show them, ``{id, local_printing_enabled, ...}`` without e-mail or name, and
    ignore ``email``/``search``; ``print_error_code`` (ezeep's JS client: 804) refuses a release
    to a printer set to fail with ``{"code": N}`` instead of a spooler job that fails later;
    ``queue_printers`` lists an AnyPrinter queue (``is_queue``, on its own connector, with the
    first printer's tp_id) and gives every printer the ``is_queue`` field; ``more_printers``
    lists that many printers of other sites (other tp_ids, other connectors) before the real
    ones, as a large organisation's list does: the station's printer is on a later page.

    A slow network that still delivers: ``slow_done_s`` holds each request (of the paths
    starting with ``slow_path``; "" all) this many seconds and then carries it out, whether or
    not the client is still waiting. The body is read before the wait, so a client that gives
    up meanwhile does not stop it: a late release, delete or token rotation lands all the same,
    as it does behind a congested link or a queueing proxy. (``latency_s`` cannot show this:
    a request whose client left during the pause fails to read its body and does nothing.)
    ``held_path`` does the same for the paths starting with it ("" none), holding each request
    until the switch is set back to "" (at most :data:`HOLD_MAX_S`): the test, not a pause,
    picks the moment a late request lands.

    A network farther away than loopback: ``latency_s`` delays every answer; ``handshake_s``
    holds a connection's first request until this long after the connection was accepted, as
    the TCP and TLS handshakes of a new connection take round trips before a request can leave
    (a connection opened that long before its first request waits for nothing).
    """

    latency_s: float = 0.0
    handshake_s: float = 0.0
    error_5xx: int = 0
    retry_after_s: int = 2
    drop_after_rotation: int = 0
    reuse_detection: bool = False
    deny_pairing: bool = False
    offline: bool = False
    trickle_s: float = 0.0
    trickle_path: str = ""
    huge_body_bytes: int = 0
    endless_jobs: bool = False
    ignore_user_filter: bool = False
    hide_job_owner: bool = False
    refuse_device_users: bool = False
    gzip_bomb_bytes: int = 0
    slow_done_s: float = 0.0
    slow_path: str = ""
    held_path: str = ""
    revoke_no_content: bool = False
    refresh_token_clients: str = ALL_CLIENTS
    tp_id_claim_clients: str = ALL_CLIENTS
    shared_tp_id: bool = False
    users_without_email: bool = False
    print_error_code: int = 0
    queue_printers: bool = False
    more_printers: int = 0

    def enabled(self, clients: str, client_id: str | None) -> bool:
        """Whether ``client_id`` is in a client list (``refresh_token_clients``, ``tp_id_claim_clients``)."""
        names = {name.strip() for name in clients.split(",")}
        return ALL_CLIENTS in names or (client_id is not None and client_id in names)


@dataclass(frozen=True, slots=True)
class Settings:
    job_duration_s: float = 2.0
    code_lifetime_s: float = 600
    poll_interval_s: float = 5
    access_token_lifetime_s: int = 3600


@dataclass(frozen=True, slots=True)
class SeedJob:
    owner_email: str
    name: str
    pages: int
    age_s: float  # how long before start-up it was "printed to AnyPrinter"


def _user(first: str, last: str, *, admin: bool = True) -> EmuUser:
    email = f"{first}.{last}@example.com".lower()
    return EmuUser(stable_id("user", email), email, first, last, admin)


SEED_USERS = (
    _user("Ada", "Lovelace"),
    _user("Grace", "Hopper"),
    _user("Alan", "Turing"),
    _user("Katherine", "Johnson"),
    _user("Margaret", "Hamilton", admin=False),  # an ordinary member
)

SEED_PRINTERS = (
    EmuPrinter(stable_id("printer", "floor-2"), "Floor 2 MFP", "2nd floor, by the kitchen", 1001, "Online"),
    EmuPrinter(stable_id("printer", "floor-3"), "Floor 3 Colour", "3rd floor, room 3.14", 1002, "Online"),
)

_SEED_NAMES = (
    "Quarterly report.pdf",
    "Boarding pass.pdf",
    "Meeting notes.docx",
    "Invoice 2024-117.pdf",
    "Slides - kickoff.pptx",
    "Timesheet.xlsx",
    "Contract draft v3.pdf",
    "Menu.pdf",
    "Floor plan.png",
    "Expenses.pdf",
)


def seed_jobs() -> tuple[SeedJob, ...]:
    """Users 1-4 have 1-4 waiting jobs each; user 5 has none."""
    jobs: list[SeedJob] = []
    names = iter(_SEED_NAMES)
    for count, user in enumerate(SEED_USERS[:4], start=1):
        for k in range(count):
            jobs.append(
                SeedJob(user.email, next(names), pages=1 + (count * 3 + k * 5) % 12, age_s=600.0 * (k + 1))
            )
    return tuple(jobs)
