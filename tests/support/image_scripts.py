"""The image build's Python scripts (``image-build/*.py``), loaded as modules for the tests.

They are scripts run by path, not modules of a package, so a test loads them by file name.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

IMAGE_BUILD = Path(__file__).resolve().parents[2] / "image-build"


def load_image_script(name: str) -> ModuleType:
    """``image-build/NAME.py`` as the module ``NAME`` (registered: its dataclasses look it up)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, IMAGE_BUILD / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
