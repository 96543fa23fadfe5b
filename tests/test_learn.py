"""Finding transform chains from example pairs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.learn import Example, LearnError, learn
from drivers.transforms import parse_chain

UIDS = ["E43AC9D2", "946EBD28", "04A1B2C3", "0012AB34", "7F000001"]


def examples(expression: str, uids: list[str] = UIDS) -> list[Example]:
    chain = parse_chain(expression)
    return [Example(uid, chain.apply(uid)) for uid in uids]


@pytest.mark.parametrize(
    ("expression", "found"),
    [
        ("reverse | hex2dec", "reverse | hex2dec"),
        ('reverse | hex2dec | lpad(10, "0")', "reverse | hex2dec"),  # hex2dec pads already
        ("hex2dec", "hex2dec"),
        ("hex2dec | ltrim", "hex2dec | ltrim"),
        ("reverse | lower", "reverse | lower"),
        ('hex2dec | prefix("ID")', 'hex2dec | prefix("ID")'),
        ('hex2dec | ltrim | lpad(12, " ")', 'hex2dec | ltrim | lpad(12, " ")'),
        ("right(4) | hex2dec | ltrim", "right(4) | hex2dec | ltrim"),
    ],
)
def test_finds_the_chain_behind_the_examples(expression: str, found: str) -> None:
    chains = learn(examples(expression))
    assert str(chains[0]) == found
    assert len({len(chain) for chain in chains}) == 1  # only the shortest ones
    for chain in chains:
        assert [chain.apply(e.canonical) for e in examples(expression)] == [
            e.expected for e in examples(expression)
        ]


def test_vendor_worked_examples() -> None:
    pairs = [
        Example("E43AC9D2", "3536403172"),
        Example("28BD6E94", "2490285352"),
        Example("C3B2A104", "0077705923"),
    ]
    assert str(learn(pairs)[0]) == "reverse | hex2dec"


def test_wiegand_card_numbers() -> None:
    frames = ["2F623AE", "0246073", "1FFFFFF"]  # facility and card: 123/04567, 18/12345, 255/65535
    pairs = [Example(f, parse_chain("wiegand26").apply(f)[3:]) for f in frames]
    assert str(learn(pairs)[0]) == "wiegand26 | right(5)"


def test_nothing_to_do_is_the_empty_chain() -> None:
    assert [str(c) for c in learn([Example(u, u) for u in UIDS[:3]])] == [""]


def test_no_chain_gives_an_empty_list() -> None:
    pairs = [Example("04A1B2C3", "alpha"), Example("04A1B2C4", "beta"), Example("04A1B2C5", "gamma")]
    assert learn(pairs) == []


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([Example("E43AC9D2", "1"), Example("946EBD28", "2")], "at least 3 pairs"),
        ([Example("E43AC9D2", "1"), Example("E43AC9D2", "2"), Example("946EBD28", "3")], "two different"),
        ([Example("E43AC9D2", ""), Example("946EBD28", "2"), Example("04A1B2C3", "3")], "empty side"),
    ],
)
def test_unusable_examples_are_refused(pairs: list[Example], message: str) -> None:
    with pytest.raises(LearnError, match=message):
        learn(pairs)


def test_examples_hide_card_numbers() -> None:
    assert "E43AC9D2" not in repr(Example("E43AC9D2", "3536403172"))


REALISTIC = [
    "reverse",
    "hex2dec",
    "reverse | hex2dec",
    "hex2dec | ltrim",
    "reverse | hex2dec | ltrim",
    "lower",
    "hex2dec | right(8)",
    'reverse | prefix("X")',
    "dec2hex",
]


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(REALISTIC),
    st.lists(st.binary(min_size=4, max_size=4), min_size=3, max_size=5, unique=True),
)
def test_learns_a_chain_no_longer_than_the_one_used(expression: str, uids: list[bytes]) -> None:
    canonical = [u.hex().upper() for u in uids]
    if expression == "dec2hex":
        canonical = [str(int(c, 16)).zfill(10) for c in canonical]
    pairs = examples(expression, canonical)
    chains = learn(pairs)
    assert chains
    assert len(chains[0]) <= len(parse_chain(expression))
    assert all(chains[0].apply(p.canonical) == p.expected for p in pairs)
