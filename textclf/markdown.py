"""Texts from the data inside the reports' markdown (report.md, audit.md): escaped once, here."""

from __future__ import annotations

import re

SPECIAL_CHARACTERS = re.compile(r"([\\`*_\[\]<>#|~])")


def escape_markdown(text: str) -> str:
    """Markdown's special characters escaped and whitespace folded, so a tweet's `*` or `_` stays a character."""
    return SPECIAL_CHARACTERS.sub(r"\\\1", " ".join(str(text).split()))


def table_cell(text: str, limit: int, show_invisible: bool = False) -> str:
    """A text as one markdown table cell, at most `limit` characters. `show_invisible`: control
    characters (the tweets' \\x89 debris, line breaks) are shown as escapes instead of folded away."""
    text = str(text) if show_invisible else " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if show_invisible:
        text = "".join(character if character.isprintable() else f"\\x{ord(character):02x}" for character in text)
    return escape_markdown(text)
