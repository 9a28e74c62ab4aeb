"""preprocess: clean, dedup, drop conflicting labels, length-filter, split -> data/processed/.

Writes the labeled splits train/val/test, the pre-training corpus (Wikipedia + labeled *train*
texts only, never val/test) split into corpus_train/corpus_val, labels.json and stats.json."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from llmops.config import load_params
from llmops.data.cleaning import cleaner
from llmops.data.dedup import dedup_labeled, dedup_texts
from llmops.data.split import holdout_mask, stratified_split
from llmops.io import atomic_dir, write_json

IN = Path("data/validated")
OUT = Path("data/processed")


def main() -> int:
    params = load_params()
    data, pp, seed = params.data, params.data.preprocess, int(params.seed)
    labeled = pd.read_parquet(IN / "labeled.parquet")
    corpus = pd.read_parquet(IN / "corpus.parquet")
    stats: dict[str, int] = {"raw_rows": len(labeled), "raw_corpus_docs": len(corpus)}

    labeled = labeled.dropna(subset=["text", "label"])
    clean = cleaner(pp, latin1_source=str(data.labeled.get("encoding")).lower() in ("latin-1", "latin1", "iso-8859-1"))
    labeled = labeled.assign(text=labeled["text"].map(clean))
    lengths = labeled["text"].str.len()
    in_bounds = lengths.between(pp.min_chars, pp.max_chars)
    stats["dropped_length"] = int((~in_bounds).sum())
    labeled, dedup_stats = dedup_labeled(labeled[in_bounds])
    stats.update(dedup_stats)

    labels = list(data.labels) if data.get("labels") else sorted(labeled["label"].unique().tolist())
    try:
        splits = stratified_split(labeled[["text", "label"]], data.split.val, data.split.test, seed)
    except ValueError as e:
        print(f"preprocess: error: {e}", file=sys.stderr)
        return 1

    clean_doc = cleaner(pp)
    corpus = corpus.dropna(subset=["text"]).assign(text=lambda d: d["text"].map(clean_doc))
    corpus = corpus[corpus["text"].str.len() > 0]
    corpus = pd.concat([corpus[["text", "source"]], splits["train"][["text"]].assign(source="labeled_train")])
    corpus, stats["corpus_duplicates"] = dedup_texts(corpus)
    held_out = set(splits["val"]["text"]) | set(splits["test"]["text"])
    leaking = corpus["text"].isin(held_out)  # a val/test text must never be pre-trained on
    stats["corpus_dropped_leaking"] = int(leaking.sum())
    corpus = corpus[~leaking]
    is_val = holdout_mask(corpus["text"], pp.corpus_val_fraction, seed)

    stats.update({f"{k}_rows": len(v) for k, v in splits.items()})
    stats.update(corpus_train_docs=int((~is_val).sum()), corpus_val_docs=int(is_val.sum()))
    with atomic_dir(OUT) as tmp:
        for name, df in splits.items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        corpus[~is_val].reset_index(drop=True).to_parquet(tmp / "corpus_train.parquet", index=False)
        corpus[is_val].reset_index(drop=True).to_parquet(tmp / "corpus_val.parquet", index=False)
        write_json(tmp / "labels.json", labels)
        write_json(tmp / "stats.json", stats)
    print(f"preprocess: {stats} -> {OUT}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
