"""Exact deduplication and removal of texts carrying conflicting labels."""

from __future__ import annotations

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


def dedup_texts(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    out = df.drop_duplicates(subset="text", keep="first").reset_index(drop=True)
    return out, len(df) - len(out)
