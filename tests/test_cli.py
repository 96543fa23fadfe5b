"""The command line itself: help, version, configuration errors and exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
from pathlib import Path

import pytest

from station.cli import COMMANDS, EXIT_CONFIG, build_parser, command_named, main


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_every_command_module_is_named_in_order_with_its_commands() -> None:
    package = Path(__file__).resolve().parent.parent / "station" / "cli"
    assert list(COMMANDS) == sorted(path.stem.removeprefix("cmd_") for path in package.glob("cmd_*.py"))
    for module, commands in COMMANDS.items():
        parser = argparse.ArgumentParser()
        subparsers = parser.add_subparsers()
        importlib.import_module(f"station.cli.cmd_{module}").register(subparsers)
        assert tuple(subparsers.choices) == commands, module


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["run"], "run"),
        (["--config", "x.toml", "--log-level", "DEBUG", "badges", "add", "04AB", "--user-id", "u"], "badges"),
        (["--config=x.toml", "unpair", "--yes"], "unpair"),
        (["--help"], None),
        (["--help", "pair"], None),
        (["-h", "badges"], None),
        (["--config"], None),
        (["--conf", "x.toml", "run"], "run"),
        (["--config", "run"], None),
        ([], None),
        (["--version"], None),
    ],
)
def test_the_command_is_found_before_its_parser_is_built(argv: list[str], command: str | None) -> None:
    assert command_named(argv) == command


def test_a_command_line_loads_only_its_commands_module(capsys: pytest.CaptureFixture[str]) -> None:
    shown = build_parser("unpair").format_help()
    assert "unpair" in shown and "status" in shown and "badges" not in shown
    with pytest.raises(SystemExit):
        main(["bogus"])
    assert "choose from 'audit', 'badges'" in capsys.readouterr().err


def test_config_check_reports_the_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "station.toml"
    path.write_text("[station]\nrelease_mode = 'none'\n")
    assert main(["--config", str(path), "config", "check"]) == EXIT_CONFIG
    assert f"{path}: station.release_mode: must be one of 'all', 'pick'" in caplog.text


def test_config_show_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from station.config import Config, parse_config

    path = tmp_path / "station.toml"
    path.write_text("[station]\nname = 'Floor \"3\"'\n")
    assert main(["--config", str(path), "config", "show"]) == 0
    shown = capsys.readouterr().out
    assert parse_config(shown).station.name == 'Floor "3"'
    assert parse_config(shown) != Config()


def test_the_log_section_is_applied(tmp_path: Path) -> None:
    from station.logsetup import IDENTIFIER, JournalHandler, setup_logging

    path = tmp_path / "station.toml"
    path.write_text("[log]\nlevel = 'WARNING'\nformat = 'journal'\n")
    root = logging.getLogger()
    try:
        assert main(["--config", str(path), "config", "check"]) == 0
        ours = [h for h in root.handlers if h.get_name() == IDENTIFIER]
        assert len(ours) == 1 and isinstance(ours[0], JournalHandler)
        assert root.level == logging.WARNING
        assert main(["--config", str(path), "--log-level", "DEBUG", "config", "check"]) == 0
        assert root.level == logging.DEBUG
    finally:
        setup_logging("INFO", "text")


def test_config_check_parses_the_transform_chains(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "station.toml"
    path.write_text("[transforms]\npcsc = 'reverse | hex2dek'\n")
    assert main(["--config", str(path), "config", "check"]) == EXIT_CONFIG
    assert "transforms.pcsc" in caplog.text
