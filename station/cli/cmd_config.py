"""``release-station config check|show``: validate and print the effective configuration."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from station.cli import EXIT_OK, Context
from station.config import section_table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="check or show the configuration")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="read the configuration and report the first error")
    check.set_defaults(func=_check)
    show = actions.add_parser("show", help="print the effective configuration")
    show.set_defaults(func=_show)


def _check(args: argparse.Namespace, context: Context) -> int:
    from drivers.transforms import chains_from_config

    config = context.config
    chains_from_config(config.transforms, config.source)  # a broken chain stops start-up too
    print(f"{config.source}: ok")
    return EXIT_OK


def _show(args: argparse.Namespace, context: Context) -> int:
    config = context.config
    print(f"# from {config.source}")
    for section in dataclasses.fields(config):
        if section.name == "source":
            continue
        print(f"\n[{section.name}]")
        for key, value in section_table(getattr(config, section.name)).items():
            print(f"{key} = {_toml(value)}")
    return EXIT_OK


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):  # a sub-table such as [directory.ldap], inline
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)
