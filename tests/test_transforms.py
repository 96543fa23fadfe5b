"""The card-number transform language: worked examples, syntax errors and properties."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.transforms import (
    STEPS,
    Arg,
    Chain,
    TransformError,
    TransformSyntaxError,
    chains_from_config,
    make_step,
    parse_chain,
    step_reference,
)
from station.cli import main
from station.config import TransformsSection
from station.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
hex_bytes = st.binary(min_size=1, max_size=10).map(lambda b: b.hex().upper())


def h10301(facility: int, card: int, *, break_parity: str = "") -> str:
    """A 26-bit frame, built bit by bit as the HID H10301 description lays it out."""
    bits = f"{facility:08b}{card:016b}"
    even = str(bits[:12].count("1") % 2)  # makes bits 1..13 even
    odd = str(1 - bits[12:].count("1") % 2)  # makes bits 14..26 odd
    if break_parity == "even":
        even = str(1 - int(even))
    if break_parity == "odd":
        odd = str(1 - int(odd))
    return f"{int(even + bits + odd, 2):07X}"


# -- worked examples from reader vendors' documentation -----------------------------------


@pytest.mark.parametrize(
    ("expression", "canonical", "expected"),
    [
        ("hex2dec", "946EBD28", "2490285352"),
        ("dec2hex", "2490285352", "946EBD28"),
        ("reverse | hex2dec", "E43AC9D2", "3536403172"),
        ('reverse | hex2dec | lpad(10, "0")', "E43AC9D2", "3536403172"),
        ("reverse|hex2dec|lpad(10,0)", "E43AC9D2", "3536403172"),  # design.md's spelling
        ("hex2dec", "0000ABCD", "0000043981"),  # leading zeros kept: 4 bytes, 10 digits
        ("hex2dec | ltrim", "0000ABCD", "43981"),
        ("ltrim", "0000", "0"),
        ("rtrim(F)", "12FFF", "12"),
        ("dec2hex", "0000043981", "0000ABCD"),
        ("dec2hex", "00012", "000C"),
        ("lpad(12) | rpad(14, x)", "ABCD", "00000000ABCDxx"),
        ("lpad(2)", "ABCD", "ABCD"),  # padding never cuts
        ("left(4) | lower", "04A1B2C3", "04a1"),
        ("right(3)", "04A1B2C3", "2C3"),
        ('prefix(007) | suffix("|x")', "AB", "007AB|x"),
        (r'regex("^04(..)") | prefix("id-")', "04A1B2C3", "id-A1"),
        ('regex("B2..")', "04A1B2C3", "B2C3"),
        ("upper", "04a1", "04A1"),
        ("", "04a1", "04a1"),
        ("wiegand26", h10301(18, 12345), "01812345"),
        ('wiegand26(":") | right(5)', h10301(1, 1), "00001"),
        ('wiegand26("/")', "2020002", "001/00001"),  # FC 1, card 1 written out by hand
        ("wiegand26", h10301(255, 65535), "25565535"),
    ],
)
def test_worked_examples(expression: str, canonical: str, expected: str) -> None:
    assert parse_chain(expression).apply(canonical) == expected


@pytest.mark.parametrize(
    ("expression", "canonical", "message"),
    [
        ("hex2dec", "12G4", "hex2dec: the id is not hex"),
        ("dec2hex", "12AB", "dec2hex: the id is not decimal"),
        ("reverse", "ABC", "not whole bytes"),
        ("wiegand26", h10301(18, 12345, break_parity="even"), "leading (even) parity"),
        ("wiegand26", h10301(18, 12345, break_parity="odd"), "trailing (odd) parity"),
        ("wiegand26", "946EBD28", "32 bits, not 26"),
        ('regex("^FF")', "946EBD28", "does not match"),
        ('regex("(x)|AB")', "ABCD", "first group took no part"),
    ],
)
def test_ids_that_do_not_fit_are_refused_without_showing_the_id(
    expression: str, canonical: str, message: str
) -> None:
    with pytest.raises(TransformError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        parse_chain(expression).apply(canonical)
    assert canonical not in str(info.value)


# -- syntax errors carry the position ------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "position", "message"),
    [
        ("reverse | hexdec", 10, "unknown step 'hexdec'; did you mean 'hex2dec'?"),
        ("reverse hex2dec", 8, 'expected "|" between steps'),
        ("reverse |", 9, "expected a step name, found the end"),
        ("lpad(10", 7, 'expected "," or ")"'),
        ("lpad()", 5, "lpad needs its argument n"),
        ('lpad(10, "00")', 9, "lpad: c must be one character"),
        ('lpad("10")', 5, "lpad: n must be a whole number"),
        ("left(0)", 5, "between 1 and 64"),
        ("upper(1)", 6, "upper takes no arguments"),
        ("lpad(1, 0, 0)", 11, "lpad takes at most 2 arguments"),
        ('prefix("abc)', 7, "no closing quote"),
        ("regex('(')", 6, "not a valid regular expression"),
        ("hex2dec; upper", 7, "unexpected ';'"),
        ("| upper", 0, "expected a step name, found '|'"),
    ],
)
def test_syntax_errors_name_the_position(expression: str, position: int, message: str) -> None:
    with pytest.raises(TransformSyntaxError) as info:
        parse_chain(expression)
    assert message in str(info.value)
    assert info.value.position == position
    assert f"(at character {position + 1})" in str(info.value)
    assert info.value.pointer().splitlines()[1] == " " * position + "^"


def test_start_up_reports_the_key_and_position() -> None:
    section = TransformsSection(wedge="dec2hex | lpad(x)")
    with pytest.raises(ConfigError) as info:
        chains_from_config(section, "/etc/release-station/station.toml")
    assert str(info.value) == (
        "/etc/release-station/station.toml: transforms.wedge: "
        "lpad: n must be a whole number (at character 16)"
    )
    chains = chains_from_config(TransformsSection(nfc="reverse"), "x")
    assert str(chains["nfc"]) == "reverse"
    assert chains["pcsc"] == Chain()


def test_steps_print_in_the_configs_syntax() -> None:
    chain = parse_chain("Reverse|HEX2DEC |lpad( 10 , '0')|prefix('say \"hi\"')|wiegand26|lpad(12, ' ')")
    assert str(chain) == 'reverse | hex2dec | lpad(10) | prefix("say \\"hi\\"") | wiegand26 | lpad(12, " ")'
    assert parse_chain(str(chain)) == chain
    assert make_step("lpad", 10, 0) == make_step("lpad", 10)
    with pytest.raises(ValueError, match="unknown step"):
        make_step("nope")


def test_readme_and_the_example_config_list_the_steps_of_the_table() -> None:
    # Regenerated from STEPS and compared whole, from the heading to the line after the list,
    # so a step added, renamed, documented anew or dropped in the table fails here until the
    # copies are updated (paste the expected text from the assertion).
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = "".join(f"| `{spec.usage}` | {spec.doc} |\n" for spec in STEPS.values())
    assert _between(readme, "| step | what it does |\n|---|---|\n", "<!-- end of transform steps -->") == rows
    example = (ROOT / "config" / "station.toml").read_text(encoding="utf-8")
    lines = "".join(f"#   {line}\n" for line in step_reference())
    assert _between(example, "lists them too):\n", "# `release-station card learn`") == lines


def _between(text: str, start: str, end: str) -> str:
    return text.partition(start)[2].partition(end)[0]


def test_card_help_lists_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["card", "--help"])
    assert "\n".join(f"  {line}" for line in step_reference()) in capsys.readouterr().out


def test_step_usage_shows_the_parameters() -> None:
    assert [STEPS[name].usage for name in ("reverse", "lpad", "regex")] == [
        "reverse",
        "lpad(n, c)",
        "regex(pattern)",
    ]


# -- properties ----------------------------------------------------------------------------


@given(hex_bytes)
def test_reverse_twice_is_identity(value: str) -> None:
    assert parse_chain("reverse | reverse").apply(value) == value


@given(hex_bytes)
def test_hex2dec_then_dec2hex_keeps_value_and_padding(value: str) -> None:
    assert parse_chain("hex2dec | dec2hex").apply(value) == value


@given(st.from_regex(r"[0-9]{1,25}", fullmatch=True))
def test_dec2hex_then_hex2dec_keeps_the_value_and_never_shortens(value: str) -> None:
    result = parse_chain("dec2hex | hex2dec").apply(value)
    assert int(result) == int(value)
    assert len(result) >= len(value)


@given(hex_bytes, st.integers(1, 64))
def test_padding_never_loses_leading_zeros(value: str, width: int) -> None:
    padded = parse_chain(f"lpad({width})").apply(value)
    assert padded.endswith(value)
    assert len(padded) == max(width, len(value))


_ARGS: dict[str, st.SearchStrategy[Arg]] = {
    "count": st.integers(1, 64),
    "char": st.sampled_from(["0", "F", " ", '"', "\\"]),
    "text": st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=5),
    "regex": st.sampled_from(["^(..)", "[0-9]+", "A(B)?", "x"]),
}


@st.composite
def chains(draw: st.DrawFn) -> Chain:
    steps = []
    for name in draw(st.lists(st.sampled_from(sorted(STEPS)), max_size=5)):
        params = STEPS[name].params
        count = draw(st.integers(0, len(params)))
        required = sum(1 for p in params if p.default is None)
        args = [draw(_ARGS[p.kind]) for p in params[: max(count, required)]]
        steps.append(make_step(name, *args))
    return Chain(tuple(steps))


@given(chains())
def test_printed_chains_parse_back_to_the_same_chain(chain: Chain) -> None:
    assert parse_chain(str(chain)) == chain


@given(chains(), hex_bytes)
def test_applying_a_chain_only_ever_raises_transform_error(chain: Chain, value: str) -> None:
    with contextlib.suppress(TransformError):
        assert isinstance(chain.apply(value), str)


@given(st.text(max_size=40))
def test_parsing_only_ever_raises_syntax_errors(text: str) -> None:
    try:
        parse_chain(text)
    except TransformSyntaxError as exc:
        assert 0 <= exc.position <= len(text)
