"""Tokenise documents and pack them, EOS-separated, into one flat memory-mapped token array."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 65536 else np.uint32)


def pack_sources(
    docs: Iterable[tuple[str, str]], tok: Tokenizer, eos_id: int, out: Path, dtype: np.dtype, chunk: int = 2048
) -> tuple[int, list[list]]:
    """Append each (text, source) document's tokens then EOS to `out`, a chunk at a time (memory
    flat in corpus size). Returns the token count and the token ranges [source, start, end) of
    contiguous runs of one source, so pre-training can weight sources (a data mixture)."""
    n = 0
    segments: list[list] = []
    batch: list[str] = []
    batch_sources: list[str] = []
    with open(out, "wb") as f:

        def flush() -> int:
            ids = [e.ids + [eos_id] for e in tok.encode_batch(batch, add_special_tokens=False)]
            start = n
            for doc, source in zip(ids, batch_sources, strict=True):
                if segments and segments[-1][0] == source:
                    segments[-1][2] = start + len(doc)
                else:
                    segments.append([source, start, start + len(doc)])
                start += len(doc)
            arr = np.concatenate([np.asarray(doc, dtype=dtype) for doc in ids]) if ids else np.zeros(0, dtype)
            arr.tofile(f)
            batch.clear()
            batch_sources.clear()
            return len(arr)

        for doc, source in docs:
            batch.append(doc)
            batch_sources.append(source)
            if len(batch) >= chunk:
                n += flush()
        if batch:
            n += flush()
    return n, segments
