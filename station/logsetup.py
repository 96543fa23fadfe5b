"""Logging for a terminal and for journald.

On a terminal the station writes readable lines to stderr. Under systemd (``JOURNAL_STREAM``
is set, or ``format = "journal"``) it sends each record to journald's native socket with
structured fields (``PRIORITY``, ``LOGGER``, ``CODE_FILE``/``CODE_LINE``, ``SYSLOG_IDENTIFIER``
and the ``STATION_*`` extras a record carries), so ``journalctl -o verbose`` can filter them.

Never log a token, a secret or a raw badge number: pass none of them to a logger. As a second
line of defence :class:`RedactFilter` masks anything shaped like a JWT or a bearer header.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from collections.abc import Mapping

JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "release-station"

_JWT = re.compile(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[\w.~+/=-]+")
_SECRET_FIELD = re.compile(r"(?i)((?:access|refresh)_token['\"]?\s*[:=]\s*['\"]?)[\w.~+/=-]+")


def redact(text: str) -> str:
    """Mask JWTs, bearer credentials and ``*_token=`` values in ``text``."""
    text = _JWT.sub("<jwt>", text)
    text = _BEARER.sub(r"\1<redacted>", text)
    return _SECRET_FIELD.sub(r"\1<redacted>", text)


class RedactFilter(logging.Filter):
    """Rewrites a record's message and traceback through :func:`redact` before the handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text, so the traceback they print is the redacted one.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _priority(levelno: int) -> int:
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return _PRIORITY[level]
    return 7


class JournalHandler(logging.Handler):
    """Sends records to journald's native protocol socket (``KEY=value`` lines per datagram)."""

    def __init__(self, address: str = JOURNAL_SOCKET, identifier: str = IDENTIFIER) -> None:
        super().__init__()
        self._address = address
        self._identifier = identifier
        self._socket: socket.socket | None = None
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def fields(self, record: logging.LogRecord) -> Mapping[str, str]:
        message = self.format(record)
        fields = {
            "MESSAGE": message,
            "PRIORITY": str(_priority(record.levelno)),
            "SYSLOG_IDENTIFIER": self._identifier,
            "LOGGER": record.name,
            "CODE_FILE": record.pathname,
            "CODE_LINE": str(record.lineno),
            "CODE_FUNC": record.funcName,
            "THREAD_NAME": record.threadName or "",
        }
        for key, value in record.__dict__.items():
            if key.startswith("station_"):
                fields["STATION_" + key[len("station_") :].upper()] = str(value)
        return fields

    def emit(self, record: logging.LogRecord) -> None:
        try:
            payload = bytearray()
            for key, value in self.fields(record).items():
                data = value.encode("utf-8", "replace")
                if b"\n" in data:
                    # Values with newlines use the length-prefixed form of the protocol.
                    payload += key.encode() + b"\n" + len(data).to_bytes(8, "little") + data + b"\n"
                else:
                    payload += key.encode() + b"=" + data + b"\n"
            assert self._socket is not None
            self._socket.sendto(bytes(payload), self._address)
        except OSError:
            self.handleError(record)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        super().close()


def use_journal(fmt: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``fmt`` ("auto", "text", "journal") means journald here."""
    env = os.environ if environ is None else environ
    if fmt == "journal":
        return True
    return fmt == "auto" and bool(env.get("JOURNAL_STREAM")) and os.path.exists(JOURNAL_SOCKET)


def setup_logging(level: str = "INFO", fmt: str = "auto") -> logging.Handler:
    """Configure the root logger once for this process and return the handler it uses."""
    handler: logging.Handler
    if use_journal(fmt):
        handler = JournalHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(RedactFilter())
    handler.set_name(IDENTIFIER)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == IDENTIFIER:  # ours from an earlier call; leave others (pytest's) be
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; our URLs carry no secrets, but keep the noise down.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return handler
