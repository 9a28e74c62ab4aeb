"""Stream texts out of Parquet: one file, or a folder of shards read in name order, a batch at a
time, so memory stays flat in corpus size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq


def shards(path: Path) -> list[Path]:
    """The Parquet files a path stands for: itself, or a folder's *.parquet in name order."""
    path = Path(path)
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def _batches(path: Path, columns: list[str], batch_size: int):
    # pre_buffer off: pyarrow's read-ahead (made for object stores) held more of a larger shard,
    # 196 MB against 124 MB peak over a 100x and a 10x corpus; without it, 132 and 124
    for shard in shards(path):
        yield from pq.ParquetFile(shard, pre_buffer=False).iter_batches(batch_size=batch_size, columns=columns)


def iter_texts(path: Path, column: str = "text", batch_size: int = 4096) -> Iterator[str]:
    for batch in _batches(path, [column], batch_size):
        yield from batch.column(0).to_pylist()


def count_rows(path: Path) -> int:
    return sum(pq.ParquetFile(s).metadata.num_rows for s in shards(path))


def iter_texts_with_source(path: Path, batch_size: int = 4096) -> Iterator[tuple[str, str]]:
    for batch in _batches(path, ["text", "source"], batch_size):
        yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


def text_bytes(path: Path, column: str = "text") -> int:
    """About the UTF-8 bytes of a text column, from the Parquet metadata alone (the column chunks'
    uncompressed size, which also counts 4 bytes of offsets a row): no text is read."""
    total = 0
    for shard in shards(path):
        meta = pq.ParquetFile(shard).metadata
        index = meta.schema.names.index(column)
        total += sum(meta.row_group(g).column(index).total_uncompressed_size for g in range(meta.num_row_groups))
    return total


def sample_texts(path: Path, n: int, seed: int, max_bytes: int | None = None, batch_size: int = 4096) -> Iterator[str]:
    """A deterministic sample of at most n documents and about max_bytes of text, streamed in file
    order (every document when the corpus holds less than both): what a trainer sees stays bounded
    however large the corpus grows. A document count alone is not a bound: 100,000 web pages hold
    far more text than 100,000 tweets."""
    import numpy as np

    total = count_rows(path)
    size = text_bytes(path) if max_bytes else 0
    if total <= n and size <= (max_bytes or 0):
        yield from iter_texts(path, batch_size=batch_size)
        return
    if max_bytes and max_bytes / size < n / total:  # the bytes bind: keep each with that chance
        rng, share, kept = np.random.default_rng(seed), max_bytes / size, 0
        for batch in _batches(path, ["text"], batch_size):
            texts = batch.column(0).to_pylist()
            for text in (t for t, draw in zip(texts, rng.random(len(texts)), strict=True) if draw < share):
                yield text
                kept += 1
                if kept >= n:
                    return
        return
    keep = np.zeros(total, dtype=bool)  # one byte per document: 1 GB only at a billion documents
    keep[np.random.default_rng(seed).choice(total, size=n, replace=False)] = True
    start = 0
    for batch in _batches(path, ["text"], batch_size):
        texts = batch.column(0).to_pylist()
        yield from (t for t, k in zip(texts, keep[start : start + len(texts)], strict=True) if k)
        start += len(texts)
