"""Syncing the badge directory from a real slapd: 10 000 people, first, incremental and full sync, memory.

Starts slapd on loopback with its own configuration and a seeded tree (tests/support/slapd.py;
needs slapd and ldap-utils; the seeded entries modified a second apart, as in a directory in
use), then times, through StartTLS with paged searches of 500:

- the first sync (a full read, every entry added; e-mail addresses resolved from a table
  standing in for ezeep, so the time is the station's own and slapd's, not the cloud's);
- a repeated sync (incremental: nothing modified since the mark, the DNs listed for removals);
- an incremental sync after 1 % of the people got a new badge;
- a full read of the same (``--force``: what every repeated sync cost before incremental reads).

and the process's peak memory (ru_maxrss) afterwards, with every entry in SQLite and the
source's copy in memory.

    .venv/bin/python -m bench.directory [--people 10000]

Ends with ``RESULT first_sync_s=… repeat_sync_s=… changed_sync_s=… full_sync_s=… max_rss_mb=…``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import ldap3

from station.cloud.models import UserInfo
from station.database import open_database
from station.directory import Directory
from station.directory_sources.ldap import LdapSource
from station.directory_sync import DirectorySync, SyncOutcome
from tests.support.slapd import ADMIN_DN, ADMIN_PASSWORD, STAFF, Slapd, password_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    args = parser.parse_args()
    people = [(f"p{i}", f"p{i}@example.com", f"{i:010d}") for i in range(args.people)]
    users = {email: UserInfo(f"u-{uid}", email, uid, "") for uid, email, _ in people}
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        with Slapd(root / "slapd", people) as server:
            section = server.section(password_file(root / "password"))
            db = open_database(root / "station.db")
            directory = Directory(db)
            sync = DirectorySync(db, directory, LdapSource(section), users.get, max_removed_share=0.2)
            first = _timed(sync.run)
            repeat = _timed(sync.run)
            admin = ldap3.Connection(
                ldap3.Server("127.0.0.1", port=server.port), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True
            )
            for uid, _, badge in people[::100]:
                admin.modify(
                    f"uid={uid},{STAFF}", {"employeeNumber": [(ldap3.MODIFY_REPLACE, ["N" + badge])]}
                )
            changed = _timed(sync.run)
            full = _timed(partial(sync.run, force=True))
            entries = directory.count()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{entries} entries")
    print(
        f"RESULT first_sync_s={first:.2f} repeat_sync_s={repeat:.2f} changed_sync_s={changed:.2f} "
        f"full_sync_s={full:.2f} max_rss_mb={rss_mb:.0f}"
    )


def _timed(run: Callable[[], SyncOutcome]) -> float:
    start = time.perf_counter()
    outcome = run()
    took = time.perf_counter() - start
    print(f"{took:.2f} s: {outcome.summary()}")
    return took


if __name__ == "__main__":
    main()
