"""First boot's paths in a temporary directory (boot and data partitions, /etc, /run, the console)."""

from __future__ import annotations

from pathlib import Path

from station.firstboot import Paths


def make_paths(tmp_path: Path) -> Paths:
    for name in ("boot", "data", "etc", "run"):
        (tmp_path / name).mkdir()
    (tmp_path / "tty1").touch()
    (tmp_path / "proc-cmdline").write_text("console=tty1 root=/dev/vda2 ro\n")
    return Paths(
        boot=tmp_path / "boot",
        data=tmp_path / "data",
        etc=tmp_path / "etc",
        run=tmp_path / "run" / "firstboot",
        console=tmp_path / "tty1",
        group="no-such-group-here",
        cmdline=tmp_path / "proc-cmdline",
    )
