"""``release-station card learn`` and ``card test`` (with the simulated reader)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from station.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_USAGE, main


def test_learn_prints_the_shortest_chain_and_the_config_line(capsys: pytest.CaptureFixture[str]) -> None:
    pairs = ["E43AC9D2=3536403172", "946EBD28=0683503252", "04:a1:b2:c3=3283263748"]
    assert main(["card", "learn", *pairs, "--kind", "wedge"]) == 0
    out = capsys.readouterr().out
    assert "  reverse | hex2dec\n" in out
    assert "  [transforms]\n  wedge = 'reverse | hex2dec'" in out


def test_learn_from_a_csv_file_of_wedge_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "raw,expected\n# typed by the reader, wanted by the directory\n"
        '3536403172,ID-E43AC9D2\n2490285352,ID-28BD6E94\n0012345678,"ID-4E61BC00"\n'
    )
    assert main(["card", "learn", "--file", str(pairs), "--raw", "decimal"]) == 0
    out = capsys.readouterr().out
    assert '  reverse | prefix("ID-")\n' in out
    assert "<reader kind> = 'reverse | prefix(\"ID-\")'" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["E43AC9D2=1", "946EBD28=2"], "at least 3 pairs"),
        (["E43AC9D2", "946EBD28=2", "04A1B2C3=3"], "pair 1 has no '='"),
        (["E43AC9D2=1", "XYZ=2", "04A1B2C3=3"], "pair 2: RAW must be the canonical id"),
        (["--raw", "decimal", "1=1", "12AB=2", "3=3"], "pair 2: RAW must be decimal"),
        (["--file", "/nonexistent/pairs.csv"], "No such file"),
    ],
)
def test_learn_refuses_bad_input(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", "learn", *argv]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_learn_says_when_nothing_fits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", "learn", "04A1B2C3=alpha", "04A1B2C4=beta", "04A1B2C5=gamma"]) == EXIT_FAILURE
    assert "No chain of up to 4 steps" in capsys.readouterr().err


def _config(tmp_path: Path, chain: str) -> str:
    path = tmp_path / "station.toml"
    path.write_text(
        f"[station]\nstate_dir = '{tmp_path / 'state'}'\n\n[reader]\nkind = 'simulated'\n\n"
        f"[transforms]\nsimulated = '{chain}'\n"
    )
    return str(path)


@pytest.fixture
def card_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[str, str]]:
    """Runs ``card test`` with the simulated reader, ``chain``, and ``typed`` on standard input."""

    def run(chain: str, typed: str, *options: str) -> tuple[str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(typed))
        assert main(["--config", _config(tmp_path, chain), "card", "test", *options]) == 0
        captured = capsys.readouterr()
        return captured.out, captured.err

    return run


def test_card_test_with_the_simulated_reader(card_test: Callable[..., tuple[str, str]]) -> None:
    typed = "tap E43AC9D2\nbogus\nkey r\ntap 04A1\ntap 04A1B2C3\n"
    out, err = card_test("reverse | hex2dec", typed, "--count", "4", "--timeout", "60")
    lines = out.splitlines()
    assert lines[0] == "simulated  raw E43AC9D2  canonical E43AC9D2  id 3536403172"
    assert lines[1].startswith("simulated  raw 08123456  canonical 08123456  id ")
    assert lines[1].endswith("[random UID: changes on every tap, cannot be enrolled]")
    assert lines[2].endswith("[too short: 2 bytes, reader.min_uid_bytes is 4]")
    assert lines[3] == "simulated  raw 04A1B2C3  canonical 04A1B2C3  id 3283263748"
    assert "simulated reader: a card number is an even number of hex digits" in err
    assert "simulated reader simulated: ready" in err


def test_card_test_shows_a_read_the_chain_cannot_take(card_test: Callable[..., tuple[str, str]]) -> None:
    out, _ = card_test("wiegand26", "tap 946EBD28\n", "--count", "1", "--timeout", "60")
    assert "id (transform failed: wiegand26: the id has 32 bits, not 26)" in out


def test_card_test_ends_on_its_timeout(card_test: Callable[..., tuple[str, str]]) -> None:
    assert card_test("", "", "--timeout", "0.2")[0] == ""


@pytest.mark.parametrize("command", [["card", "test"], ["run", "--headless"]])
def test_a_broken_chain_stops_start_up_naming_the_key_and_position(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, command: list[str]
) -> None:
    # `run` is the station's own start-up (station/cli/compose.py): the chain is parsed first.
    config = _config(tmp_path, "reverse | hexdec")
    assert main(["--config", config, *command]) == EXIT_CONFIG
    assert (
        f"{config}: transforms.simulated: unknown step 'hexdec'; did you mean 'hex2dec'? (at character 11)"
        in caplog.text
    )
