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
