"""Word and character tokenizers for datatrove's steps, with no data to download.

datatrove's English word tokenizer is NLTK's punkt, whose data no pinned wheel ships and which
NLTK would fetch at run time; nothing here may reach a network. A regex splitter does what the
Gopher repetition rules and the decontamination n-grams need (words and punctuation apart)."""

from __future__ import annotations

import re

from datatrove.utils.word_tokenizers import WordTokenizer

WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]", re.UNICODE)
SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")


class RegexWords(WordTokenizer):
    """Words and single punctuation marks; sentences end at . ! or ? followed by a space."""

    def __init__(self) -> None:
        super().__init__("en")

    def word_tokenize(self, text: str) -> list[str]:
        return WORD_RE.findall(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [s for s in SENTENCE_END_RE.split(text) if s.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        spans, start = [], 0
        for m in SENTENCE_END_RE.finditer(text):
            spans.append((start, m.start()))
            start = m.end()
        if start < len(text):
            spans.append((start, len(text)))
        return spans
