#!/usr/bin/env python3
"""Cuts a root file system's kernel modules down to the allow-list (``modules-allowlist.txt``).

    python3 image-build/prune_modules.py ROOT

For each kernel under ``ROOT/usr/lib/modules``: keeps the modules the allow-list matches and,
with them, every module they need (``modules.dep``) or ask to have loaded before or after them
(``modules.softdep``), and deletes the others. The caller runs ``depmod`` afterwards, inside
the root, so that the module index is made by the image's own kmod. Prints one line a kernel:
modules and MB kept of all, and the allow-list lines that matched none of its modules (one
list serves both profiles' kernels, so a Pi 5 line matches nothing in Debian's: the line says
so, and a renamed driver does not go missing without a word).
"""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ALLOWLIST = Path(__file__).with_name("modules-allowlist.txt")
TREE = "kernel/"  # modules.dep names modules by their path under the kernel's module directory


@dataclass(frozen=True)
class Allowlist:
    """Patterns (fnmatch, ``*`` crosses ``/``) over a module's path under ``kernel/``."""

    keep: tuple[str, ...]
    drop: tuple[str, ...]

    def admits(self, path: str) -> bool:
        def matches(patterns: Iterable[str]) -> bool:
            return any(fnmatch.fnmatchcase(path, p) for p in patterns)

        return matches(self.keep) and not matches(self.drop)

    def unmatched(self, paths: Iterable[str]) -> list[str]:
        """The keep patterns that match none of ``paths``."""
        listed = list(paths)
        return [p for p in self.keep if not fnmatch.filter(listed, p)]


@dataclass(frozen=True)
class Pruned:
    kept: int
    total: int
    kept_bytes: int
    total_bytes: int
    unmatched: tuple[str, ...]  # allow-list lines that matched no module of this kernel


def read_allowlist(path: Path = ALLOWLIST) -> Allowlist:
    entries = re.sub(r"#.*", "", path.read_text()).split()
    return Allowlist(
        keep=tuple(e for e in entries if not e.startswith("!")),
        drop=tuple(e[1:] for e in entries if e.startswith("!")),
    )


def module_name(path: str) -> str:
    """``kernel/drivers/hid/hid-generic.ko.xz`` -> ``hid_generic`` (kmod's name for it)."""
    return Path(path).name.split(".ko")[0].replace("-", "_")


def parse_dep(text: str) -> dict[str, tuple[str, ...]]:
    """``modules.dep``: each module's path and the paths of the modules it needs."""
    deps = {}
    for line in text.splitlines():
        module, sep, needs = line.partition(":")
        if sep:
            deps[module.strip()] = tuple(needs.split())
    return deps


def parse_softdep(text: str) -> dict[str, list[str]]:
    """``modules.softdep``: each module's name and the modules or aliases it wants loaded before
    or after it."""
    soft: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "softdep":
            wanted = soft.setdefault(words[1].replace("-", "_"), [])
            wanted += [w for w in words[2:] if w not in ("pre:", "post:")]
    return soft


def parse_alias(text: str) -> dict[str, list[str]]:
    """``modules.alias``: the modules behind each plain alias (``crypto-crc32c``; no wildcards)."""
    modules: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "alias" and not any(c in words[1] for c in "*?["):
            modules.setdefault(words[1], []).append(words[2])
    return modules


def closure(
    allow: Allowlist,
    deps: Mapping[str, Sequence[str]],
    soft: Mapping[str, Sequence[str]],
    aliases: Mapping[str, Sequence[str]],
) -> set[str]:
    """The paths of the allowed modules and of everything they need, hard or soft (a soft
    dependency may name a module or an alias: ``ext4`` wants ``crypto-crc32c``)."""
    by_name = {module_name(path): path for path in deps}

    def named(name: str) -> list[str]:
        names = (name.replace("-", "_"), *(n.replace("-", "_") for n in aliases.get(name, ())))
        return [by_name[n] for n in names if n in by_name]

    todo = [path for path in deps if allow.admits(path.removeprefix(TREE))]
    kept: set[str] = set()
    while todo:
        path = todo.pop()
        if path in kept:
            continue
        kept.add(path)
        todo.extend(deps.get(path, ()))
        for name in soft.get(module_name(path), ()):
            todo.extend(named(name))
    return kept


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def prune(moddir: Path, allow: Allowlist) -> Pruned:
    """Deletes the modules of one kernel's directory that ``allow`` does not keep."""
    deps = parse_dep((moddir / "modules.dep").read_text())
    soft = parse_softdep(_read(moddir / "modules.softdep"))
    kept = closure(allow, deps, soft, parse_alias(_read(moddir / "modules.alias")))
    sizes = {path: (moddir / path).stat().st_size for path in deps}
    for path in set(deps) - kept:
        (moddir / path).unlink()
    for directory in sorted((d for d in (moddir / "kernel").rglob("*") if d.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    unmatched = tuple(allow.unmatched(path.removeprefix(TREE) for path in deps))
    return Pruned(len(kept), len(deps), sum(sizes[p] for p in kept), sum(sizes.values()), unmatched)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: {Path(__file__).name} ROOT", file=sys.stderr)
        return 2
    allow = read_allowlist()
    for moddir in sorted(Path(argv[0], "usr/lib/modules").iterdir()):
        result = prune(moddir, allow)
        mb = 1024 * 1024
        print(
            f"kernel {moddir.name}: kept {result.kept} of {result.total} modules,"
            f" {result.kept_bytes // mb} of {result.total_bytes // mb} MB"
        )
        if result.unmatched:
            print(f"  allow-list lines that match no module here: {' '.join(result.unmatched)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
