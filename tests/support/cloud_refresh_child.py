"""A station process that does nothing but refresh its token pair, to be SIGKILLed at random.

Run by ``tests/test_cloud_crash.py`` through a forkserver: ``refresh_forever(url, db_path)``.
"""

from __future__ import annotations

from pathlib import Path

from station.cloud.http import CloudHttp
from station.cloud.tokens import TokenKeeper, TokenStore
from station.database import open_database

CLIENT = "release-station-test"


def refresh_forever(url: str, db_path: str) -> None:
    http = CloudHttp.single_host(url, client_id=CLIENT, timeout_s=5)
    keeper = TokenKeeper(TokenStore(open_database(Path(db_path))), http, max_attempts=1)
    for _ in range(100_000):  # bounded; the parent kills it long before
        keeper.renew(keeper.access_token())
