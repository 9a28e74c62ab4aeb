"""Exact deduplication and removal of texts carrying conflicting labels."""

from __future__ import annotations

import numpy as np
import pandas as pd


def dedup_labeled(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep one row per text; drop every row of a text seen with more than one label."""
    n_labels = df.groupby("text")["label"].transform("nunique")
    conflicting = n_labels > 1
    kept = df[~conflicting]
    deduped = kept.drop_duplicates(subset="text", keep="first")
    stats = {
        "conflicting_texts": int(df.loc[conflicting, "text"].nunique()),
        "conflicting_rows": int(conflicting.sum()),
        "duplicate_rows": int(len(kept) - len(deduped)),
    }
    return deduped.reset_index(drop=True), stats


def text_fingerprints(texts: pd.Series) -> np.ndarray:
    """64-bit hashes of texts: sets of these stand in for sets of texts, at 8 bytes each."""
    return pd.util.hash_array(texts.fillna("").to_numpy(dtype=object))


class SeenHashes:
    """Keep-first filter across chunks: which rows' keys were not seen in any earlier chunk."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def first_seen(self, keys: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(keys), dtype=bool)
        for i, k in enumerate(keys.tolist()):
            if k not in self._seen:
                self._seen.add(k)
                mask[i] = True
        return mask

    def array(self) -> np.ndarray:
        return np.fromiter(self._seen, dtype=np.uint64, count=len(self._seen))
