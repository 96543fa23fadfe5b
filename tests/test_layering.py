"""The dependency direction: the core never imports the screen, the drivers or hardware libraries."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"pygame", "nfc", "smartcard", "evdev", "gpiozero", "lgpio", "RPi", "ui", "drivers"}
# The composition root may wire everything together (lazily, inside its handlers).
ALLOWED = {"cli"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_station_core_imports_no_frontend_or_hardware() -> None:
    offenders = {}
    for path in (ROOT / "station").rglob("*.py"):
        relative = path.relative_to(ROOT / "station")
        if relative.parts[0] in ALLOWED:
            continue
        bad = _imports(path) & FORBIDDEN
        if bad:
            offenders[str(relative)] = sorted(bad)
    assert offenders == {}


def test_drivers_and_ui_do_not_import_each_other() -> None:
    for package, other in (("drivers", "ui"), ("ui", "drivers")):
        for path in (ROOT / package).rglob("*.py"):
            assert other not in _imports(path), f"{path} imports {other}"
