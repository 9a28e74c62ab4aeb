"""Deterministic, stratified splits keyed on a hash of each text.

Ranking rows by hash(seed, text) inside each class makes the split independent of row order, and
adding rows later leaves existing texts where they were (so retraining does not reshuffle test).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from llmops.data.errors import clip


def seeded_sha1(text: str, seed: int | str) -> str:
    """A text's place in a seeded order: stable across runs, machines and pandas versions (unlike
    the 64-bit text_fingerprints used for deduplication)."""
    return hashlib.sha1(f"{seed}\x00{text}".encode()).hexdigest()


def stratified_split(df: pd.DataFrame, val: float, test: float, seed: int) -> dict[str, pd.DataFrame]:
    parts: dict[str, list[pd.DataFrame]] = {"train": [], "val": [], "test": []}
    for label, group in df.groupby("label", sort=True):
        if len(group) < 3:
            raise ValueError(f"label {clip(label)} has {len(group)} rows: too few to split into train/val/test")
        group = group.assign(_h=group["text"].map(lambda t: seeded_sha1(t, seed))).sort_values("_h")
        n_test = max(1, round(len(group) * test))
        n_val = max(1, round(len(group) * val))
        parts["test"].append(group.iloc[:n_test])
        parts["val"].append(group.iloc[n_test : n_test + n_val])
        parts["train"].append(group.iloc[n_test + n_val :])
    return {k: pd.concat(v).sort_values("_h").drop(columns="_h").reset_index(drop=True) for k, v in parts.items()}


def holdout_mask(texts: pd.Series, fraction: float, seed: int) -> pd.Series:
    """True for about `fraction` of texts, chosen by hash: the LM's validation documents.
    Salted differently from stratified_split, whose train split is the high end of the same hash."""
    return texts.map(lambda t: int(seeded_sha1(t, f"{seed}/holdout")[:8], 16) / 0xFFFFFFFF < fraction).astype(bool)


def stratified_subsample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """Keep about n rows with the class proportions of df (deterministic)."""
    if not n or n >= len(df):
        return df
    frac = n / len(df)
    return df.groupby("label", group_keys=False, dropna=False).sample(frac=frac, random_state=seed).sort_index()


SPLIT_FILES = ("train.parquet", "val.parquet", "test.parquet", "labels.json")


def processed_fingerprint(folder: Path) -> str:
    """One sha256 over preprocess's splits and label set: which data a model, a crash checkpoint or
    a learning-curve cell was made from (the registry's llmops.data_sha256 tag)."""
    from llmops.io import sha256

    return hashlib.sha256("".join(sha256(folder / name) for name in SPLIT_FILES).encode()).hexdigest()
