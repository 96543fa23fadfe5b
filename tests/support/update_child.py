"""One update run in a child process (``python -m tests.support.update_child``), for the tests
that give it a file system of its own (a tiny tmpfs in a mount namespace: a full data
partition). Prints the run's record as JSON.

    python -m tests.support.update_child MANIFEST_URL CA_FILE FOLDER RAUC
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import httpx

from station.cloud.http import trust
from station.config import UpdateSection
from station.update.rauc import Rauc
from station.update.run import Updater

HARDWARE_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def main(argv: list[str]) -> int:
    url, ca_file, folder, rauc = argv
    settings = UpdateSection(url=url, ca_file=ca_file)
    updater = Updater(settings, "1.0.0", HARDWARE_ID, folder=Path(folder), rauc=Rauc((rauc,)))
    with httpx.Client(verify=trust(ca_file), timeout=10) as client:
        done = updater.run(client, reboot=False)
    print(json.dumps(dataclasses.asdict(done)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
