"""What starting a station loads: the libraries of reader kinds it may not have wait until used."""

from __future__ import annotations

import subprocess
import sys

from tests.support.child import ROOT

# What `release-station run` imports of drivers/ and ui/ before it is ready: the reader survey
# and registry, and the screen (station/ imports no hardware library at all: test_layering).
START = "import drivers.readers.auto, drivers.readers.registry, ui.display, ui.kiosk"


def loaded_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running ``code``."""
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


def test_nfcpy_is_loaded_only_when_an_nfc_reader_is_used() -> None:
    assert "nfc" not in loaded_after(START)
    assert "nfc" in loaded_after(f"{START}\nfrom drivers.readers.auto import usb_readers\nusb_readers(())")


def test_evdev_is_loaded_only_when_a_wedge_reader_is_used() -> None:
    assert "evdev" not in loaded_after(START)
    assert "evdev" in loaded_after(f"{START}\nfrom drivers.readers.keymap import WedgeDecoder")
