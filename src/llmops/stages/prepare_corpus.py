"""prepare_corpus: the pre-training corpus, on datatrove: the validated unlabeled corpus plus the
labeled *train* texts -> clean -> length and repetition filters -> decontaminate against val/test
-> exact and MinHash near-dedup -> data/corpus/{train,val}/ (Parquet shards, one per task) and
data/corpus/excluded/<step>/ (every dropped document, with its reason), stats.json. A Great
Expectations gate on the result (per-shard statistics, and every input document accounted for)
writes reports/validation_corpus/, with the share each exclusion reason took in its summary.

`data.executor.tasks` shards the work (a DVC param: it fixes the output files; `auto` follows the
input's document count, `data.executor.docs_per_task`); `workers` is how many run at once (runtime
only: no output byte changes). datatrove's logs and completion markers live in
checkpoints/prepare_corpus/<key>/, where the key hashes the params, the inputs and this code: a
killed run resumes from its completed tasks, a changed one starts clean."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd

from llmops.cluster import ClusterUnavailable
from llmops.config import load_stage_params
from llmops.corpus import pipeline
from llmops.data.cleaning import cleaner
from llmops.data.split import holdout_mask
from llmops.errors import StageError
from llmops.io import atomic_dir, sha256, write_json
from llmops.stages.runner import run_stage
from llmops.tracking.runs import log_stage_run

VALIDATED = Path("data/validated")
PROCESSED = Path("data/processed")
OUT = Path("data/corpus")
REPORT = Path("reports/validation_corpus")
WORK = Path("checkpoints/prepare_corpus")
KEYS = [
    "seed",
    "data.preprocess",
    "data.corpus_prep",
    "data.executor.tasks",
    "data.executor.docs_per_task",
    "data.validation.max_encoding_damage_share",
]


def main() -> int:
    params = load_stage_params("prepare_corpus")
    job = build(params)
    stats = fit(job)
    if not gate_result(job, stats, params):
        raise StageError(
            f"the prepared corpus failed its gate. Report: {REPORT}/summary.md",
            params=params,
            keys=tuple(KEYS),
            metrics=stats,
            artifacts=(REPORT / "summary.md",),
        )
    save(job, stats)
    log_stage_run("prepare_corpus", params, keys=KEYS, metrics=stats, artifacts=(OUT / "stats.json",))
    print(
        f"prepare_corpus: {stats['documents_in']:,} documents in, {stats['train_documents']:,} train / "
        f"{stats['val_documents']:,} val out in {job.tasks} tasks; excluded {_excluded_line(stats)} -> {OUT}/"
    )
    return 0


def build(params) -> pipeline.Job:
    pp, executor = params.data.preprocess, params.data.executor
    # absolute paths: a Ray worker on another node starts in a folder of its own
    inputs = [(_abs(VALIDATED / "corpus.parquet"), None), (_abs(PROCESSED / "train.parquet"), "labeled_train")]
    held_out = [_abs(PROCESSED / "val.parquet"), _abs(PROCESSED / "test.parquet")]
    prep = _plain(params.data.corpus_prep)
    paths = [p for p, _ in inputs]
    tasks = pipeline.task_count(executor.tasks, paths, executor.docs_per_task)
    settings = {"prep": prep, "preprocess": _plain(pp), "tasks": tasks, "seed": int(params.seed)}
    return pipeline.Job(
        inputs=inputs,
        held_out=held_out,
        work=Path.cwd() / WORK / _key(settings, paths + held_out),
        prep=prep,
        clean=cleaner(pp),
        is_val=_HoldOut(float(pp.corpus_val_fraction), int(params.seed)),
        tasks=tasks,
        workers=usable_workers(executor.get("workers", "auto"), pipeline.input_documents(paths)),
        kind=str(executor.get("kind", "local")),
        address=executor.get("address"),
    )


def _abs(path: Path) -> str:
    return str(Path.cwd() / path)


def fit(job: pipeline.Job) -> dict[str, int]:
    """Run (or resume) the pipeline; work folders of other params or inputs are stale: dropped."""
    for stale in (p for p in (Path.cwd() / WORK).glob("*") if p != job.work):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        return {"tasks": job.tasks, **summarize(pipeline.run(job))}
    except ClusterUnavailable as err:
        raise StageError(str(err)) from None


STEPS = ("clean", "length", "repetition", "decontaminate", "exact_duplicate", "near_duplicate")


def accounting(stats: dict[str, int]) -> pd.DataFrame:
    """Where the input documents went: one row per exclusion reason and per split kept."""
    rows = [(f"excluded: {s}", stats[f"excluded_{s}"]) for s in STEPS]
    rows += [("kept: train", stats["train_documents"]), ("kept: val", stats["val_documents"])]
    frame = pd.DataFrame(rows, columns=["outcome", "documents"])
    frame["share_of_input"] = frame["documents"] / max(1, stats["documents_in"])
    frame.index = frame["outcome"].tolist()
    return frame


def gate_result(job: pipeline.Job, stats: dict[str, int], params) -> bool:
    """GX suites on the finished shards (before they move into data/corpus/) and on where every
    input document went; writes the report either way, False when a critical one fails."""
    from llmops.validation import gate, suites

    shards = sorted((job.work / "out").glob("*/*.parquet"))
    profiles = [suites.corpus_profile(p, name=f"{p.parent.name}/{p.name}")[0] for p in shards]
    profile = pd.concat(profiles) if profiles else pd.DataFrame(columns=[*suites.PROFILE_COLUMNS])
    table = accounting(stats)
    max_chars = int(params.data.corpus_prep.max_chars)
    tables = {
        "prepared_corpus": (
            profile,
            "data/corpus/{train,val}/ (one row per shard slice)",
            suites.prepared_corpus(max_chars, params.data.validation),
        ),
        "corpus_accounting": (table, "data/corpus/stats.json", suites.corpus_accounting()),
    }
    lines = ["| outcome | documents | share of input |", "|---|---:|---:|"]
    lines += [f"| {r.outcome} | {r.documents:,} | {r.share_of_input:.2%} |" for r in table.itertuples()]
    extra = [f"{stats['documents_in']:,} documents in.", "", *lines, ""]
    with atomic_dir(REPORT) as tmp:
        outcomes = gate.run_suites(tables, tmp / "data_docs")
        gate.write_results(outcomes, tmp, extra)
    return not gate.print_failures("prepare_corpus", outcomes)


def save(job: pipeline.Job, stats: dict[str, int]) -> None:
    """Move the finished shards into data/corpus/ at once, then drop the work folder."""
    with atomic_dir(OUT) as tmp:
        for part in (job.work / "out").iterdir():
            shutil.move(str(part), tmp / part.name)
        write_json(tmp / "stats.json", stats)
        shutil.copy2(PROCESSED / "manifest.json", tmp / "manifest.json")  # data lineage travels with the data
    shutil.rmtree(job.work, ignore_errors=True)


class _HoldOut:
    """The LM's validation documents: a seeded hash of each text (data.split.holdout_mask)."""

    def __init__(self, fraction: float, seed: int):
        self.fraction, self.seed = fraction, seed

    def __call__(self, texts: list[str]) -> list[bool]:
        return holdout_mask(pd.Series(texts, dtype=object), self.fraction, self.seed).tolist()


DOCS_PER_WORKER = 10_000  # under workers=auto: fewer documents per worker cost more to start than they save


def usable_workers(setting: int | str, documents: int) -> int:
    """`auto`: one worker per DOCS_PER_WORKER input documents, at most the cores this process may
    run on (its affinity, which a container or `taskset` can narrow, not os.cpu_count(), which
    counts the whole machine). Each pass starts its worker processes afresh, seven passes a run, so
    a small corpus is faster in one: on the 2-core machine the ci corpus (1,468 documents) took
    9-11 s with 1 worker and 14-15 s with 2; the embedded default (38,516) took 34-42 s with 1 and
    26-29 s with 2 (2026-12-03). The threshold lies between the two; no output byte depends on it."""
    if str(setting) == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, min(cores, documents // DOCS_PER_WORKER))
    return max(1, int(setting))


def summarize(raw: dict[str, int]) -> dict[str, int]:
    """datatrove's per-step counters as our stats: in, dropped per step and reason, out."""

    def get(run: str, step: str, key: str) -> int:
        return sum(v for k, v in raw.items() if k.startswith(f"{run}/") and step in k and k.endswith(f"/{key}"))

    stats = {"documents_in": get("filter", "READER", "documents")}
    for step in ("clean", "length", "repetition", "decontaminate"):
        stats[f"excluded_{step}"] = get("filter", f"FILTER: {step}", "dropped")
        for k, v in raw.items():
            if f"FILTER: {step}/dropped_" in k:
                stats[f"excluded_{step}_{k.rsplit('/dropped_', 1)[1]}"] = v
    stats["excluded_exact_duplicate"] = get("exact_drop", "exact-deduplication stage 3", "dropped")
    stats["near_dup_candidate_pairs"] = get("near_pairs", "near pairs", "candidates")  # proposed by MinHash
    stats["near_dup_pairs"] = get("near_pairs", "near pairs", "near")  # at or over the threshold
    stats["excluded_near_duplicate"] = get("near_drop", "MinHash stage 4", "dropped")
    stats["train_documents"] = get("near_drop", "WRITER", "train_documents")
    stats["val_documents"] = get("near_drop", "WRITER", "val_documents")
    return stats


def _excluded_line(stats: dict[str, int]) -> str:
    return ", ".join(f"{s} {stats[f'excluded_{s}']:,}" for s in STEPS)


def _plain(cfg) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def _key(settings: dict, inputs: list[str]) -> str:
    """What the work folder's completions are valid for: params, inputs (size and time) and code:
    every llmops module loaded by now and the corpus package (some of its steps import lazily), so
    no hand-kept list can miss a module the passes run."""
    import sys

    loaded = {
        Path(m.__file__)
        for name, m in list(sys.modules.items())
        if name.startswith("llmops.") and getattr(m, "__file__", None)
    }
    code = sorted(loaded | set(Path(pipeline.__file__).parent.glob("*.py")) | {Path(__file__)})
    blob = json.dumps(
        {
            "settings": settings,
            "inputs": [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in inputs],
            "code": [sha256(p) for p in code],
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


if __name__ == "__main__":
    run_stage(main)
