"""``release-station screenshots --out DIR``: every screen in every size and language, as PNG."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from station.cli import EXIT_OK, Context


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("screenshots", help="render every screen from canned views to PNG files")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for LANG/WIDTHxHEIGHT/NAME.png")
    parser.set_defaults(func=_screenshots)


def _screenshots(args: argparse.Namespace, context: Context) -> int:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # drawing needs no window
    from ui.screenshots import write_screenshots

    written = write_screenshots(Path(args.out))
    print(f"wrote {len(written)} screenshots to {args.out}")
    return EXIT_OK
