"""This boot's id: the kernel's, and "" where it cannot be read (nothing is then trusted)."""

from __future__ import annotations

from pathlib import Path

from station.boot_id import BOOT_ID_PATH, read_boot_id


def test_the_kernels_boot_id_is_read_without_its_newline() -> None:
    kernel = BOOT_ID_PATH.read_text(encoding="ascii")
    assert read_boot_id() == kernel.strip() != ""


def test_an_unreadable_boot_id_is_empty(tmp_path: Path) -> None:
    assert read_boot_id(tmp_path / "missing") == ""
