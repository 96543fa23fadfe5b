"""Pairing: getting a token pair by showing a code that someone approves on another device.

ezeep's pairing-code grant is RFC 8628 in spirit: ``POST /oauth/pair/`` returns a code and an
approval URL (perhaps also a short address to type: see :func:`contract.parse_pairing`), then the
station polls the token endpoint until the code is approved, denied or runs out. ezeep sends no
interval and no lifetime, so the contract's defaults apply (5 s, 10 min; both constructor options
here). ``slow_down`` adds five seconds to the interval for good.

A device-mode pairing always sends the same ``hardware_id``, so ezeep binds the new pair to the
same device principal and the same printer (``tp_id``) as before a reset or a lost refresh token.
Both need settings ezeep makes per client id: a device pair without a refresh token, or whose
token has no ``tp_id`` claim, stops the pairing with :class:`PairingNotEnabledError` naming the
client id and what to ask ezeep to enable (its refresh token is revoked first). An ``error``
the station does not know ends it in :class:`PairingRefusedError`, with the value as ezeep sent it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from station.cloud import contract
from station.cloud.errors import (
    BadAnswerError,
    CloudError,
    GrantError,
    OfflineError,
    PairingCancelledError,
    PairingDeniedError,
    PairingExpiredError,
    PairingNotEnabledError,
    PairingRefusedError,
    ServerError,
)
from station.cloud.http import CloudHttp
from station.cloud.models import PairingCode, TokenPair

log = logging.getLogger(__name__)

Mode = Literal["device", "user"]


class Pairer:
    """Runs the pairing-code grant for one client id and hardware id.

    Args:
        http: the station's :class:`CloudHttp`.
        client_id: the OAuth client id.
        hardware_id: the station's stable GUID (sent in device mode only).
        interval_s: the first poll interval (ezeep sends none).
        slow_down_step_s: added to the interval on every ``slow_down``.
        code_lifetime_s: how long a code is assumed to live (ezeep sends none).
        max_codes: how many codes one :meth:`wait` may go through before giving up.
        clock: monotonic clock.

    Example::

        pairer = Pairer(http, "release-station-demo", hardware_id)
        code = pairer.start()
        show(code.code, code.short_url, qr=code.auth_url)
        pair = pairer.wait(code, cancel_event, on_new_code=show_code)
    """

    def __init__(
        self,
        http: CloudHttp,
        client_id: str,
        hardware_id: str,
        *,
        interval_s: float = contract.POLL_INTERVAL_S,
        slow_down_step_s: float = contract.SLOW_DOWN_STEP_S,
        code_lifetime_s: float = contract.CODE_LIFETIME_S,
        max_codes: int = 6,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0 or code_lifetime_s <= 0:
            raise ValueError("interval_s and code_lifetime_s must be positive")
        self._http = http
        self._client_id = client_id
        self.hardware_id = hardware_id
        self._interval_s = interval_s
        self._step_s = slow_down_step_s
        self._lifetime_s = code_lifetime_s
        self._max_codes = max(1, max_codes)
        self._clock = clock

    def start(self, mode: Mode = "device") -> PairingCode:
        """Ask for a pairing code to show (and its approval URL)."""
        answer = self._http.oauth(
            contract.PAIR_PATH, contract.pair_form(mode, self.hardware_id), client_id=self._client_id
        )
        code, url, short_url = contract.parse_pairing(answer)
        log.info("pairing started in %s mode", mode)
        expires_at = self._clock() + self._lifetime_s
        return PairingCode(code=code, auth_url=url, expires_at=expires_at, mode=mode, short_url=short_url)

    def wait(
        self,
        code: PairingCode,
        cancel: threading.Event,
        on_new_code: Callable[[PairingCode], None] | None = None,
    ) -> TokenPair:
        """Poll until approved and return the pair.

        An expired code is replaced by a new one (``on_new_code`` is called with it, so the screen
        can show it) up to ``max_codes`` times. Raises PairingDeniedError, PairingExpiredError
        (out of codes), PairingCancelledError (``cancel`` was set; noticed at once while waiting),
        PairingRefusedError for an ``error`` the station does not know, PairingNotEnabledError
        for a device pair ezeep gave no refresh token or ``tp_id`` claim, and
        OfflineError/BadAnswerError only if starting a new code fails.
        """
        interval = self._interval_s
        codes = 1
        while True:
            if cancel.wait(max(0.0, min(interval, code.expires_at - self._clock()))):
                raise PairingCancelledError("pairing was cancelled")
            outcome = "expired" if self._clock() >= code.expires_at else self._poll(code, cancel)
            if isinstance(outcome, TokenPair):
                log.info("pairing approved")
                return outcome
            if outcome == "slow_down":
                interval += self._step_s
                log.info("ezeep asked to poll more slowly: every %.0f s now", interval)
            if outcome != "expired":
                continue
            if codes >= self._max_codes:
                raise PairingExpiredError("no one approved the pairing code in time")
            codes += 1
            log.info("the pairing code expired; asking for a new one")
            code = self.start(code.mode)  # the slowed-down interval is kept
            if on_new_code is not None:
                on_new_code(code)

    def _poll(self, code: PairingCode, cancel: threading.Event) -> TokenPair | str:
        """One poll: the pair, or "pending", "slow_down" or "expired"; raises on a refusal."""
        try:
            answer = self._http.oauth(
                contract.TOKEN_PATH, contract.poll_form(code.code), client_id=self._client_id
            )
            access, refresh, expires_in = contract.parse_token(answer)
        except GrantError as exc:
            if exc.code in (contract.ERR_PENDING, contract.ERR_SLOW_DOWN):
                return "pending" if exc.code == contract.ERR_PENDING else "slow_down"
            if exc.code == contract.ERR_DENIED:
                raise PairingDeniedError("the pairing was denied") from exc
            if exc.code in (contract.ERR_EXPIRED, contract.ERR_INVALID_GRANT):
                return "expired"
            raise PairingRefusedError(exc.code, code=exc.code) from exc  # verbatim, for the screen
        except ServerError as exc:
            # Back off as asked; the code's lifetime still bounds the whole wait.
            if exc.retry_after and cancel.wait(min(exc.retry_after, 60.0)):
                raise PairingCancelledError("pairing was cancelled") from exc
            return "pending"
        except (OfflineError, BadAnswerError):
            return "pending"
        pair = TokenPair(access, refresh, expires_in, obtained_at=self._clock())
        if code.mode == "device":
            self._check_enabled(pair)
        return pair

    def _check_enabled(self, pair: TokenPair) -> None:
        """Stop a device pairing that cannot last: no refresh token, or no ``tp_id`` claim."""
        missing = []
        if not pair.refresh_token:
            missing.append("refresh tokens")
        try:
            tp_id = contract.device_binding(contract.jwt_claims(pair.access_token)).tp_id
        except BadAnswerError:
            tp_id = None
        if tp_id is None:
            missing.append("the tp_id claim (Claim tp_id enabled)")
        if not missing:
            return
        if pair.refresh_token:  # no use without the claim: let ezeep forget the pairing
            try:
                self._http.oauth(
                    contract.REVOKE_PATH, contract.revoke_form(pair.refresh_token), client_id=self._client_id
                )
            except CloudError as exc:
                log.warning("could not revoke the unusable pairing's refresh token: %s", exc)
        what = " and ".join(missing)
        raise PairingNotEnabledError(
            f"{what} for the client id {self._client_id!r}: ask ezeep to enable {what} for it"
            " (a release station: pairing code grant, public client)"
        )
