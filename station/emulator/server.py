"""``Emulator``: the ezeep emulator's Python API, serving HTTP from uvicorn in a background thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa

from station.emulator.asgi import build_app
from station.emulator.auth import AuthServer
from station.emulator.connection import counting_protocol
from station.emulator.counters import Counters
from station.emulator.faults import FaultSwitches, profile_faults
from station.emulator.model import SEED_PRINTERS, SEED_USERS, EmuPrinter, EmuUser, Faults, Settings, seed_jobs
from station.emulator.org import Org
from station.emulator.services import Services
from station.emulator.signing import Signer, default_signing_key

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 10.0


class _Server(uvicorn.Server):
    """A uvicorn server that says when it is listening (or has given up trying)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()

    def run_until_stopped(self, socks: list[socket.socket]) -> None:
        try:
            self.run(sockets=socks)
        finally:
            self.ready.set()
            for sock in socks:
                sock.close()


class Emulator:
    """An ezeep Blue stand-in on one port (loopback unless ``host`` says otherwise).

    Implements Part 1 of docs/ezeep-api.md; the admin API and fault switches are described
    in this package's docstring and in :class:`~station.emulator.model.Faults`.

    ``profile``: the fault switches it starts with (:func:`~station.emulator.faults.profile_faults`):
    ``"default"`` answers as the working contract assumes, ``"strict"`` as ezeep's own pages
    describe, with refresh tokens and the ``tp_id`` claim enabled for ``client_ids`` only.

    ``print_port``: serve the print host on a port of its own too (0: any free one), as ezeep's
    print host is another host than its REST host: its connections are then the station's
    connections to another origin (:attr:`print_url`); None: one port for everything.

    ``clock`` (wall-clock seconds) drives code expiry, poll pacing, token expiry and job
    progress, so a test can step time instead of sleeping. ``signing_key`` defaults to one
    RSA key per process.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        job_duration_s: float = 2.0,
        code_lifetime_s: float = 600,
        poll_interval_s: float = 5,
        access_token_lifetime_s: int = 3600,
        seed: bool = True,
        clock: Callable[[], float] = time.time,
        signing_key: rsa.RSAPrivateKey | None = None,
        profile: str = "default",
        client_ids: Sequence[str] = (),
        print_port: int | None = None,
    ) -> None:
        faults = FaultSwitches(**profile_faults(profile, client_ids=client_ids))
        self.profile = profile
        self._host, self._port, self._print_port = host, port, print_port
        self.settings = Settings(job_duration_s, code_lifetime_s, poll_interval_s, access_token_lifetime_s)
        org = Org(
            SEED_USERS if seed else (),
            SEED_PRINTERS if seed else (),
            seed_jobs() if seed else (),
            job_duration_s=job_duration_s,
            clock=clock,
        )
        signer = Signer(signing_key or default_signing_key())
        auth = AuthServer(org, signer, faults, self.settings, clock)
        self._services = Services(org, auth, faults, Counters(), signer)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._print_url: str | None = None

    # -- running -------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        ports = [self._port] if self._print_port is None else [self._port, self._print_port]
        socks = [socket.create_server((self._host, port), family=family) for port in ports]
        for sock in socks:
            # create_server's socket has proto 0, so asyncio skips TCP_NODELAY on accepted sockets
            # (they inherit it from here); without it each keep-alive answer waits ~40 ms for an ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        config = uvicorn.Config(
            build_app(self._services),
            http=counting_protocol(self._services.counters),
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = _Server(config)
        port, *print_port = [sock.getsockname()[1] for sock in socks]
        thread = threading.Thread(
            target=server.run_until_stopped, args=(socks,), name=f"ezeep-emulator-{port}", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        if not server.ready.wait(_START_TIMEOUT_S) or not server.started:
            self.stop()
            raise RuntimeError(f"the ezeep emulator did not start on {self._host}:{port}")
        host = f"[{self._host}]" if family == socket.AF_INET6 else self._host
        self._url = f"http://{host}:{port}"
        self._print_url = f"http://{host}:{print_port[0]}" if print_port else self._url
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(_STOP_TIMEOUT_S)
        if thread.is_alive():
            log.warning("the ezeep emulator at %s did not stop within %.0f s", self._url, _STOP_TIMEOUT_S)
        self._server = self._thread = None
        self._url = self._print_url = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    @property
    def print_url(self) -> str:
        """The print host's base URL: its own port (``print_port``), else :attr:`url`."""
        if self._print_url is None:
            raise RuntimeError("the emulator is not running")
        return self._print_url

    # -- the organisation ----------------------------------------------------------------

    @property
    def users(self) -> list[EmuUser]:
        return self._services.org.users

    @property
    def printers(self) -> list[EmuPrinter]:
        return self._services.org.printers

    def set_printer_status(self, printer_id: str, status: str) -> None:
        self._services.org.set_printer_status(printer_id, status)

    def set_printer_fails(self, printer_id: str, fails: bool = True) -> None:
        self._services.org.set_printer_fails(printer_id, fails)

    def add_job(self, email: str, name: str = "Report.pdf", pages: int = 1) -> str:
        return self._services.org.add_job(email, name, pages)

    def delete_job(self, job_id: str) -> None:
        """The job is deleted elsewhere (ezeep's web app, another station): it leaves the queue."""
        self._services.org.delete_job(job_id)

    def waiting_jobs(self, email: str) -> list[dict[str, Any]]:
        return self._services.org.waiting_jobs(email)

    def release_counts(self) -> dict[str, int]:
        return self._services.org.release_counts()

    def stats(self) -> dict[str, int]:
        return self._services.counters.snapshot()

    # -- faults --------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._services.faults.current

    def set_faults(self, **changes: Any) -> Faults:
        return self._services.faults.set(**changes)

    # -- pairing -------------------------------------------------------------------------

    @property
    def auto_approve_device(self) -> str | None:
        return self._services.auth.auto_approve_device

    @auto_approve_device.setter
    def auto_approve_device(self, printer_id: str | None) -> None:
        self._services.auth.set_auto_approve_device(printer_id)

    @property
    def auto_approve_user(self) -> str | None:
        return self._services.auth.auto_approve_user

    @auto_approve_user.setter
    def auto_approve_user(self, email: str | None) -> None:
        if email is not None:
            self._services.org.user_by_email(email)
        self._services.auth.auto_approve_user = email

    def approve(self, code: str, email: str, printer_id: str | None = None) -> None:
        self._services.auth.approve(code, email=email, printer_id=printer_id)

    def deny(self, code: str) -> None:
        self._services.auth.deny(code)

    def binding(self, hardware_id: str) -> int | None:
        return self._services.auth.binding(hardware_id)
