"""Logging: journald's native protocol, and no secret in any line."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

from station.logsetup import JournalHandler, RedactFilter, redact


def test_redact_masks_tokens() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert jwt not in redact(f"got {jwt}")
    assert "s3cr3t" not in redact("Authorization: Bearer s3cr3t")
    assert "abcdef123" not in redact("refresh_token=abcdef123&x=1")
    assert redact("nothing to hide") == "nothing to hide"


def test_filter_rewrites_the_record() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", ("Bearer zzz",), None)
    RedactFilter().filter(record)
    assert "zzz" not in record.getMessage()


def test_journal_handler_sends_structured_fields(tmp_path: Path) -> None:
    address = str(tmp_path / "journal.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    server.settimeout(5)
    handler = JournalHandler(address)
    logger = logging.getLogger("test.journal")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("two\nlines", extra={"station_state": "ready"})
        payload = server.recv(65536)
    finally:
        logger.removeHandler(handler)
        handler.close()
        server.close()
    assert b"PRIORITY=4\n" in payload
    assert b"SYSLOG_IDENTIFIER=release-station\n" in payload
    assert b"STATION_STATE=ready\n" in payload
    assert b"MESSAGE\n" + (9).to_bytes(8, "little") + b"two\nlines\n" in payload


def test_filter_redacts_tracebacks_too() -> None:
    try:
        raise ValueError("Authorization: Bearer zzz-secret")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RedactFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "ValueError" in text and "zzz-secret" not in text
