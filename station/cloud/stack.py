"""The cloud parts wired together once: HTTP, token store and keeper, pairer and API client."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from station.cloud import contract
from station.cloud.api import EzeepClient
from station.cloud.http import CloudHttp
from station.cloud.pairing import Pairer
from station.cloud.tokens import BACKOFF_CAP_S, BACKOFF_S, Clock, RefreshResult, TokenKeeper, TokenStore
from station.config import CloudSection
from station.database import Database


@dataclass(frozen=True)
class CloudStack:
    """Everything the station needs to talk to ezeep as one device.

    Example::

        http = CloudHttp.from_config(config.cloud)
        with CloudStack.create(http, db, hardware_id=hw, cloud=config.cloud) as cloud:
            if not cloud.keeper.paired: ...
            jobs = cloud.client.waiting_jobs(user_id)
    """

    http: CloudHttp
    store: TokenStore
    keeper: TokenKeeper
    client: EzeepClient
    pairer: Pairer

    @classmethod
    def create(
        cls,
        http: CloudHttp,
        db: Database,
        *,
        hardware_id: str,
        client_id: str | None = None,
        poll_interval_s: float = contract.POLL_INTERVAL_S,
        cloud: CloudSection | None = None,
        token_clock: Clock = time.monotonic,
        refresh_backoff_s: tuple[float, float] = (BACKOFF_S, BACKOFF_CAP_S),
        on_refresh: Callable[[RefreshResult], None] | None = None,
    ) -> CloudStack:
        """``cloud``: the ``[cloud]`` section whose list caps and job-owner rule the client
        follows; None: the defaults. ``token_clock``: the monotonic clock the token store and
        keeper read expiry against. ``refresh_backoff_s``: the keeper's first pause between
        refresh tries and its longest. ``on_refresh``: told how each token refresh ended."""
        store = TokenStore(db, clock=token_clock)
        first_s, cap_s = refresh_backoff_s
        keeper = TokenKeeper(
            store,
            http,
            client_id=client_id,
            clock=token_clock,
            backoff_s=first_s,
            backoff_cap_s=cap_s,
            on_refresh=on_refresh,
        )
        pairer = Pairer(http, client_id or http.client_id, hardware_id, interval_s=poll_interval_s)
        client = EzeepClient.from_config(http, keeper, cloud or CloudSection())
        return cls(http, store, keeper, client, pairer)

    def close(self) -> None:
        self.keeper.close()
        self.http.close()

    def __enter__(self) -> CloudStack:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
