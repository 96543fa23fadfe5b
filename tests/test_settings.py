"""Station settings: the file's values, overridden on the station, checked like the file."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from station.config import Config, parse_config
from station.database import memory_database, open_database, transaction
from station.errors import ConfigError
from station.settings import StationSettings, read_value, write_value

CONFIG = parse_config("[station]\nrelease_mode = 'pick'\nsession_timeout_s = 120\n")


def test_without_overrides_the_file_wins() -> None:
    settings = StationSettings(memory_database(), CONFIG)
    assert (settings.release_mode, settings.language, settings.session_timeout_s) == ("pick", "en", 120)
    assert settings.overrides() == {}
    assert settings.effective() == CONFIG.station


def test_overrides_win_and_survive_a_restart(tmp_path: Path) -> None:
    db = open_database(tmp_path / "station.db")
    settings = StationSettings(db, CONFIG)
    settings.set_release_mode("all")
    settings.set_language("de")
    settings.set_session_timeout_s(30)
    db.close()
    again = StationSettings(open_database(tmp_path / "station.db"), CONFIG)
    assert (again.release_mode, again.language, again.session_timeout_s) == ("all", "de", 30)
    assert again.overrides() == {"release_mode": "all", "language": "de", "session_timeout_s": 30}
    assert again.effective().name == CONFIG.station.name


def test_reset_goes_back_to_the_file() -> None:
    settings = StationSettings(memory_database(), CONFIG)
    settings.set("language", "de")
    assert settings.reset("language") is True
    assert settings.reset("language") is False
    assert settings.language == "en"
    with pytest.raises(ValueError, match="not a station setting"):
        settings.reset("name")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("release_mode", "some"),
        ("release_mode", True),
        ("language", "fr"),
        ("session_timeout_s", 5),
        ("session_timeout_s", 901),
        ("session_timeout_s", "60"),
        ("session_timeout_s", True),
    ],
)
def test_setters_check_exactly_like_the_configuration_file(name: str, value: Any) -> None:
    settings = StationSettings(memory_database(), CONFIG)
    with pytest.raises(ValueError) as from_setter:
        settings.set(name, value)
    with pytest.raises(ConfigError) as from_file:
        parse_config(f"[station]\n{name} = {_toml(value)}\n")
    assert str(from_setter.value) == f"{name}: {from_file.value.problem}"
    assert settings.overrides() == {}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value).replace("'", '"')


def test_only_three_settings_can_change_on_the_station() -> None:
    settings = StationSettings(memory_database(), Config())
    with pytest.raises(ValueError, match="name: cannot be changed on the station"):
        settings.set("name", "Floor 3")


def test_a_damaged_or_outdated_override_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    db = memory_database()
    at = datetime(2026, 3, 1, tzinfo=UTC)
    with transaction(db, "write the overrides"):
        write_value(db, "station.session_timeout_s", 5000, at)
        write_value(db, "station.language", "de", at)
        db.execute("INSERT INTO settings (key, value, updated_at) VALUES ('station.release_mode', '{', 'x')")
    caplog.set_level(logging.WARNING)
    settings = StationSettings(db, CONFIG)
    assert settings.effective() == dataclasses.replace(CONFIG.station, language="de")
    assert "station.release_mode is damaged" in caplog.text
    assert "session_timeout_s: must be between 10 and 900" in caplog.text
    settings.set_release_mode("all")  # a good value replaces the damaged one
    assert settings.release_mode == "all"
    assert read_value(db, "station.release_mode") == "all"
