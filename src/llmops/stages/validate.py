"""validate: the data-quality gate. Great Expectations suites on data/raw/; a failed critical
expectation stops the pipeline (exit 1) before anything downstream runs.
Outputs: reports/validation/ (GX JSON results, Data Docs, summary.md) and data/validated/."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

from llmops.config import load_params
from llmops.io import atomic_dir, remove_outputs
from llmops.validation import gate, suites

RAW = Path("data/raw")
OUT = Path("data/validated")
REPORT = Path("reports/validation")


def main() -> int:
    params = load_params()
    data = params.data
    remove_outputs(OUT)  # never leave a previous run's validated data behind a failed gate
    labeled = pd.read_parquet(RAW / "labeled.parquet")
    corpus = pd.read_parquet(RAW / "corpus.parquet")
    labels = list(data.labels) if data.get("labels") else None
    source = next(
        (s["file"] for s in pd.read_json(RAW / "manifest.json", typ="series")["sources"] if s["role"] == "labeled"),
        "labeled",
    )
    tables = {
        "raw_labeled": (labeled, source, suites.raw_labeled_expectations(data.validation, labels)),
        "raw_corpus": (corpus, "corpus", suites.raw_corpus_expectations(data.validation)),
    }
    with atomic_dir(REPORT) as tmp:
        outcomes = gate.run_suites(tables, tmp / "data_docs")
        gate.write_results(outcomes, tmp)

    for o in outcomes:
        for f in o.failures:
            print(f"validate: {f['severity']}: {gate.describe(o, f)}", file=sys.stderr)
    if any(o.critical for o in outcomes):
        print(
            f"validate: critical expectations failed; the pipeline stops here. Report: {REPORT}/summary.md",
            file=sys.stderr,
        )
        return 1

    with atomic_dir(OUT) as tmp:
        for name in ("labeled.parquet", "corpus.parquet", "manifest.json"):
            shutil.copy2(RAW / name, tmp / name)
    print(f"validate: all critical expectations met ({sum(len(o.failures) for o in outcomes)} warnings) -> {OUT}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
