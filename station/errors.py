"""The station's error family.

::

    StationError
    ├── ConfigError   (also a ValueError)  the configuration file is wrong
    └── StorageError                       the state directory or database failed

Each subsystem adds its own branch under :class:`StationError` (the cloud client adds
``CloudError`` and its children), so callers can catch broadly or precisely.
"""

from __future__ import annotations


class StationError(Exception):
    """Base of every error the station raises on purpose."""


class ConfigError(StationError, ValueError):
    """The configuration is wrong; the message names the file, the key and what is allowed."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class StorageError(StationError):
    """The state directory or the database could not be read or written (full disk, damage)."""
