"""The device token pair: where it is kept and how it stays fresh.

:class:`TokenStore` owns the one row of the ``tokens`` table. Every write is one SQLite
transaction (WAL, ``synchronous=FULL``), so a pulled plug leaves either the old pair or the new
one, never half of each. Refreshes from several processes on one database are serialised with
an ``flock`` on ``<database>.tokens.lock``; the holder re-reads the row first, so a process never
spends a refresh token another process already rotated.

:class:`TokenKeeper` hands out access tokens. ezeep rotates the refresh token on every use with
no grace window, so the keeper:

- refreshes single-flight: however many threads need a token, one request goes out and every
  caller gets its result;
- refreshes ahead of expiry (at 75 % of ``expires_in``), measured on the monotonic clock, and
  persists the new pair before anyone uses it;
- retries timeouts, 5xx and unreadable answers with the *same* refresh token, with capped,
  jittered exponential backoff that honours ``Retry-After``;
- gives up on the pair only on a definite ``invalid_grant``: it then blanks the tokens but keeps
  the hardware id and the bound ``tp_id``, and raises :class:`TokenRejectedError` so the station
  pairs again with the same hardware id.

A caller that must answer a person quickly asks with ``wait=False``: it sends at most one refresh
request with no pause, and rather than wait behind a refresh already under way (in this process
or another), it gets :class:`OfflineError` at once. Waiting callers that joined such a quick
refresh which failed go on with their own patient one.

Pairing again replaces the pair: :meth:`TokenKeeper.install` stores the new one, then revokes the
old refresh token at ezeep (documented: refresh tokens only; the old access token may live on
for up to an hour, and nothing here relies on it dying). A revoke that fails is logged and the
old token is forgotten all the same.

The monotonic time a pair was obtained is stored with the boot id: another process of the same
boot can trust it, a process after a reboot treats the pair as due for refresh at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from station.boot_id import read_boot_id
from station.cloud import contract
from station.cloud.errors import (
    BadAnswerError,
    ClosedError,
    CloudError,
    GrantError,
    OfflineError,
    ServerError,
    TokenRejectedError,
)
from station.cloud.http import CloudHttp
from station.cloud.models import DeviceBinding, TokenPair
from station.database import Database
from station.errors import StorageError

log = logging.getLogger(__name__)

Clock = Callable[[], float]
RefreshResult = Literal["ok", "failed", "rejected"]
REFRESH_RESULTS: tuple[RefreshResult, ...] = ("ok", "failed", "rejected")
BACKOFF_S = 1.0  # the keeper's first pause between refresh tries…
BACKOFF_CAP_S = 30.0  # …and its longest
Wait = Callable[[float], object]


@dataclass(frozen=True, slots=True)
class StoredTokens:
    """The ``tokens`` row: the pair (None once ezeep rejected it) and what pairing told us."""

    pair: TokenPair | None
    hardware_id: str
    tp_id: int | None
    printer_id: str
    printer_name: str
    obtained_wall: datetime | None  # wall clock; for people only, never for expiry decisions


def _stamp(wall: datetime, boot_id: str, mono: float) -> str:
    return f"{wall.isoformat(timespec='seconds')} boot={boot_id or '-'} mono={mono:.3f}"


def _unstamp(text: str) -> tuple[datetime | None, str, float | None]:
    parts = text.split()
    wall: datetime | None
    try:
        wall = datetime.fromisoformat(parts[0]) if parts else None
    except ValueError:
        wall = None
    fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    try:
        mono: float | None = float(fields.get("mono", ""))
    except ValueError:
        mono = None
    return wall, fields.get("boot", ""), mono


class TokenStore:
    """The ``tokens`` table (one row, ``id = 1``).

    Args:
        db: the station database (``station.database.open_database``).
        clock: the monotonic clock pairs are stamped with (must match the keeper's).
        boot_id: this boot's id; None reads it from the kernel ("" where it cannot: then no stored
            time is trusted).
    """

    def __init__(self, db: Database, *, clock: Clock = time.monotonic, boot_id: str | None = None):
        self._db = db
        self._clock = clock
        self._boot_id = read_boot_id() if boot_id is None else boot_id
        self._lock = threading.Lock()
        path = next((row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main"), "")
        self.lock_path = Path(path + ".tokens.lock") if path else None

    @contextlib.contextmanager
    def exclusive(self, *, wait: bool = True) -> Iterator[None]:
        """Hold the cross-process refresh lock (a no-op for an in-memory database).

        With ``wait=False`` a lock another process holds raises :class:`OfflineError` at once.
        """
        if self.lock_path is None:
            yield
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open the token lock {self.lock_path}: {exc}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OfflineError("another process is refreshing the token") from None
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def load(self) -> StoredTokens | None:
        with self._lock:
            try:
                cursor = self._db.execute("SELECT * FROM tokens WHERE id = 1")
                names = [column[0] for column in cursor.description]
                rows = [dict(zip(names, values, strict=True)) for values in cursor]
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read the token pair: {exc}") from exc
        if not rows:
            return None
        row = rows[0]
        wall, boot, mono = _unstamp(str(row.get("obtained_at") or ""))
        pair = None
        if row.get("access_token") and row.get("refresh_token"):
            trusted = bool(boot) and boot == self._boot_id and mono is not None and mono <= self._clock()
            pair = TokenPair(
                access_token=str(row["access_token"]),
                refresh_token=str(row["refresh_token"]),
                expires_in=int(row["expires_in"]),
                # After a reboot the age is unknown: treat the pair as already expired.
                obtained_at=mono if trusted and mono is not None else float("-inf"),
            )
        return StoredTokens(
            pair=pair,
            hardware_id=str(row.get("hardware_id") or ""),
            tp_id=row.get("tp_id"),
            printer_id=str(row.get("printer_id") or ""),
            printer_name=str(row.get("printer_name") or ""),
            obtained_wall=wall,
        )

    def save(self, pair: TokenPair, *, hardware_id: str | None = None, tp_id: int | None = None) -> None:
        """Store a new pair in one transaction. ``hardware_id``/``tp_id`` None keep the stored ones;
        a changed ``tp_id`` forgets the remembered printer."""
        now = datetime.now(UTC)
        values = {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires_in": pair.expires_in,
            "obtained_at": _stamp(now, self._boot_id, pair.obtained_at),
            "updated_at": now.isoformat(timespec="seconds"),
        }
        sets = ["access_token", "refresh_token", "expires_in", "obtained_at", "updated_at"]
        if hardware_id is not None:
            values["hardware_id"] = hardware_id
            sets.append("hardware_id")
        if tp_id is not None:
            values["tp_id"] = tp_id
            sets.append("tp_id")
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        update = ", ".join(f"{k} = excluded.{k}" for k in sets)
        forget_printer = (
            ", printer_id = CASE WHEN tokens.tp_id IS excluded.tp_id THEN tokens.printer_id END"
            ", printer_name = CASE WHEN tokens.tp_id IS excluded.tp_id THEN tokens.printer_name END"
            if tp_id is not None
            else ""
        )
        sql = (
            f"INSERT INTO tokens (id, {columns}) VALUES (1, {marks}) "  # noqa: S608 (names are ours)
            f"ON CONFLICT(id) DO UPDATE SET {update}{forget_printer}"
        )
        self._write(sql, values)

    def set_printer(self, printer_id: str, printer_name: str) -> None:
        """Remember the printer the station is bound to (shown by ``status``)."""
        self._write(
            "UPDATE tokens SET printer_id = :id, printer_name = :name WHERE id = 1",
            {"id": printer_id, "name": printer_name},
        )

    def reject(self) -> None:
        """ezeep rejected the pair: blank both tokens, keep hardware id, tp_id and printer."""
        self._write(
            "UPDATE tokens SET access_token = '', refresh_token = '', expires_in = 0 WHERE id = 1", {}
        )

    def clear(self) -> None:
        """Forget everything (unpair)."""
        self._write("DELETE FROM tokens WHERE id = 1", {})

    def _write(self, sql: str, values: dict[str, object]) -> None:
        with self._lock:
            conn = self._db.conn
            try:
                with conn:
                    conn.execute(sql, values)
            except sqlite3.Error as exc:
                raise StorageError(f"cannot store the token pair: {exc}") from exc


class _Flight:
    """One refresh in progress; followers wait for the leader's outcome.

    ``patient``: the leader tries ``max_attempts`` times with pauses, not just once.
    """

    def __init__(self, *, patient: bool) -> None:
        self.patient = patient
        self.done = threading.Event()
        self.pair: TokenPair | None = None
        self.error: BaseException | None = None

    def outcome(self, timeout_s: float) -> TokenPair:
        if not self.done.wait(timeout_s):
            raise OfflineError("a token refresh did not finish in time")
        if self.error is not None:
            raise self.error
        assert self.pair is not None
        return self.pair


class TokenKeeper:
    """Hands out the device's access token and keeps the pair alive.

    Args:
        store: where the pair lives.
        http: the station's :class:`CloudHttp`.
        client_id: the OAuth client id; None uses ``http.client_id``.
        clock: monotonic clock (tests pass a fake one).
        wait: how to pause between retries; None waits on the keeper's stop event, so
            :meth:`close` ends a backoff at once.
        refresh_at: fraction of ``expires_in`` after which a refresh is due.
        max_attempts: refresh requests per refresh before giving up for now.
        backoff_s, backoff_cap_s: first retry pause and the cap of every pause.
        rng: jitter source.
        on_refresh: told how each refresh at ezeep ended (after its retries): ``ok``,
            ``failed`` (no answer, or a bad one) or ``rejected`` (pair again); for the metrics.
            A refresh cut by a stop (:meth:`close`, or the connection closed) is not told.

    Example::

        keeper = TokenKeeper(TokenStore(db), http)
        token = keeper.access_token()  # raises TokenRejectedError when pairing is needed
    """

    def __init__(
        self,
        store: TokenStore,
        http: CloudHttp,
        *,
        client_id: str | None = None,
        clock: Clock = time.monotonic,
        wait: Wait | None = None,
        refresh_at: float = 0.75,
        max_attempts: int = 5,
        backoff_s: float = BACKOFF_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        rng: random.Random | None = None,
        on_refresh: Callable[[RefreshResult], None] | None = None,
    ) -> None:
        self._store = store
        self._http = http
        self._client_id = client_id
        self._clock = clock
        self._stop = threading.Event()
        self._wait: Wait = wait or self._stop.wait
        self._refresh_at = refresh_at
        self._max_attempts = max(1, max_attempts)
        self._backoff_s = backoff_s
        self._backoff_cap_s = backoff_cap_s
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._on_refresh = on_refresh or (lambda result: None)
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        self._record: StoredTokens | None = store.load()
        self._binding_cache: tuple[str, DeviceBinding | None] | None = None
        self._unsaved = False  # the pair in memory could not be stored (full disk)

    # --- what the station asks --------------------------------------------------------------
    @property
    def paired(self) -> bool:
        with self._lock:
            return self._record is not None and self._record.pair is not None

    @property
    def binding(self) -> DeviceBinding | None:
        """What the current access token says (None when not paired or not a JWT)."""
        with self._lock:
            pair = self._record.pair if self._record else None
        return self._binding_of(pair.access_token) if pair else None

    @property
    def last_tp_id(self) -> int | None:
        """The tp_id the station was last bound to, kept even after ezeep rejected the pair."""
        with self._lock:
            return self._record.tp_id if self._record else None

    @property
    def record(self) -> StoredTokens | None:
        with self._lock:
            return self._record

    def expires_in_s(self) -> float | None:
        """Seconds the current access token has left on this station's clock (None: not paired)."""
        with self._lock:
            pair = self._record.pair if self._record else None
        return None if pair is None else pair.obtained_at + pair.expires_in - self._clock()

    def install(self, pair: TokenPair, *, hardware_id: str) -> DeviceBinding | None:
        """Store a pair fresh from pairing (before anyone uses it) and return its binding.

        The refresh token of a pair it replaces is then revoked at ezeep; if that fails (no
        network), the failure is logged and the old token is forgotten anyway.
        """
        binding = self._binding_of(pair.access_token)
        tp_id = binding.tp_id if binding else None
        previous = self.last_tp_id
        with self._store.exclusive():  # no refresh may rotate the old pair while it is replaced
            stored = self._store.load()
            with self._lock:
                kept = self._record.pair if self._record else None
            old = {p.refresh_token for p in (stored.pair if stored else None, kept) if p is not None}
            self._persist(pair, hardware_id=hardware_id, tp_id=tp_id)
        for refresh_token in old - {pair.refresh_token}:
            if _revoked(self._revoke, refresh_token):
                log.info("revoked the refresh token of the pairing this one replaces")
        if previous is not None and tp_id is not None:
            log.info(
                "paired again: bound to tp_id %s (%s)", tp_id, "same" if tp_id == previous else "CHANGED"
            )
        return binding

    def access_token(self, *, wait: bool = True) -> str:
        """A usable access token, refreshing first when one is due.

        ``wait=False``: at most one refresh request, no pauses, and no waiting behind a refresh
        already under way (:class:`OfflineError` instead when the token has run out).

        Raises TokenRejectedError (pair again), or OfflineError/ServerError/BadAnswerError when
        the token has run out and ezeep cannot be reached.
        """
        pair = self._pair()
        now = self._clock()
        if now < self._due_at(pair):
            return pair.access_token
        usable = now < self._expires_at(pair)
        try:
            fresh = self._refresh(
                pair, attempts=self._attempts(wait and not usable), join=not usable, wait=wait
            )
        except (OfflineError, ServerError, BadAnswerError, StorageError) as exc:
            if not usable:
                raise
            log.warning("early token refresh failed (%s); the current token is still valid", exc)
            return pair.access_token
        return (fresh or pair).access_token

    def refresh_if_due(self, *, wait: bool = True) -> bool:
        """For an idle timer: refresh when due. True if a refresh happened (or was joined).

        ``wait=False``: one request, no pauses; a refresh already under way is left to finish
        (False) while the token is still usable, and raises :class:`OfflineError` once it is not.
        """
        with self._lock:
            pair = self._record.pair if self._record else None
        now = self._clock()
        if pair is None or now < self._due_at(pair):
            return False
        join = wait or now >= self._expires_at(pair)
        return self._refresh(pair, attempts=self._attempts(wait), join=join, wait=wait) is not None

    def renew(self, rejected_access_token: str, *, wait: bool = True) -> str:
        """An API call got 401 with this token: refresh (once for all callers) and return the new one.

        ``wait=False`` as for :meth:`access_token`.
        """
        pair = self._pair()
        if pair.access_token != rejected_access_token:
            return pair.access_token
        fresh = self._refresh(pair, attempts=self._attempts(wait), join=True, wait=wait)
        assert fresh is not None
        return fresh.access_token

    def forget(self, revoke: Callable[[str], None] | None = None) -> bool:
        """Unpair: revoke the refresh token if given a way to, then delete the row.

        Returns whether the revocation reached ezeep (the row is deleted either way).
        """
        with self._store.exclusive():
            record = self._store.load()
            revoked = False
            if revoke is not None and record is not None and record.pair is not None:
                revoked = _revoked(revoke, record.pair.refresh_token)
            self._store.clear()
        with self._lock:
            self._record = None
        return revoked

    def close(self) -> None:
        """Stop: a refresh waiting out a backoff gives up at once."""
        self._stop.set()

    # --- inside --------------------------------------------------------------------------------
    def _revoke(self, refresh_token: str) -> None:
        self._http.oauth(contract.REVOKE_PATH, contract.revoke_form(refresh_token), client_id=self._client_id)

    def _pair(self) -> TokenPair:
        with self._lock:
            pair = self._record.pair if self._record else None
        if pair is None:
            raise TokenRejectedError("the station is not paired")
        return pair

    def _attempts(self, patient: bool) -> int:
        return self._max_attempts if patient else 1

    def _due_at(self, pair: TokenPair) -> float:
        return pair.obtained_at + pair.expires_in * self._refresh_at

    def _expires_at(self, pair: TokenPair) -> float:
        return pair.obtained_at + pair.expires_in - min(30.0, pair.expires_in * 0.1)

    def _binding_of(self, access_token: str) -> DeviceBinding | None:
        cached = self._binding_cache
        if cached is not None and cached[0] == access_token:
            return cached[1]
        try:
            claims = contract.jwt_claims(access_token)
            binding: DeviceBinding | None = contract.device_binding(claims)
            log.debug("access token claims: %s", ", ".join(sorted(claims)))
        except BadAnswerError as exc:
            log.warning("cannot read the access token's claims: %s", exc)
            binding = None
        self._binding_cache = (access_token, binding)
        return binding

    def _refresh(self, stale: TokenPair, *, attempts: int, join: bool, wait: bool) -> TokenPair | None:
        """Single flight: the first caller refreshes, the others wait for its outcome (if ``join``).

        A caller that may not ``wait`` and finds a refresh under way gets :class:`OfflineError`
        (if ``join``). A waiting caller whose quick (one-try) flight failed leads a patient one.
        """
        quick_failures = 0
        while True:  # at most twice: after a quick flight failed, once more
            with self._lock:
                current = self._record.pair if self._record else None
                if current is not None and current.access_token != stale.access_token:
                    return current  # someone refreshed while this caller was deciding
                flight = self._flight
                leader = flight is None
                if flight is None:
                    flight = self._flight = _Flight(patient=attempts > 1)
            if leader:
                return self._lead(flight, stale, attempts, wait)
            if not join:
                return None
            if not wait:
                raise OfflineError("a token refresh is already under way")
            try:
                return flight.outcome(self._flight_timeout())
            except (OfflineError, ServerError, BadAnswerError, StorageError):
                quick_failures += 1
                if flight.patient or quick_failures > 1:
                    raise

    def _lead(self, flight: _Flight, stale: TokenPair, attempts: int, wait: bool) -> TokenPair:
        try:
            flight.pair = self._refresh_now(stale, attempts, wait)
            return flight.pair
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flight = None
            flight.done.set()

    def _flight_timeout(self) -> float:
        # Generous bound on a leader's loop: every attempt's request plus every pause.
        return self._max_attempts * (self._backoff_cap_s + 130.0)

    def _refresh_now(self, stale: TokenPair, attempts: int, wait: bool) -> TokenPair:
        with self._store.exclusive(wait=wait):
            stored = self._store.load()
            if (
                stored is not None
                and stored.pair is not None
                and stored.pair.refresh_token != stale.refresh_token
                and not self._unsaved
            ):
                # Another process rotated the pair: spending our copy would be a reuse.
                with self._lock:
                    self._record = stored
                log.info("adopted a token pair refreshed by another process")
                return stored.pair
            if (stored is None or stored.pair is None) and not self._unsaved:
                with self._lock:
                    self._record = stored
                raise TokenRejectedError("the token pair was removed or rejected meanwhile")
            try:
                fresh = self._rotate(stale.refresh_token, attempts)
            except TokenRejectedError:
                self._on_refresh("rejected")
                raise
            except CloudError as exc:
                # A refresh cut by a stop (ClosedError; or the stop ended its retries) did not
                # fail at ezeep: the station stopped. Counted as failed, a restart that lands in
                # a refresh would look like ezeep refusing it (alert TokenRefreshFailing).
                if not (isinstance(exc, ClosedError) or self._stop.is_set()):
                    self._on_refresh("failed")
                raise
            self._on_refresh("ok")
            return fresh

    def _rotate(self, refresh_token: str, attempts: int) -> TokenPair:
        last: CloudError | None = None
        for attempt in range(attempts):
            if attempt:
                retry_after = last.retry_after if isinstance(last, ServerError) else None
                if self._stop.is_set():
                    break
                self._wait(self._pause(attempt, retry_after))
                if self._stop.is_set():
                    break
            try:
                answer = self._http.oauth(
                    contract.TOKEN_PATH, contract.refresh_form(refresh_token), client_id=self._client_id
                )
                access, refresh, expires_in = contract.parse_token(answer)
            except GrantError as exc:
                if exc.code == contract.ERR_INVALID_GRANT:
                    self._rejected()
                    raise TokenRejectedError("ezeep rejected the refresh token; pair again") from exc
                raise
            except (OfflineError, ServerError, BadAnswerError) as exc:
                # The server may or may not have rotated: retrying with the same token is free if
                # it did not, and a definite invalid_grant tells us if it did.
                log.info("token refresh attempt %d/%d failed: %s", attempt + 1, attempts, exc)
                last = exc
                continue
            # RFC 6749 §6: a refresh answer without a refresh token leaves the old one valid.
            pair = TokenPair(access, refresh or refresh_token, expires_in, obtained_at=self._clock())
            self._persist(pair)
            binding = self._binding_of(access)
            log.info(
                "access token refreshed (valid %d s, tp_id %s)",
                expires_in,
                binding.tp_id if binding else None,
            )
            return pair
        raise last or OfflineError("token refresh stopped")

    def _pause(self, attempt: int, retry_after: float | None) -> float:
        pause = min(self._backoff_cap_s, self._backoff_s * 2.0 ** (attempt - 1))
        pause *= self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            pause = max(pause, retry_after)
        return min(pause, self._backoff_cap_s)

    def _persist(self, pair: TokenPair, *, hardware_id: str | None = None, tp_id: int | None = None) -> None:
        try:
            self._store.save(pair, hardware_id=hardware_id, tp_id=tp_id)
            record = self._reloaded(pair)
        except StorageError as exc:
            # The old refresh token is dead already: keep the new pair in memory rather than lose it.
            log.error("the new token pair could not be stored (%s); keeping it in memory", exc)
            with self._lock:
                old = self._record
                self._record = StoredTokens(
                    pair,
                    hardware_id or (old.hardware_id if old else ""),
                    tp_id if tp_id is not None else (old.tp_id if old else None),
                    old.printer_id if old else "",
                    old.printer_name if old else "",
                    None,
                )
                self._unsaved = True
            return
        with self._lock:
            self._record = record
            self._unsaved = False

    def _reloaded(self, pair: TokenPair) -> StoredTokens:
        # The row as stored, with the pair as this process knows it (its clock reading is exact).
        record = self._store.load()
        if record is None:
            raise StorageError("the token pair vanished right after it was stored")
        return dataclasses.replace(record, pair=pair)

    def _rejected(self) -> None:
        try:
            self._store.reject()
        finally:
            with self._lock:
                self._record = self._store.load()


def _revoked(revoke: Callable[[str], None], refresh_token: str) -> bool:
    """Revoke a refresh token at ezeep; False (logged) when ezeep could not be told."""
    try:
        revoke(refresh_token)
    except CloudError as exc:
        log.warning("could not revoke a refresh token at ezeep (%s); it is forgotten here", exc)
        return False
    return True
