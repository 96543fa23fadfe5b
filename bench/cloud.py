"""Cloud client benchmark against the ezeep emulator on loopback.

Prints the time from asking for a pairing code to holding a token (auto-approval, 1 s poll
interval on both sides), the latency of a token refresh through the keeper (median and p99 of
200, each persisted before it returns), and the time to write the pair to the database
(WAL, synchronous=FULL). Run: ``.venv/bin/python -m bench.cloud``.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from station.cloud.http import CloudHttp
from station.cloud.models import TokenPair
from station.cloud.pairing import Pairer
from station.cloud.tokens import TokenKeeper, TokenStore
from station.database import open_database
from station.emulator import Emulator

HW = "5e1f0000-0000-4000-8000-00000000be0c"
CLIENT = "release-station-bench"
ROUNDS = 200


def _ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch, Emulator(poll_interval_s=1) as emulator:
        emulator.auto_approve_device = emulator.printers[0].id
        http = CloudHttp.single_host(emulator.url, client_id=CLIENT)
        db = open_database(Path(scratch) / "station.db")
        store = TokenStore(db)
        keeper = TokenKeeper(store, http)
        pairer = Pairer(http, CLIENT, HW, interval_s=1.0)

        started = time.perf_counter()
        pair = pairer.wait(pairer.start(), threading.Event())
        keeper.install(pair, hardware_id=HW)
        pair_s = time.perf_counter() - started
        print(f"pairing to token (auto-approval, 1 s interval): {pair_s:.2f} s")

        refresh: list[float] = []
        for _ in range(ROUNDS):
            token = keeper.access_token()
            t0 = time.perf_counter()
            keeper.renew(token)
            refresh.append(time.perf_counter() - t0)
        print(f"refresh x{ROUNDS}: median {_ms(refresh, 0.5):.1f} ms, p99 {_ms(refresh, 0.99):.1f} ms")

        writes: list[float] = []
        for n in range(ROUNDS):
            t0 = time.perf_counter()
            store.save(TokenPair(pair.access_token, f"bench-{n}", 3600, time.monotonic()))
            writes.append(time.perf_counter() - t0)
        print(
            f"token store write x{ROUNDS}: median {_ms(writes, 0.5):.2f} ms, p99 {_ms(writes, 0.99):.2f} ms"
        )
        http.close()
        db.close()
    print(
        f"RESULT pair_s={pair_s:.2f} refresh_p50_ms={_ms(refresh, 0.5):.1f} "
        f"refresh_p99_ms={_ms(refresh, 0.99):.1f} store_write_ms={statistics.median(writes) * 1000:.2f}"
    )


if __name__ == "__main__":
    main()
