"""A station configuration for the composition-root tests: paired against a test's emulator."""

from __future__ import annotations

import textwrap
from pathlib import Path

from station.config import Config, parse_config
from station.emulator import Emulator


def emulator_config(emulator: Emulator, state_dir: Path, client_id: str, extra: str = "") -> Config:
    """Every ezeep host at ``emulator``, the state in ``state_dir``; ``extra``: more TOML."""
    return parse_config(
        textwrap.dedent(
            f"""
            [station]
            state_dir = '{state_dir}'
            hardware_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
            [cloud]
            account_url = "{emulator.url}"
            api_url = "{emulator.url}"
            print_url = "{emulator.url}"
            client_id = "{client_id}"
            """
        )
        + textwrap.dedent(extra)
    )
