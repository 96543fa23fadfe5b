"""Every way talking to ezeep can fail, as types the core can act on.

::

    CloudError
    ├── OfflineError          network down, DNS, connect/read timeout: retry later
    │   ├── DeadlineError     the whole request took longer than its deadline (a trickling answer)
    │   └── ClosedError       the station is stopping: its connection to ezeep was closed
    ├── ServerError           5xx; ``retry_after`` seconds when the server said so
    ├── UnauthorisedError     401/403 on an API call: refresh once, then give up
    ├── NotFoundError         404: the job or printer is gone
    ├── BadAnswerError        malformed, truncated, huge or non-JSON answer
    ├── GrantError            the OAuth token endpoint answered an ``error`` code
    ├── TokenRejectedError    ``invalid_grant`` on refresh: the pair is dead, re-pair
    └── PairingError
        ├── PairingDeniedError    the admin pressed "deny"
        ├── PairingExpiredError   the code ran out before anyone approved it
        └── PairingCancelledError the station stopped waiting (cancel event set)

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
    """The access token was not accepted for this call."""


class NotFoundError(CloudError):
    """The thing asked for does not exist (any more)."""


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
