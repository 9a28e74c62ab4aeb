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
    for shard in shards(path):
        yield from pq.ParquetFile(shard).iter_batches(batch_size=batch_size, columns=columns)


def iter_texts(path: Path, column: str = "text", batch_size: int = 4096) -> Iterator[str]:
    for batch in _batches(path, [column], batch_size):
        yield from batch.column(0).to_pylist()


def count_rows(path: Path) -> int:
    return sum(pq.ParquetFile(s).metadata.num_rows for s in shards(path))


def iter_texts_with_source(path: Path, batch_size: int = 4096) -> Iterator[tuple[str, str]]:
    for batch in _batches(path, ["text", "source"], batch_size):
        yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


def sample_texts(path: Path, n: int, seed: int, batch_size: int = 4096) -> Iterator[str]:
    """A deterministic sample of n documents, streamed in file order (every document when the
    corpus holds no more than n): what a trainer sees stays bounded however large the corpus grows."""
    import numpy as np

    total = count_rows(path)
    if total <= n:
        yield from iter_texts(path, batch_size=batch_size)
        return
    keep = np.zeros(total, dtype=bool)  # one byte per document: 1 GB only at a billion documents
    keep[np.random.default_rng(seed).choice(total, size=n, replace=False)] = True
    start = 0
    for batch in _batches(path, ["text"], batch_size):
        texts = batch.column(0).to_pylist()
        yield from (t for t, k in zip(texts, keep[start : start + len(texts)], strict=True) if k)
        start += len(texts)
