"""Tokenise documents and pack them, EOS-separated, into token shards: one flat `.bin` file of
uint16/uint32 ids per corpus shard, read back as one stream (`TokenShards`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from llmops.data.corpus import iter_texts_with_source, shards


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 65536 else np.uint32)


class LengthHistogram:
    """Per source, how many documents fall in each power-of-two bin of characters and of tokens
    (EOS included): the data profile's lengths, in memory flat in the corpus size."""

    EDGES = [0, *(2**k for k in range(22))]  # [0, 1), [1, 2), [2, 4), ... [2**20, 2**21), then above

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, np.ndarray]] = {}

    def add(self, source: str, chars: int, tokens: int) -> None:
        row = self.counts.setdefault(source, {u: np.zeros(len(self.EDGES), np.int64) for u in ("chars", "tokens")})
        for unit, n in (("chars", chars), ("tokens", tokens)):
            row[unit][int(np.searchsorted(self.EDGES, n, side="right")) - 1] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "edges": self.EDGES,
            "sources": {s: {u: c.tolist() for u, c in row.items()} for s, row in sorted(self.counts.items())},
        }


def pack_sources(
    docs: Iterable[tuple[str, str]],
    tok: Tokenizer,
    eos_id: int,
    out: Path,
    dtype: np.dtype,
    chunk: int = 2048,
    lengths: LengthHistogram | None = None,
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
            for text, doc, source in zip(batch, ids, batch_sources, strict=True):
                if lengths is not None:
                    lengths.add(source, len(text), len(doc))
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


def pack_shards(corpus: Path, tok: Tokenizer, eos_id: int, out: Path, dtype: np.dtype) -> dict[str, Any]:
    """Each Parquet shard of the `corpus` folder (name order) to a token shard of the same stem in
    `out`. Shards are independent, so any executor could spread them; here they run one after
    another, each using every core through the tokenizer's own threads. Returns the total token
    count, the tokens per shard, the source ranges over the shards read end to end, and each
    source's document lengths (`LengthHistogram`)."""
    out.mkdir(parents=True, exist_ok=True)
    total, per_shard, segments, lengths = 0, [], [], LengthHistogram()
    for shard in shards(corpus):
        docs = iter_texts_with_source(shard)
        n, local = pack_sources(docs, tok, eos_id=eos_id, out=out / f"{shard.stem}.bin", dtype=dtype, lengths=lengths)
        for source, a, b in local:
            if segments and segments[-1][0] == source and segments[-1][2] == total + a:
                segments[-1][2] = total + b
            else:
                segments.append([source, total + a, total + b])
        per_shard.append([f"{shard.stem}.bin", n])
        total += n
    return {"tokens": total, "shards": per_shard, "segments": segments, "lengths": lengths.as_dict()}


class TokenShards:
    """A packed split read as one token stream: a `.bin` file, or a folder of them in name order.
    Each shard is memory-mapped when read (so the object pickles to workers cheaply), and a slice
    may span shards. `expected`: the token count pack recorded, checked against the files."""

    def __init__(self, path: Path, dtype: str | np.dtype, expected: int | None = None):
        self.path, self.dtype = Path(path), np.dtype(dtype)
        files = sorted(self.path.glob("*.bin")) if self.path.is_dir() else [self.path]
        sizes = [f.stat().st_size // self.dtype.itemsize for f in files]
        self.files = [f for f, size in zip(files, sizes, strict=True) if size]  # an empty shard cannot be mapped
        self.starts = np.concatenate([[0], np.cumsum([s for s in sizes if s])]).astype(np.int64)
        if expected is not None and len(self) != expected:
            raise ValueError(f"{self.path}: {len(self):,} tokens in its shards, pack recorded {expected:,}; rerun pack")

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: slice) -> np.ndarray:
        a, b, step = index.indices(len(self))
        if step != 1:
            raise ValueError("TokenShards reads contiguous slices only")
        return self.read(a, b)

    def read(self, a: int, b: int, maps: dict[int, np.memmap] | None = None) -> np.ndarray:
        """Tokens [a, b); `maps` caches the opened shards across calls of one batch."""
        maps = {} if maps is None else maps
        parts = []
        i = int(np.searchsorted(self.starts, a, side="right")) - 1
        while a < b:
            if i not in maps:
                maps[i] = np.memmap(self.files[i], dtype=self.dtype, mode="r")
            end = min(b, int(self.starts[i + 1]))
            parts.append(maps[i][a - self.starts[i] : end - self.starts[i]])
            a, i = end, i + 1
        if len(parts) == 1:
            return np.asarray(parts[0])
        return np.concatenate(parts) if parts else np.zeros(0, self.dtype)
