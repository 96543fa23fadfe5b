"""Card-number transform chains: the small pipeline language of the ``[transforms]`` section.

A chain turns the canonical id (upper-case hex of the UID as the card sent it) into the number
the badge directory and ezeep expect, for example::

    reverse | hex2dec | lpad(10, "0")

Steps are joined by ``|``; a step is a name, optionally followed by arguments in parentheses.
An argument is a whole number (``10``), a quoted string (``"0"`` or ``'0'``, backslash escapes
the quote) or a bare word (``F``). Digits keep their leading zeros when a step wants text, so
``prefix(007)`` prefixes ``007``.

The steps, their arguments and what each does are one table, :data:`STEPS`; the parser, the
error hints, ``release-station card --help`` and the step lists in ``README.md`` and
``config/station.toml`` all come from it (a test compares those two files with the table).
For example ``reverse`` turns ``E43AC9D2`` into ``D2C93AE4``, and ``hex2dec`` keeps leading
zeros by padding to the width of the largest number of that many bytes (8 hex digits → 10
decimal digits).

:func:`parse_chain` reports a syntax error with its position. :meth:`Chain.apply` raises
:class:`TransformError` when a read does not fit the chain (``hex2dec`` of a non-hex id, a
Wiegand frame with a wrong parity bit); its message never contains the badge number.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from station.config import TransformsSection
from station.errors import ConfigError, StationError
from station.events import ReaderKind
from station.reader_kinds import READER_KINDS

Arg = int | str
ParamKind = Literal["count", "char", "text", "regex"]

MAX_COUNT = 64  # longer card numbers do not exist; a bigger number is a typo


class TransformError(StationError, ValueError):
    """A card number does not fit the transform chain (the message never shows the number)."""


class TransformSyntaxError(TransformError):
    """A chain expression is wrong; ``position`` is the 0-based index in ``text``."""

    def __init__(self, problem: str, text: str, position: int) -> None:
        self.problem = problem
        self.text = text
        self.position = position
        super().__init__(f"{problem} (at character {position + 1})")

    def pointer(self) -> str:
        """The expression and a caret under the place of the error, for a terminal."""
        return f"{self.text}\n{' ' * self.position}^"


# -- widths that keep leading zeros --------------------------------------------------------


def decimal_width(n_bytes: int) -> int:
    """Digits of the largest number ``n_bytes`` bytes hold: 4 bytes → 10 digits."""
    return len(str(256**n_bytes - 1))


def bytes_for_decimal_width(digits: int) -> int:
    """The fewest bytes whose largest number has at least ``digits`` digits: 10 → 4."""
    n_bytes = 1
    while decimal_width(n_bytes) < digits:
        n_bytes += 1
    return n_bytes


# -- the steps -----------------------------------------------------------------------------

_HEX = re.compile(r"[0-9A-Fa-f]+")
_DEC = re.compile(r"[0-9]+")


def _need(pattern: re.Pattern[str], value: str, step: str, what: str) -> None:
    if not pattern.fullmatch(value):
        raise TransformError(f"{step}: the id is not {what} ({len(value)} characters)")


def _reverse(value: str) -> str:
    _need(_HEX, value, "reverse", "hex")
    if len(value) % 2:
        raise TransformError(f"reverse: the id is not whole bytes ({len(value)} hex digits)")
    return "".join(value[i : i + 2] for i in range(len(value) - 2, -1, -2))


def _hex2dec(value: str) -> str:
    _need(_HEX, value, "hex2dec", "hex")
    return str(int(value, 16)).zfill(decimal_width((len(value) + 1) // 2))


def _dec2hex(value: str) -> str:
    _need(_DEC, value, "dec2hex", "decimal")
    number = int(value)
    n_bytes = max(bytes_for_decimal_width(len(value)), (number.bit_length() + 7) // 8)
    return f"{number:0{2 * n_bytes}X}"


def _trim_left(value: str, char: str) -> str:
    return value[:-1].lstrip(char) + value[-1:]


def _trim_right(value: str, char: str) -> str:
    return value[:1] + value[1:].rstrip(char)


def _regex(pattern: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def apply(value: str) -> str:
        match = compiled.search(value)
        if match is None:
            raise TransformError("regex: the pattern does not match the id")
        found = match.group(1) if compiled.groups else match.group(0)
        if found is None:
            raise TransformError("regex: the first group took no part in the match")
        return found

    return apply


def _wiegand26(separator: str) -> Callable[[str], str]:
    def apply(value: str) -> str:
        _need(_HEX, value, "wiegand26", "hex")
        frame = int(value, 16)
        if frame >= 1 << 26:
            raise TransformError(f"wiegand26: the id has {frame.bit_length()} bits, not 26")
        even_half, odd_half = (frame >> 13) & 0xFFF, (frame >> 1) & 0xFFF
        if ((frame >> 25) + even_half.bit_count()) % 2 != 0:
            raise TransformError("wiegand26: the leading (even) parity bit is wrong")
        if ((frame & 1) + odd_half.bit_count()) % 2 != 1:
            raise TransformError("wiegand26: the trailing (odd) parity bit is wrong")
        return f"{(frame >> 17) & 0xFF:03d}{separator}{(frame >> 1) & 0xFFFF:05d}"

    return apply


@dataclass(frozen=True)
class Param:
    """One argument of a step: its name (for messages), kind and default (None: required)."""

    name: str
    kind: ParamKind
    default: Arg | None = None


@dataclass(frozen=True)
class StepSpec:
    """A step the language knows: its parameters, how to build it from arguments, and its doc.

    ``doc`` is the one line every list of steps shows (``README.md``, ``config/station.toml``,
    ``card --help``).
    """

    name: str
    params: tuple[Param, ...]
    build: Callable[..., Callable[[str], str]]
    doc: str

    @property
    def usage(self) -> str:
        """How the step is written, with its parameters: ``lpad(n, c)``."""
        return f"{self.name}({', '.join(p.name for p in self.params)})" if self.params else self.name


def _plain(fn: Callable[[str], str]) -> Callable[[], Callable[[str], str]]:
    return lambda: fn


_COUNT, _CHAR, _TEXT = Param("n", "count"), Param("c", "char", "0"), Param("s", "text")

STEPS: Mapping[str, StepSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            StepSpec("reverse", (), _plain(_reverse), "reverse the byte order of a hex number"),
            StepSpec(
                "hex2dec", (), _plain(_hex2dec), "hex to decimal, zero-padded to the width of that many bytes"
            ),
            StepSpec(
                "dec2hex", (), _plain(_dec2hex), "decimal to upper-case hex, zero-padded to whole bytes"
            ),
            StepSpec(
                "lpad",
                (_COUNT, _CHAR),
                lambda n, c: lambda v: v.rjust(n, c),
                "pad on the left with c (default 0) to n characters; never cuts",
            ),
            StepSpec(
                "rpad",
                (_COUNT, _CHAR),
                lambda n, c: lambda v: v.ljust(n, c),
                "pad on the right with c (default 0) to n characters; never cuts",
            ),
            StepSpec("left", (_COUNT,), lambda n: lambda v: v[:n], "the first n characters"),
            StepSpec("right", (_COUNT,), lambda n: lambda v: v[-n:], "the last n characters"),
            StepSpec(
                "ltrim",
                (_CHAR,),
                lambda c: lambda v: _trim_left(v, c),
                "drop leading c (default 0), but never the last character",
            ),
            StepSpec(
                "rtrim",
                (_CHAR,),
                lambda c: lambda v: _trim_right(v, c),
                "drop trailing c (default 0), but never the first character",
            ),
            StepSpec("upper", (), _plain(str.upper), "upper case"),
            StepSpec("lower", (), _plain(str.lower), "lower case"),
            StepSpec("prefix", (_TEXT,), lambda s: lambda v: s + v, "put s in front"),
            StepSpec("suffix", (_TEXT,), lambda s: lambda v: v + s, "put s after"),
            StepSpec(
                "regex",
                (Param("pattern", "regex"),),
                _regex,
                "the first group of a match of pattern (the whole match if no group)",
            ),
            StepSpec(
                "wiegand26",
                (Param("sep", "text", ""),),
                _wiegand26,
                "an H10301 frame in hex → facility, sep, card number; parity checked",
            ),
        )
    }
)
"""Every step by name, in the order the lists show them; read-only."""


def step_reference() -> list[str]:
    """One line per step, usage and doc, as ``card --help`` and ``config/station.toml`` list them."""
    width = max(len(spec.usage) for spec in STEPS.values())
    return [f"{spec.usage:<{width}}  {spec.doc}" for spec in STEPS.values()]


# -- chains --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step with its arguments; ``str()`` gives it in the config's syntax."""

    name: str
    args: tuple[Arg, ...] = ()
    fn: Callable[[str], str] = field(default=lambda v: v, compare=False, repr=False)

    def __str__(self) -> str:
        args = list(self.args)
        params = STEPS[self.name].params
        while args and args[-1] == params[len(args) - 1].default:
            args.pop()  # the shortest spelling: lpad(10), not lpad(10, "0")
        return f"{self.name}({', '.join(_render(a) for a in args)})" if args else self.name


@dataclass(frozen=True)
class Chain:
    """A parsed chain; the empty chain keeps the canonical id as it is."""

    steps: tuple[Step, ...] = ()

    def apply(self, canonical_id: str) -> str:
        """Run every step in turn. :raises TransformError: the id does not fit a step."""
        value = canonical_id
        for step in self.steps:
            value = step.fn(value)
        return value

    def __str__(self) -> str:
        return " | ".join(str(step) for step in self.steps)

    def __len__(self) -> int:
        return len(self.steps)


def make_step(name: str, *args: Arg) -> Step:
    """Build a step from Python values, checking them like the parser does.

    :raises ValueError: unknown step or unfit arguments.
    """
    spec = STEPS.get(name)
    if spec is None:
        raise ValueError(f"unknown step {name!r}")
    values = _fill(spec, [(a, 0) for a in args], 0)
    return Step(name, values, spec.build(*values))


def _render(arg: Arg) -> str:
    if isinstance(arg, int):
        return str(arg)
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- the parser ----------------------------------------------------------------------------

TokenKind = Literal["name", "number", "string", "punct", "end"]


@dataclass(frozen=True)
class _Token:
    kind: TokenKind
    text: str
    position: int


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+")


def _tokens(text: str) -> Iterator[_Token]:
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "|(),":
            yield _Token("punct", char, i)
            i += 1
        elif char in "\"'":
            value, i = _string(text, i)
            yield value
        elif match := _WORD.match(text, i) or _NUMBER.match(text, i):
            yield _Token("name" if char.isalpha() or char == "_" else "number", match.group(), i)
            i = match.end()
        else:
            raise TransformSyntaxError(f"unexpected {char!r}", text, i)
    yield _Token("end", "", len(text))


def _string(text: str, start: int) -> tuple[_Token, int]:
    quote, i, chars = text[start], start + 1, []
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            chars.append(text[i + 1])
            i += 2
        elif char == quote:
            return _Token("string", "".join(chars), start), i + 1
        else:
            chars.append(char)
            i += 1
    raise TransformSyntaxError("this string has no closing quote", text, start)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(_tokens(text))
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.token
        self.index += 1
        return token

    def error(self, problem: str, token: _Token | None = None) -> TransformSyntaxError:
        return TransformSyntaxError(problem, self.text, (token or self.token).position)

    def at(self, kind: TokenKind, text: str = "") -> bool:
        return self.token.kind == kind and (not text or self.token.text == text)

    def expect(self, punct: str, what: str) -> _Token:
        if not self.at("punct", punct):
            raise self.error(f"expected {what}, found {_describe(self.token)}")
        return self.advance()

    def chain(self) -> Chain:
        if self.at("end"):
            return Chain()
        steps = [self.step()]
        while not self.at("end"):
            self.expect("|", '"|" between steps')
            steps.append(self.step())
        return Chain(tuple(steps))

    def step(self) -> Step:
        token = self.token
        if token.kind != "name":
            raise self.error(f"expected a step name, found {_describe(token)}")
        self.advance()
        spec = STEPS.get(token.text.lower())
        if spec is None:
            close = difflib.get_close_matches(token.text.lower(), list(STEPS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; steps: {', '.join(STEPS)}"
            raise self.error(f"unknown step {token.text!r}{hint}", token)
        args: list[tuple[Arg, int]] = []
        end = token.position + len(token.text)
        if self.at("punct", "("):
            self.advance()
            if not self.at("punct", ")"):
                args.append(self.arg())
                while self.at("punct", ","):
                    self.advance()
                    args.append(self.arg())
            end = self.expect(")", '"," or ")"').position
        try:
            values = _fill(spec, args, end)
            return Step(spec.name, values, spec.build(*values))
        except _ArgError as exc:
            raise TransformSyntaxError(str(exc), self.text, exc.position) from None

    def arg(self) -> tuple[Arg, int]:
        token = self.token
        if token.kind not in ("name", "number", "string"):
            raise self.error(f"expected an argument, found {_describe(token)}")
        self.advance()
        if token.kind == "number":
            return token.text, token.position  # kept as text: the parameter decides
        return _Quoted(token.text) if token.kind == "string" else token.text, token.position


class _Quoted(str):
    """A string argument that was quoted, so it is never read as a number."""

    __slots__ = ()


class _ArgError(ValueError):
    def __init__(self, problem: str, position: int) -> None:
        super().__init__(problem)
        self.position = position


def _fill(spec: StepSpec, args: Sequence[tuple[Arg, int]], end: int) -> tuple[Arg, ...]:
    """Check and convert the arguments of one step, adding defaults."""
    if len(args) > len(spec.params):
        extra = args[len(spec.params)][1]
        takes = f"takes at most {len(spec.params)}" if spec.params else "takes no"
        raise _ArgError(f"{spec.name} {takes} argument{'s' if len(spec.params) != 1 else ''}", extra)
    values: list[Arg] = []
    for i, param in enumerate(spec.params):
        if i < len(args):
            values.append(_convert(spec.name, param, *args[i]))
        elif param.default is not None:
            values.append(param.default)
        else:
            raise _ArgError(f"{spec.name} needs its argument {param.name}", end)
    return tuple(values)


def _convert(step: str, param: Param, value: Arg, position: int) -> Arg:
    where = f"{step}: {param.name}"
    if param.kind == "count":
        if isinstance(value, _Quoted) or not str(value).isdigit():
            raise _ArgError(f"{where} must be a whole number", position)
        number = int(value)
        if not 0 < number <= MAX_COUNT:
            raise _ArgError(f"{where} must be between 1 and {MAX_COUNT}", position)
        return number
    text = str(value)
    if param.kind == "char" and len(text) != 1:
        raise _ArgError(f"{where} must be one character", position)
    if param.kind == "regex":
        try:
            re.compile(text)
        except re.error as exc:
            raise _ArgError(f"{where} is not a valid regular expression: {exc.msg}", position) from None
    return text


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end"
    if token.kind == "string":
        return "a string"
    return repr(token.text)


def parse_chain(text: str) -> Chain:
    """Parse a chain expression; an empty one keeps the id.

    :raises TransformSyntaxError: with the position of the first error.
    """
    return _Parser(text).chain()


def chains_from_config(section: TransformsSection, source: str) -> dict[ReaderKind, Chain]:
    """Parse the chain of every reader kind, as the station does at start-up.

    :raises ConfigError: naming the file, the key (``transforms.nfc``) and the position.
    """
    chains: dict[ReaderKind, Chain] = {}
    for kind in READER_KINDS:
        try:
            chains[kind] = parse_chain(section.chain(kind))
        except TransformSyntaxError as exc:
            raise ConfigError(source, f"transforms.{kind}", str(exc)) from exc
    return chains
