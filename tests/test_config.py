"""The configuration file: defaults, the documented example, and the errors people will make."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from station.config import Config, config_path, load_config, parse_config, section_table
from station.errors import ConfigError
from station.reader_kinds import KINDS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "station.toml"


def test_documented_example_equals_the_defaults() -> None:
    assert parse_config(EXAMPLE.read_text(), str(EXAMPLE)) == Config()


def test_every_key_is_documented_with_a_comment() -> None:
    text = EXAMPLE.read_text()
    for section in dataclasses.fields(Config):
        if section.name == "source":
            continue
        assert f"[{section.name}]" in text
        for key, value in section_table(getattr(Config(), section.name)).items():
            if isinstance(value, dict):  # a sub-table such as [directory.ldap]
                assert f"[{section.name}.{key}]" in text
                assert all(re.search(rf"^{sub} = ", text, re.M) for sub in value), f"[{section.name}.{key}]"
            else:
                assert re.search(rf"^{key} = ", text, re.M), f"{section.name}.{key} undocumented"


def test_the_example_and_the_readme_list_the_reader_kinds() -> None:
    # Regenerated from station.reader_kinds.KINDS and compared whole: a kind added, renamed or
    # dropped fails here until both copies say the same.
    width = max(len(spec.name) for spec in KINDS) + 2
    lines = "".join(f"#   {json.dumps(spec.name):<{width}}  {spec.summary}\n" for spec in KINDS)
    assert f"own keys follow below):\n{lines}kind = " in EXAMPLE.read_text()
    rows = "".join(f"| `{spec.name}` | {spec.summary} |\n" for spec in KINDS)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"| kind | the reader |\n|---|---|\n{rows}<!-- end of reader kinds -->" in readme


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[station]\nrelease_mod = 'all'\n", "station.release_mod", "unknown key"),
        ("[station]\nrelease_mode = 'some'\n", "station.release_mode", "one of 'all', 'pick'"),
        ("[station]\nsession_timeout_s = '60'\n", "station.session_timeout_s", "an integer"),
        ("[station]\nsession_timeout_s = 5\n", "station.session_timeout_s", "between 10 and 900"),
        ("[station]\nhardware_id = 'abc'\n", "station.hardware_id", "GUID"),
        ("[cloud]\napi_url = 'http://api.example.com'\n", "cloud.api_url", "loopback"),
        ("[cloud]\nin_doubt_s = 10\n", "cloud.in_doubt_s", "between 30 and 86400"),
        ("[cloud]\nin_doubt_s = 60\nrequest_deadline_s = 90\n", "cloud.in_doubt_s", "longer than"),
        ("[reader]\nkind = true\n", "reader.kind", "one of"),
        ("[reader]\npcsc_readers = 'ACS'\n", "reader.pcsc_readers", "a list of"),
        ("[reader]\nkind = 'serial'\n", "reader.kind", "one of 'auto', 'pcsc', 'nfc'"),
        ("[reader]\nwedge_usb_id = '8ff:9'\n", "reader.wedge_usb_id", "vendor:product"),
        ("[reader]\nwedge_key_timeout_ms = 5\n", "reader.wedge_key_timeout_ms", "between 10 and 2000"),
        ("[reader]\nrepeat_s = 61\n", "reader.repeat_s", "between 0 and 60"),
        ("[reader]\nserial_port = ''\n", "reader.serial_port", "wedge_usb_id"),
        ("[transforms]\nserial = ''\n", "transforms.serial", "this section allows: "),
        ("[transforms]\nnfc = 3\n", "transforms.nfc", "a string"),
        ("[feedback]\nled_rgb = ['GPIO1']\n", "feedback.led_rgb", "three pins"),
        ("[ui]\nrotation = 45\n", "ui.rotation", "one of 0, 90, 180, 270"),
        ("[ui]\nrotation = 90.0\n", "ui.rotation", "one of 0, 90, 180, 270"),
        ("[ui]\nresolution = 'big'\n", "ui.resolution", "WIDTHxHEIGHT"),
        ("[enrolment]\nself_service = 'no'\n", "enrolment.self_service", "true or false"),
        ("[enrolment]\nmax_badges_per_user = 0\n", "enrolment.max_badges_per_user", "between 1 and 20"),
        ("[enrolment]\nconfirm_tap_s = 5\n", "enrolment.confirm_tap_s", "between 10 and 120"),
        ("station = 3\n", "station", "must be a table"),
        ("[nonsense]\n", "nonsense", "unknown key"),
    ],
)
def test_wrong_keys_name_the_file_the_key_and_what_is_allowed(text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/etc/release-station/station.toml")
    message = str(info.value)
    assert message.startswith("/etc/release-station/station.toml: ")
    assert info.value.key == key
    assert words in message


def test_enrolment_defaults_are_safe_and_can_be_changed() -> None:
    default = Config().enrolment
    assert (default.self_service, default.max_badges_per_user, default.confirm_tap_s) == (True, 2, 30)
    changed = parse_config("[enrolment]\nself_service = false\nmax_badges_per_user = 1\nconfirm_tap_s = 60\n")
    assert (changed.enrolment.self_service, changed.enrolment.max_badges_per_user) == (False, 1)
    assert changed.enrolment.confirm_tap_s == 60


def test_broken_toml_is_reported_with_its_position() -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2"):
        parse_config("[station]\nname = \n", "x.toml")


def test_integers_are_accepted_for_floats_and_http_for_loopback() -> None:
    config = parse_config(
        "[cloud]\nrequest_timeout_s = 5\naccount_url = 'http://127.0.0.1:8000'\n"
        "api_url = 'http://localhost:1'\nprint_url = 'http://[::1]:2'\n"
    )
    assert config.cloud.request_timeout_s == 5.0


def test_where_the_file_is_looked_for(tmp_path: Path) -> None:
    assert config_path(None, {}) == (Path("/etc/release-station/station.toml"), False)
    assert config_path(None, {"RELEASE_STATION_CONFIG": "/x.toml"}) == (Path("/x.toml"), True)
    assert config_path("/y.toml", {"RELEASE_STATION_CONFIG": "/x.toml"}) == (Path("/y.toml"), True)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(str(tmp_path / "missing.toml"), {})
    path = tmp_path / "s.toml"
    path.write_text("[station]\nname = 'Floor 3'\n")
    config = load_config(None, {"RELEASE_STATION_CONFIG": str(path)})
    assert config.station.name == "Floor 3"
    assert config.source == str(path)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(path), {})
