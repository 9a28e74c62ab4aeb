"""Tokenise documents and pack them, EOS-separated, into one flat memory-mapped token array."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 65536 else np.uint32)


def pack(docs: Iterable[str], tok: Tokenizer, eos_id: int, out: Path, dtype: np.dtype, chunk: int = 2048) -> int:
    """Append each document's tokens then EOS to `out`, a chunk at a time (memory flat in corpus size)."""
    n = 0
    batch: list[str] = []
    with open(out, "wb") as f:

        def flush() -> int:
            ids = [e.ids + [eos_id] for e in tok.encode_batch(batch, add_special_tokens=False)]
            arr = np.fromiter((i for doc in ids for i in doc), dtype=dtype)
            arr.tofile(f)
            batch.clear()
            return len(arr)

        for doc in docs:
            batch.append(doc)
            if len(batch) >= chunk:
                n += flush()
        if batch:
            n += flush()
    return n


def open_packed(path: Path, dtype: str) -> np.memmap:
    return np.memmap(path, dtype=np.dtype(dtype), mode="r")
