"""The drift check's acceptance cases on the workspace's default model (run `make repro` first),
in one process: the test split (n=500, seeds 0-4, with and without its labels), the Wikipedia
summaries of the corpus scored as tweets, and the test and validation splits resampled to 70%
`negative` (with and without labels). One Markdown row per case: status, kind, action and the
statistics over their thresholds. Nothing is logged to MLflow. The time is in-process (no
import), with the drift_reference stage's reference at seed 0 and one built in the call at others.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/drift_acceptance.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from llmops.monitoring import check  # noqa: E402


def _case(name: str, batch: pd.DataFrame, labeled: bool, seed: int = 0) -> None:
    start = time.perf_counter()
    frame = batch[["text", "label"]] if labeled else batch[["text"]]
    verdict, _, _ = check.check(
        frame.reset_index(drop=True),
        name,
        labeled=labeled,
        model_dir=ROOT / "models/classifier",
        data_dir=ROOT / "data/processed",
        s=check.Settings(seed=seed),
        stored=ROOT / "models/drift_reference",  # the stage's (seed 0); other seeds rebuild it in the call
    )
    stats = verdict["statistics"]
    over = ", ".join(f"{k} {v['value']:.3f} > {v['threshold']:.3f}" for k, v in stats.items() if v["over"])
    auc = stats.get("domain_auc", {})
    print(
        f"| {name} | {'yes' if labeled else 'no'} | {seed} | {verdict['status']} | {verdict['kind']} | "
        f"{verdict['action']} | {auc.get('value', 0):.3f} / {auc.get('threshold', 0):.3f} | {over or '-'} | "
        f"{time.perf_counter() - start:.1f} s |",
        flush=True,
    )


def main() -> None:
    data = ROOT / "data/processed"
    test, val = (pd.read_parquet(data / f"{s}.parquet") for s in ("test", "val"))
    print("| batch | labels | seed | status | kind | action | domain AUC / threshold | over | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in range(5):
        _case("test split", test, labeled=True, seed=seed)
    for seed in range(2):
        _case("test split", test, labeled=False, seed=seed)
    wiki = pd.read_parquet(ROOT / "data/raw/corpus.parquet").assign(label="neutral")
    _case("Wikipedia summaries", wiki, labeled=False)
    both = pd.concat([test, val])
    neg = both[both["label"] == "negative"]
    prior = pd.concat([neg, both[both["label"] != "negative"].sample(n=len(neg) * 3 // 7, random_state=0)])
    for labeled in (True, False):
        _case("test+val at 70% negative", prior.sample(frac=1, random_state=0), labeled=labeled)


if __name__ == "__main__":
    main()
