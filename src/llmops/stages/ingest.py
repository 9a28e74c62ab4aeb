"""ingest: read the labeled data and the unlabeled corpus -> data/raw/ (parquet + manifest)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from llmops.config import load_params
from llmops.data import sources
from llmops.data.split import stratified_subsample
from llmops.io import atomic_dir, write_json

OUT = Path("data/raw")


def main() -> int:
    params = load_params()
    data, seed = params.data, int(params.seed)
    try:
        labeled, labeled_path = sources.read_labeled(data)
        corpora = []
        if data.corpus.get("include_default", True):
            corpora.append(sources.read_default_corpus(data))
        corpora += sources.read_extra_corpus(list(data.corpus.get("paths") or []))
    except sources.DataSourceError as e:
        print(f"ingest: error: {e}", file=sys.stderr)
        return 1

    labeled = stratified_subsample(labeled, data.subsample, seed)
    corpus = (
        pd.concat([df for df, _ in corpora], ignore_index=True)
        if corpora
        else pd.DataFrame({"text": pd.Series(dtype=str), "source": pd.Series(dtype=str)})
    )
    if data.corpus_subsample and data.corpus_subsample < len(corpus):
        corpus = corpus.sample(n=int(data.corpus_subsample), random_state=seed).sort_index()

    manifest = {
        "sources": [
            {"role": role, "file": p.name, "sha256": sources.sha256(p), "rows": int(n)}
            for role, p, n in [("labeled", labeled_path, len(labeled))] + [("corpus", p, len(df)) for df, p in corpora]
        ],
        "labeled_rows": len(labeled),
        "corpus_rows": len(corpus),
    }
    with atomic_dir(OUT) as tmp:
        labeled.reset_index(drop=True).to_parquet(tmp / "labeled.parquet", index=False)
        corpus.reset_index(drop=True).to_parquet(tmp / "corpus.parquet", index=False)
        write_json(tmp / "manifest.json", manifest)
    print(f"ingest: {len(labeled)} labeled rows from {labeled_path.name}, {len(corpus)} corpus documents -> {OUT}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
