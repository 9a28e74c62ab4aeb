"""The error every data check raises: its message names the file, the row or column, and the rule."""

from __future__ import annotations

from typing import Any

QUOTE_LIMIT = 200  # characters of user data an error message may quote


def clip(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)`, cut to `limit` characters: a 5 MB line quoted in an error is no help."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text):,} characters)"


def md_escape(text: Any) -> str:
    """User data (a label, a quoted value) made safe for a Markdown report: HTML-escaped, so a
    viewer that renders inline HTML shows `<script>` as text, and `|` escaped inside table cells."""
    import html

    return html.escape(str(text), quote=False).replace("|", "\\|")


class DataSourceError(ValueError):
    pass


def limit_above(n: int) -> int:
    """A limit a little above `n` that reads well, for a refusal to suggest: 4,210 -> 5,000; 731 -> 800."""
    import math

    step = 10 ** max(0, len(str(n)) - 1)
    return math.ceil((n + 1) / step) * step
