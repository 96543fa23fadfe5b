"""``release-station card learn|test``: find a card-number transform chain, and try cards live.

``card learn RAW=EXPECTED …`` (or ``--file pairs.csv``) takes three or more pairs of what the
reader gives (the canonical id ``card test`` prints; ``--raw decimal`` or ``--raw hex`` for what
a keyboard-wedge reader types) and the number the directory or ezeep expects for the same card,
and prints the shortest transform chains that map every pair, ready for ``[transforms]``.

``card test`` runs the configured reader (``auto`` finds one) and prints, for every card, the
raw read, the canonical id and the id after the reader kind's transform chain. With the
simulated reader, commands typed on standard input (``tap 04A1B2C3``, ``key 1``) tap cards.
These are admin tools: unlike the logs, they show card numbers, on the admin's terminal.
"""

from __future__ import annotations

import argparse
import csv
import queue
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from station.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Context
from station.events import BadgeRead, ReaderEvent, ReaderKind
from station.reader_kinds import READER_KINDS

if TYPE_CHECKING:
    from drivers.learn import Example
    from drivers.readers.base import Reader
    from drivers.readers.simulated import SimulatedReader
    from drivers.transforms import Chain

_POLL_S = 0.5  # how often `card test` looks at its deadline while no card comes


def register(subparsers: Any) -> None:
    from drivers.transforms import step_reference

    card = subparsers.add_parser(
        "card",
        help="find a card-number transform chain, or try cards live",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="transform steps, joined by | in a chain:\n  " + "\n  ".join(step_reference()),
    )
    actions = card.add_subparsers(dest="action", required=True, metavar="ACTION")
    learn = actions.add_parser("learn", help="print the shortest transform chains mapping example pairs")
    learn.add_argument(
        "pairs", nargs="*", metavar="RAW=EXPECTED", help="what the reader gives = what is expected"
    )
    learn.add_argument("--file", type=Path, help="a CSV file of RAW,EXPECTED rows (a header row is fine)")
    learn.add_argument(
        "--raw",
        choices=("canonical", "decimal", "hex"),
        default="canonical",
        help="RAW is the canonical id `card test` prints (default), or what a wedge reader types",
    )
    learn.add_argument(
        "--kind", choices=READER_KINDS, help="the reader kind, to print the configuration line"
    )
    learn.set_defaults(func=_learn)
    test = actions.add_parser("test", help="read cards and print raw, canonical and transformed ids")
    test.add_argument("--count", type=int, default=0, help="stop after this many cards (default: Ctrl-C)")
    test.add_argument(
        "--timeout", type=float, default=0, help="stop after this many seconds (default: never)"
    )
    test.set_defaults(func=_test)


# -- card learn ----------------------------------------------------------------------------


def _learn(args: argparse.Namespace, context: Context) -> int:
    from drivers.learn import MIN_EXAMPLES, LearnError, learn

    try:
        rows = _rows(args.pairs, args.file)
        examples = [_example(i, raw, expected, args.raw) for i, (raw, expected) in enumerate(rows, 1)]
        chains = learn(examples)
    except (LearnError, ValueError, OSError) as exc:
        print(f"card learn: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not chains:
        print(
            f"No chain of up to 4 steps maps all {len(examples)} pairs. Check the pairs (at least "
            f"{MIN_EXAMPLES}, each from the same kind of reader), or write a regex step by hand.",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    print(f"Shortest chains mapping all {len(examples)} pairs:")
    for chain in chains:
        print(f"  {chain}" if len(chain) else "  (none needed: the canonical id is what is expected)")
    if len(chains[0]):
        kind = args.kind or "<reader kind>"
        print(f"\nIn the configuration:\n  [transforms]\n  {kind} = {_toml_string(str(chains[0]))}")
    return EXIT_OK


def _rows(pairs: list[str], file: Path | None) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for i, pair in enumerate(pairs, 1):
        raw, sep, expected = pair.partition("=")
        if not sep:
            raise ValueError(f"pair {i} has no '=': write RAW=EXPECTED")
        rows.append((raw, expected))
    if file is not None:
        with file.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.reader(handle), 1):
                if not row or row[0].lstrip().startswith("#"):
                    continue
                if len(row) != 2:
                    raise ValueError(f"{file}, line {line}: expected two columns, RAW,EXPECTED")
                if line == 1 and row[0].strip().lower() in ("raw", "canonical", "reader"):
                    continue  # a header
                rows.append((row[0], row[1]))
    return rows


def _example(index: int, raw: str, expected: str, raw_format: str) -> Example:
    from drivers.learn import Example
    from drivers.readers.keymap import text_to_uid

    raw, expected = raw.strip(), expected.strip()
    try:
        if raw_format == "canonical":
            canonical = bytes.fromhex(raw.replace(":", "").replace(" ", "")).hex().upper()
        else:
            canonical = text_to_uid(raw, "decimal" if raw_format == "decimal" else "hex").hex().upper()
    except ValueError:
        what = "the canonical id (hex, as `card test` prints it)" if raw_format == "canonical" else raw_format
        raise ValueError(f"pair {index}: RAW must be {what}") from None
    return Example(canonical, expected)


def _toml_string(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- card test -----------------------------------------------------------------------------


def _test(args: argparse.Namespace, context: Context) -> int:
    from drivers.readers.auto import open_readers
    from drivers.readers.base import ReaderThread
    from drivers.readers.simulated import SimulatedReader
    from drivers.transforms import chains_from_config

    config = context.config
    chains = chains_from_config(config.transforms, config.source)
    readers = open_readers(config.reader)
    events: queue.Queue[ReaderEvent] = queue.Queue()
    threads = [ReaderThread(reader, events.put) for reader in readers]
    for thread in threads:
        thread.start()
    for reader in readers:
        if isinstance(reader, SimulatedReader):
            _feed_from(sys.stdin, reader)
    print(f"Reading cards with {_names(readers)}; Ctrl-C ends.", file=sys.stderr)
    try:
        _show_reads(events, chains, config.reader.min_uid_bytes, count=args.count, timeout_s=args.timeout)
    finally:
        for thread in threads:
            thread.stop()
    return EXIT_OK


def _names(readers: list[Reader]) -> str:
    return ", ".join(f"{reader.kind} ({reader.name})" for reader in readers)


def _feed_from(stream: TextIO, reader: SimulatedReader) -> None:
    """Tap cards from commands typed on ``stream`` until it ends (daemon thread)."""

    def feed() -> None:
        for line in stream:
            if line.strip():
                try:
                    reader.command(line)
                except ValueError as exc:
                    print(f"simulated reader: {exc}", file=sys.stderr)

    threading.Thread(target=feed, name="card-test-stdin", daemon=True).start()


def _show_reads(
    events: queue.Queue[ReaderEvent],
    chains: Mapping[ReaderKind, Chain],
    min_uid_bytes: int,
    *,
    count: int,
    timeout_s: float,
) -> None:
    from drivers.transforms import TransformError

    deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
    seen = 0
    while not count or seen < count:
        wait = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
        if wait <= 0:
            return
        try:
            event = events.get(timeout=wait)
        except queue.Empty:
            continue
        if not isinstance(event, BadgeRead):
            state = "ready" if event.ok else "not available"
            print(
                f"{event.reader_kind} reader {event.reader_name}: {state} ({event.detail})", file=sys.stderr
            )
            continue
        seen += 1
        try:
            result = chains[event.reader_kind].apply(event.canonical_id)
        except TransformError as exc:
            result = f"(transform failed: {exc})"
        notes = []
        if len(event.uid) < min_uid_bytes:
            notes.append(f"too short: {len(event.uid)} bytes, reader.min_uid_bytes is {min_uid_bytes}")
        if event.is_random_uid:
            notes.append("random UID: changes on every tap, cannot be enrolled")
        print(
            f"{event.reader_kind}  raw {event.raw}  canonical {event.canonical_id}  id {result}"
            + "".join(f"  [{note}]" for note in notes),
            flush=True,
        )
