"""Find transform chains from examples, so an admin does not have to guess one.

Given pairs of (canonical id, the number the directory or ezeep expects), :func:`learn` searches
breadth-first over the steps of :mod:`drivers.transforms`, shortest chains first. Arguments are
not guessed blindly but taken from the examples: pad and cut widths from the expected lengths,
pad and trim characters from the expected numbers' first and last characters, prefixes and
suffixes from what all expected numbers share, a Wiegand separator from the characters they
contain. ``regex`` is never proposed: a pattern is the admin's own call.

The search is bounded by the chain length and by the number of distinct intermediate states,
so it ends quickly even for examples no chain can map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drivers.transforms import MAX_COUNT, STEPS, Chain, Step, TransformError, make_step

MIN_EXAMPLES = 3
# Steps tried as they are: those that take no argument, so a new one is tried without a change here.
_PLAIN_STEPS = tuple(name for name, spec in STEPS.items() if not spec.params)
_AFFIX_MAX = 8
_TRIM_CHARS = ("0", "F", " ")


@dataclass(frozen=True)
class Example:
    """One pair: the canonical id a reader gave and the number expected for that card."""

    canonical: str
    expected: str = ""

    def __repr__(self) -> str:  # card numbers stay out of logs and tracebacks
        return f"Example({len(self.canonical)} → {len(self.expected)} characters)"


class LearnError(ValueError):
    """The examples cannot be used (too few, or one id with two different expectations)."""


def candidate_steps(examples: Sequence[Example]) -> list[Step]:
    """The steps worth trying for these examples, simplest first."""
    expected = [e.expected for e in examples]
    lengths = {len(x) for x in expected}
    prefix = _shared_start(expected)[:_AFFIX_MAX]
    suffix = _shared_start([x[::-1] for x in expected])[:_AFFIX_MAX][::-1]
    prefixes = [prefix[:n] for n in range(1, len(prefix) + 1)]
    suffixes = [suffix[-n:] for n in range(1, len(suffix) + 1)]
    steps = [make_step(name) for name in _PLAIN_STEPS]
    if len(lengths) == 1:
        (length,) = lengths
        widths = sorted({length - len(a) for a in ("", *prefixes, *suffixes)} & set(range(1, MAX_COUNT + 1)))
        pads = sorted({"0", prefix[:1] or "0", suffix[-1:] or "0"})
        for width in widths:
            steps += [make_step("lpad", width, c) for c in pads]
            steps += [make_step("rpad", width, c) for c in pads]
            steps += [make_step("left", width), make_step("right", width)]
    raw_lengths = {len(e.canonical) for e in examples}
    if len(raw_lengths) == 1:  # cutting whole bytes off the canonical id
        steps += [
            make_step(cut, n)
            for n in range(2, min(*raw_lengths, MAX_COUNT + 1), 2)
            for cut in ("left", "right")
        ]
    steps += [make_step(trim, c) for trim in ("ltrim", "rtrim") for c in _TRIM_CHARS]
    steps += [make_step("prefix", p) for p in prefixes]
    steps += [make_step("suffix", s) for s in suffixes]
    separators = set.intersection(*({c for c in x if not c.isalnum()} for x in expected))
    steps += [make_step("wiegand26", s) for s in ["", *sorted(separators)]]
    return list({str(step): step for step in steps}.values())


def _check(examples: Sequence[Example]) -> None:
    if len(examples) < MIN_EXAMPLES:
        raise LearnError(f"give at least {MIN_EXAMPLES} pairs; fewer fit too many chains")
    wanted: dict[str, str] = {}
    for example in examples:
        if wanted.setdefault(example.canonical, example.expected) != example.expected:
            raise LearnError("the same card id is paired with two different expected numbers")
        if not example.canonical or not example.expected:
            raise LearnError("a pair has an empty side")


def _shared_start(texts: Sequence[str]) -> str:
    shortest = min(texts, key=len)
    for i, char in enumerate(shortest):
        if any(text[i] != char for text in texts):
            return shortest[:i]
    return shortest


def learn(
    examples: Sequence[Example],
    *,
    max_steps: int = 4,
    max_results: int = 5,
    max_tries: int = 500_000,
) -> list[Chain]:
    """The shortest chains mapping every example's canonical id to its expected number.

    Returns up to ``max_results`` chains of the same, smallest length, or an empty list when no
    chain of up to ``max_steps`` steps is found within ``max_tries`` step applications.

    :raises LearnError: fewer than :data:`MIN_EXAMPLES` examples, or contradicting ones.
    """
    _check(examples)
    start = tuple(e.canonical for e in examples)
    goal = tuple(e.expected for e in examples)
    if start == goal:
        return [Chain()]
    steps = candidate_steps(examples)
    longest = 2 * max(len(x) for x in (*start, *goal)) + _AFFIX_MAX
    seen = {start}
    tries = 0
    frontier: list[tuple[tuple[str, ...], tuple[Step, ...]]] = [(start, ())]
    for depth in range(1, max_steps + 1):
        found: list[Chain] = []
        following: list[tuple[tuple[str, ...], tuple[Step, ...]]] = []
        for values, chain in frontier:
            tries += len(steps)
            if tries > max_tries:
                return found
            for step in steps:
                try:
                    new = tuple(step.fn(v) for v in values)
                except TransformError:
                    continue
                if new == goal:
                    found.append(Chain((*chain, step)))
                    if len(found) == max_results:
                        return found
                elif depth < max_steps and new not in seen and max(map(len, new)) <= longest:
                    seen.add(new)
                    following.append((new, (*chain, step)))
        if found:
            return found
        frontier = following
    return []
