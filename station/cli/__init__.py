"""The command line, and the composition root that wires the station together.

Each ``cmd_*.py`` module in this package (named in :data:`COMMANDS`, with the commands it adds)
adds one command (or a few) with a ``register(subparsers)`` function that calls
``subparsers.add_parser`` and sets ``func=handler`` as the parser default. A handler takes the
parsed arguments and a :class:`Context` and returns the exit code. A command line that names a
command loads only that command's module; help and unknown commands load them all.

This package is the only part of ``station`` allowed to import ``ui`` and ``drivers`` (and
through them pygame and the hardware libraries), and it does so lazily inside handlers, so that
``release-station badges list`` never loads SDL.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from functools import cached_property

from station import __version__
from station.config import Config, load_config
from station.errors import StationError
from station.logsetup import setup_logging

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h; systemd shows it as "configuration error"

# The cmd_NAME modules, in the order of the help text, and the commands each adds. Named here
# rather than found by scanning the package, and only the module of the command given is loaded:
# importing all of them and building every parser cost each start of the station about 30 ms
# (tests/test_cli.py keeps this table, the files and their commands in step).
COMMANDS: dict[str, tuple[str, ...]] = {
    "audit": ("audit",),
    "badges": ("badges",),
    "card": ("card",),
    "config": ("config",),
    "demo": ("demo",),
    "directory": ("directory",),
    "doctor": ("doctor",),
    "emulator": ("emulator",),
    "pair": ("pair", "status", "unpair"),
    "pin": ("pin",),
    "run": ("run",),
    "screenshots": ("screenshots",),
    "update": ("update",),
}


class Context:
    """What every command handler gets: the options and a lazily loaded configuration."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    @cached_property
    def config(self) -> Config:
        config = load_config(self.args.config)
        # Now that the file is read, log as it says (--log-level still wins over log.level).
        setup_logging(self.args.log_level or config.log.level, config.log.format)
        return config


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for ``command`` (only its module is loaded), or for every command."""
    parser = argparse.ArgumentParser(
        prog="release-station",
        description="Release ezeep Blue pull-print jobs with a badge tap.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (default: $RELEASE_STATION_CONFIG or /etc/release-station/station.toml)",
    )
    parser.add_argument(
        "--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="override log.level"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [module for module, commands in COMMANDS.items() if command in commands] or COMMANDS
    for module in modules:
        importlib.import_module(f"{__name__}.cmd_{module}").register(subparsers)
    return parser


def command_named(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names after the global options, if any: ``None`` for help asked
    before a command or global options the full parser must explain (it loads every command)."""
    first = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    first.add_argument("-h", "--help", action="store_true")
    first.add_argument("--config")
    first.add_argument("--log-level")
    first.add_argument("command", nargs="?")
    try:
        known = first.parse_known_args(argv)[0]
    except argparse.ArgumentError:  # e.g. --config without its path
        return None
    found: str | None = None if known.help else known.command
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(command_named(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    setup_logging(args.log_level or "INFO", "auto")
    context = Context(args)
    try:
        code: int = args.func(args, context)
    except StationError as exc:
        log.error("%s", exc)
        from station.errors import ConfigError

        return EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return code
