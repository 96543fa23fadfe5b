"""Rendering the approval pages from the HTML templates shipped in ``templates/``.

Values are escaped here; only other rendered fragments are inserted raw.
"""

from __future__ import annotations

import functools
import html
from importlib import resources
from string import Template


@functools.cache
def _template(name: str) -> Template:
    return Template(resources.files("station.emulator").joinpath("templates", name).read_text("utf-8"))


def stylesheet() -> str:
    return resources.files("station.emulator").joinpath("templates", "style.css").read_text("utf-8")


def fragment(template: str, /, *, raw: dict[str, str] | None = None, **values: object) -> str:
    escaped = {key: html.escape(str(value)) for key, value in values.items()}
    return _template(f"{template}.html").substitute(escaped, **(raw or {}))


def page(title: str, content: str, account: str = "") -> str:
    return fragment("layout", title=title, raw={"content": content, "account": account})


def error(message: str | None) -> str:
    return f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
