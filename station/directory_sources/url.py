"""The ``url`` directory source: a CSV or JSON file in the ``badges import`` format at an HTTPS URL.

Fetched with httpx, TLS verified (``ca_file`` or the usual CAs), with ``If-None-Match`` so that
an unchanged file is a short ``304``; a file larger than ``max_bytes`` is refused before it is
read whole. Read-only: write-back is not possible (the configuration refuses it).
"""

from __future__ import annotations

import httpx

from station.config import DirectoryUrlSection
from station.directory import read_import
from station.directory_sources import tls_context
from station.directory_sync import Snapshot, SourceError, SourceRecord


class UrlSource:
    """Fetches ``section.url``; ``transport`` is for tests only."""

    def __init__(self, section: DirectoryUrlSection, *, transport: httpx.BaseTransport | None = None) -> None:
        self._section = section
        self._client = httpx.Client(
            verify=tls_context(section.ca_file),
            timeout=httpx.Timeout(section.timeout_s),
            follow_redirects=False,
            transport=transport,
        )

    def describe(self) -> str:
        return f"url {self._section.url}"

    def fetch(self, version: str) -> Snapshot | None:
        headers = {"Accept": "text/csv, application/json"}
        if version:
            headers["If-None-Match"] = version
        url = self._section.url
        try:
            with self._client.stream("GET", url, headers=headers) as answer:
                if answer.status_code == 304:
                    return None
                if answer.status_code != 200:
                    raise SourceError(f"{url} answered HTTP {answer.status_code}")
                body = self._read_capped(answer)
                etag = answer.headers.get("ETag", "")
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot fetch {url}: {exc or type(exc).__name__}") from exc
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(f"{url} is not UTF-8 text (byte {exc.start})") from exc
        rows, problems = read_import(text)
        records = tuple(
            SourceRecord(f"line {row.line}", row.badge, row.email, row.name, row.user_id) for row in rows
        )
        return Snapshot(records, etag, tuple(str(problem) for problem in problems))

    def _read_capped(self, answer: httpx.Response) -> bytes:
        cap = self._section.max_bytes
        declared = answer.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise SourceError(f"{self._section.url} is {declared} bytes, more than max_bytes = {cap}")
        chunks: list[bytes] = []
        size = 0
        for chunk in answer.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise SourceError(f"{self._section.url} is larger than max_bytes = {cap}")
            chunks.append(chunk)
        return b"".join(chunks)

    def write_badge(self, email: str, badge_id: str) -> None:
        raise SourceError("the url source is read-only; badges cannot be written back to it")

    def remove_badge(self, email: str, badge_id: str) -> None:
        self.write_badge(email, badge_id)  # the same refusal

    def close(self) -> None:
        self._client.close()
