"""Every way talking to ezeep can fail, as types the core can act on.

::

    CloudError
    ├── OfflineError          network down, DNS, connect/read timeout: retry later
    │   ├── DeadlineError     the whole request took longer than its deadline (a trickling answer)
    │   └── ClosedError       the station is stopping: its connection to ezeep was closed
    ├── ServerError           5xx; ``retry_after`` seconds when the server said so
    ├── UnauthorisedError     401/403 on an API call: refresh once, then give up
    │   └── UsersRefusedError the users list is not for the device token: a technician signs in
    ├── NotFoundError         404: the job or printer is gone
    │   └── PrinterMatchError no printer, or more than one, is this station's: pin one
    ├── RefusedError          4xx with ezeep's own ``{"code": N}``: nothing was done
    │   └── PrintRefusedError a release answered so (the code goes on the screen)
    ├── BadAnswerError        malformed, truncated, huge or non-JSON answer
    ├── GrantError            the OAuth token endpoint answered an ``error`` code
    ├── TokenRejectedError    ``invalid_grant`` on refresh: the pair is dead, re-pair
    └── PairingError
        ├── PairingDeniedError    the admin pressed "deny"
        ├── PairingExpiredError   the code ran out before anyone approved it
        ├── PairingCancelledError the station stopped waiting (cancel event set)
        ├── PairingRefusedError   ezeep answered an ``error`` the station does not know (kept verbatim)
        └── PairingNotEnabledError ezeep has not enabled what the station needs for its client id

Library errors (httpx, json) are translated at the boundary and chained as ``__cause__``;
nothing else escapes the cloud client.
"""

from __future__ import annotations

from station.errors import StationError


class CloudError(StationError):
    """Base of every cloud failure."""


class OfflineError(CloudError):
    """ezeep could not be reached (no network, DNS failure, timeout)."""


class DeadlineError(OfflineError):
    """ezeep's answer did not arrive in full before the request's total deadline.

    Like any missing answer, the request may or may not have taken effect.
    """


class ClosedError(OfflineError):
    """The station closed its connection to ezeep (it is stopping): an expected end, not a fault.

    ``sent``: False when the request never left (the connection was closed before it); one cut
    short by the close may or may not have taken effect, like any missing answer.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class ServerError(CloudError):
    """ezeep answered with a server error; try again later."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class UnauthorisedError(CloudError):
    """The access token was not accepted for this call: ``status`` 401 (not valid: a refresh may
    help) or 403 (valid, but not allowed this call: a refresh does not help)."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class UsersRefusedError(UnauthorisedError):
    """ezeep does not let the device token read the users list; a signed-in admin's token may."""


class NotFoundError(CloudError):
    """The thing asked for does not exist (any more)."""


class PrinterMatchError(NotFoundError):
    """No printer, or more than one, is this station's; the message says what to pin."""


class RefusedError(CloudError):
    """ezeep refused a request with an error code of its own (``{"code": N}``): not carried out."""

    def __init__(self, message: str, *, code: int, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class PrintRefusedError(RefusedError):
    """ezeep refused to send a job to the printer, with its error code."""


class BadAnswerError(CloudError):
    """The answer could not be understood."""


class GrantError(CloudError):
    """The OAuth endpoint refused the request with an RFC 6749/8628 ``error`` code."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class TokenRejectedError(CloudError):
    """The refresh token was definitely rejected; only pairing again helps."""


class PairingError(CloudError):
    """Pairing did not complete."""


class PairingDeniedError(PairingError):
    """The person approving the pairing denied it."""


class PairingExpiredError(PairingError):
    """The pairing code expired before it was approved."""


class PairingCancelledError(PairingError):
    """Waiting for approval was cancelled by the station."""


class PairingRefusedError(PairingError):
    """ezeep refused the pairing with an ``error`` the station does not know; the message and
    ``code`` are that value as ezeep sent it."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class PairingNotEnabledError(PairingError):
    """ezeep has not enabled something the station needs for its client id (refresh tokens, the
    ``tp_id`` claim); the message names the client id and what to ask ezeep for."""
