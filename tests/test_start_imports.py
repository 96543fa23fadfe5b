"""What starting a station loads: what only some paths need waits until it is first used.

``bench.start`` measures what the start costs; these tests keep what it no longer pays for out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.child import ROOT

# What `release-station run` imports of drivers/ and ui/ before it is ready: the reader survey
# and registry, and the screen (station/ imports no hardware library at all: test_layering).
START = "import drivers.readers.auto, drivers.readers.registry, ui.display, ui.kiosk"

# The whole start of a paired station until it is ready, but for the screen and the readers'
# threads: the command line parsed, the station wired (nothing sent yet), the screen's modules.
WIRED = (
    """
import contextlib, dataclasses, sys
from pathlib import Path
from station.cli import build_parser
from station.cli.compose import build_station
from station.config import Config

build_parser("run").parse_args(["run"])
base = Config()
hardware_id = "0b3c5a52-52f5-4a49-9ad4-1f6a1e2c7d17"
station = dataclasses.replace(base.station, state_dir=sys.argv[1], hardware_id=hardware_id)
config = dataclasses.replace(base, station=station)
with contextlib.ExitStack() as stack:
    build_station(config, stack, restart=lambda: None)
"""
    + START
)


def loaded_after(code: str, *args: str, modules: bool = False) -> set[str]:
    """The top-level packages (``modules``: every module) a fresh interpreter has loaded after
    running ``code`` with ``args``."""
    names = "sys.modules" if modules else "{m.split('.')[0] for m in sys.modules}"
    script = f"{code}\nimport sys\nprint(' '.join(sorted({names})))"
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(done.stdout.split())


def test_nfcpy_is_loaded_only_when_an_nfc_reader_is_used() -> None:
    assert "nfc" not in loaded_after(START)
    assert "nfc" in loaded_after(f"{START}\nfrom drivers.readers.auto import usb_readers\nusb_readers(())")


def test_evdev_is_loaded_only_when_a_wedge_reader_is_used() -> None:
    assert "evdev" not in loaded_after(START)
    assert "evdev" in loaded_after(f"{START}\nfrom drivers.readers.keymap import WedgeDecoder")


def test_pyscard_is_loaded_only_when_pcscd_is_asked() -> None:
    assert "smartcard" not in loaded_after(START)
    ask = "from drivers.readers.pcsc import PcscUnavailable, list_pcsc_readers"
    assert "smartcard" in loaded_after(
        f"{START}\n{ask}\ntry: list_pcsc_readers()\nexcept PcscUnavailable: pass"
    )


def test_segno_is_loaded_only_when_a_qr_code_is_drawn() -> None:
    assert "segno" not in loaded_after(START)  # a paired station shows no QR code
    assert "segno" in loaded_after(f"{START}\nfrom ui.qr import qr_surface\nqr_surface('https://x', 100)")


def test_httpx_and_tls_wait_for_the_first_request(tmp_path: Path) -> None:
    started = loaded_after(WIRED, str(tmp_path), modules=True)
    assert not started & {"httpx", "httpcore", "certifi", "station.cloud.deadline"}
    assert not started & {"webbrowser", "station.emulator.server"}  # the demo's and the emulator's commands
    assert "ssl" not in started  # OpenSSL: no CA file to add, no directory source, no doctor run
    http = "CloudHttp.single_host('http://127.0.0.1:9', client_id='x')"
    unused = f"from station.cloud.http import CloudHttp\n{http}.close()"
    assert "httpx" not in loaded_after(unused)  # made and closed without a request


def test_the_directory_sync_and_other_commands_wait_for_their_use(tmp_path: Path) -> None:
    started = loaded_after(WIRED, str(tmp_path), modules=True)
    assert not started & {"station.directory_sync", "station.metrics"}  # no [directory] source, no metrics
    assert not started & {"station.emulator.model", "getpass"}  # `emulator`'s values, `pin set`'s prompt
    assert not started & {"station.cli.cmd_doctor", "station.cli.cmd_badges"}  # only `run`'s module
    used = "import station.directory_sources.url\nfrom station.emulator import Faults"
    assert {"station.directory_sync", "station.emulator.model"} <= loaded_after(used, modules=True)


def test_sqlite_utils_waits_for_a_database_that_needs_migrating(tmp_path: Path) -> None:
    # Its import (with click, dateutil and pluggy) was a fifth of the start.
    first = loaded_after(WIRED, str(tmp_path), modules=True)  # a new card: the schema is created
    assert {"sqlite_utils", "station.migrations"} <= first
    started = loaded_after(WIRED, str(tmp_path), modules=True)
    assert not started & {"sqlite_utils", "click", "dateutil", "pluggy", "station.migrations"}
