"""Stream texts out of a parquet file a batch at a time, so memory stays flat in corpus size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq


def iter_texts(path: Path, column: str = "text", batch_size: int = 4096) -> Iterator[str]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=[column]):
        yield from batch.column(0).to_pylist()


def count_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def iter_texts_with_source(path: Path, batch_size: int = 4096) -> Iterator[tuple[str, str]]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=["text", "source"]):
        yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


def sample_texts(path: Path, n: int, seed: int, batch_size: int = 4096) -> Iterator[str]:
    """A deterministic sample of n documents, streamed in file order (every document when the file
    holds no more than n): what a trainer sees stays bounded however large the corpus grows."""
    import numpy as np

    total = count_rows(path)
    if total <= n:
        yield from iter_texts(path, batch_size=batch_size)
        return
    keep = np.zeros(total, dtype=bool)  # one byte per document: 1 GB only at a billion documents
    keep[np.random.default_rng(seed).choice(total, size=n, replace=False)] = True
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=["text"]):
        texts = batch.column(0).to_pylist()
        yield from (t for t, k in zip(texts, keep[start : start + len(texts)], strict=True) if k)
        start += len(texts)
