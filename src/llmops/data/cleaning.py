"""Text repair and normalisation, applied identically at training and prediction time."""

from __future__ import annotations

import re
from typing import Any

import ftfy

URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
MENTION_RE = re.compile(r"@\w+")
SPACE_RE = re.compile(r"\s+")
# Encoding damage as it looks after decoding bytes as Latin-1: C1 control characters (never in real
# text) or the classic UTF-8-read-as-Latin-1 pairs ("Ã©", "â€™", "Â ", "Õ¢").
MOJIBAKE_RE = r"(?:[\x80-\x9f]|Ã[\x80-\xbf]|â€|Â[\x80-\xbf ]|Õ[\x80-\xbf])"
# A run of high Latin-1 characters (with the underscores some exporters put in lost bytes).
_HIGH_RUN_RE = re.compile(r"_?[\x80-\xff](?:[\x80-\xff_]*[\x80-\xff])?_?")


def _repair_latin1_run(m: re.Match) -> str:
    run = m.group(0)
    try:  # genuine UTF-8 bytes that were read as Latin-1: decode them back ("Ã©" -> "é")
        return run.strip("_").encode("latin-1").decode("utf-8") + (
            "_" if run.endswith("_") and "_" not in run[:-1] else ""
        )
    except UnicodeError:
        pass
    # Irrecoverable bytes: inside a word they were almost always an apostrophe ("donÕ¢_ŠÎ_†¢t").
    s, e = m.span()
    text = m.string
    inside_word = s > 0 and e < len(text) and text[s - 1].isalnum() and text[e].isalnum()
    return "'" if inside_word else " "


def repair_latin1(text: str) -> str:
    """Undo damage in text that was decoded as Latin-1 from bytes that were not Latin-1."""
    return _HIGH_RUN_RE.sub(_repair_latin1_run, text)


def clean_text(
    text: str,
    normalize_urls: bool = True,
    normalize_mentions: bool = True,
    lowercase: bool = False,
    latin1_source: bool = False,
) -> str:
    if latin1_source:
        text = repair_latin1(text)
    text = ftfy.fix_text(text)  # mojibake, HTML entities (&amp;), odd quotes
    if normalize_urls:
        text = URL_RE.sub("<url>", text)
    if normalize_mentions:
        text = MENTION_RE.sub("@user", text)
    text = SPACE_RE.sub(" ", text).strip()  # also folds bare \r and newlines inside texts
    return text.lower() if lowercase else text


def cleaner(cfg: Any, latin1_source: bool = False):
    """clean_text with the options of `data.preprocess`."""
    opts = dict(
        normalize_urls=bool(cfg.normalize_urls),
        normalize_mentions=bool(cfg.normalize_mentions),
        lowercase=bool(cfg.lowercase),
        latin1_source=latin1_source,
    )
    return lambda text: clean_text(text, **opts)
