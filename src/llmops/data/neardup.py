"""Near-duplicate detection with MinHash LSH (datasketch): texts whose character 5-gram sets have a
Jaccard similarity above a threshold with an earlier text."""

from __future__ import annotations

from collections.abc import Sequence

from datasketch import MinHash, MinHashLSH

SHINGLE = 5
NUM_PERM = 64


def _shingles(text: str) -> set[bytes]:
    t = " ".join(text.lower().split())
    if len(t) <= SHINGLE:
        return {t.encode()}
    return {t[i : i + SHINGLE].encode() for i in range(len(t) - SHINGLE + 1)}


def near_duplicates(texts: Sequence[str], threshold: float, seed: int = 1) -> list[int]:
    """Positions of texts that are near-duplicates of an earlier one (the first of a group is kept)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    dups: list[int] = []
    for i, m in enumerate(MinHash.bulk((_shingles(t) for t in texts), num_perm=NUM_PERM, seed=seed)):
        if lsh.query(m):
            dups.append(i)
        else:
            lsh.insert(i, m)
    return dups
