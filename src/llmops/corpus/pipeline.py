"""The corpus preparation pipeline on datatrove: read -> clean -> length and repetition filters ->
decontaminate -> exact dedup -> near-dedup (MinHash candidates, checked by exact Jaccard) ->
train/val shards. Every removed document is
written, with its reason, under `excluded/<step>/`.

Seven executor runs, as datatrove's own MinHash example chains them: a pass over the documents, the
exact-dedup finder, a second pass (drop exact copies, sign for MinHash), MinHash buckets, the
exact check of their candidate pairs (ours), clusters, and the last pass that drops near copies
and writes the shards. `tasks` fixes how the
documents are sharded (and so the output files); `workers` only says how many tasks run at once,
and changes no output byte. Each run keeps datatrove's completion markers under `work`, so a
killed run resumes where it stopped when started again with the same `work`."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.exact_dedup import (
    ExactDedupConfig,
    ExactDedupFilter,
    ExactDedupSignature,
    ExactFindDedups,
)
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig

from llmops.cluster import ray_cluster
from llmops.corpus import steps

EXCLUDED = ("cleaning", "length", "repetition", "decontamination", "exact_duplicate", "near_duplicate")


@dataclass
class Job:
    inputs: list[tuple[str, str | None]]  # parquet files and their source (None: the file's `source` column)
    held_out: list[str]  # parquet files of validation and test texts
    work: Path  # datatrove's logs, completions and intermediate shards; the result lands in work/out
    prep: dict[str, Any]  # data.corpus_prep
    clean: Any  # text -> cleaned text
    is_val: Any  # list of texts -> booleans (the LM's validation documents)
    tasks: int
    workers: int
    kind: str = "local"  # local | ray: which datatrove executor runs the passes (no output byte depends on it)
    address: str | None = None  # ray: the cluster to join (None: RAY_ADDRESS, else a one-machine cluster)


MIN_TASKS = 4  # under tasks=auto: the default corpus keeps the sharding it always had, and 4 workers have work


def task_count(tasks: int | str, inputs: list[str], docs_per_task: int) -> int:
    """`tasks` as given, or under "auto" one task per `docs_per_task` input documents, at least
    MIN_TASKS. It follows the corpus because datatrove's MinhashDedupSignature reads each bucket file
    of a task whole and sorts it in memory, so a worker's peak grows with the documents per task
    (measured in docs/data.md, Scale). The count is read from the Parquet footers (no row is read),
    so it is a function of the stage's inputs, as its output files must be."""
    if str(tasks) != "auto":
        return int(tasks)
    return max(MIN_TASKS, -(-input_documents(inputs) // int(docs_per_task)))


def input_documents(inputs: list[str]) -> int:
    """The documents in the Parquet `inputs`, from their footers (no row is read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in inputs)


def _text(doc: Document) -> bytes:
    return doc.text.encode()


def _excluded(job: Job, step: str) -> JsonlWriter:
    # uncompressed: a gzip header holds the time it was written, and DVC hashes bytes
    return JsonlWriter(str(job.work / "out" / "excluded" / step), output_filename="${rank}.jsonl", compression=None)


def _minhash(prep: dict[str, Any]) -> MinhashConfig:
    m = prep["minhash"]
    return MinhashConfig(
        n_grams=int(m["n_grams"]),
        num_buckets=int(m["num_buckets"]),
        hashes_per_bucket=int(m["hashes_per_bucket"]),
        seed=int(m.get("seed", 1)),
        hash_config=HashConfig(precision=64),
    )


def passes(job: Job) -> list[tuple[str, list, int]]:
    """(name, pipeline, tasks) of each executor run, in order."""
    w, prep = job.work, job.prep
    exact = ExactDedupConfig(content_getter=_text)
    minhash = _minhash(prep)
    first = [
        steps.RowGroupReader(job.inputs),
        steps.Clean(job.clean, exclusion_writer=_excluded(job, "cleaning")),
        steps.Length(int(prep["min_chars"]), int(prep["max_chars"]), exclusion_writer=_excluded(job, "length")),
    ]
    if prep.get("repetition_min_words"):
        first.append(steps.Repetition(int(prep["repetition_min_words"]), exclusion_writer=_excluded(job, "repetition")))
    first += [
        steps.Decontaminate(job.held_out, int(prep["decontaminate_ngram"]), _excluded(job, "decontamination")),
        steps.RankShardWriter(str(w / "filtered")),
        ExactDedupSignature(output_folder=str(w / "exact_sigs"), config=exact),
    ]
    return [
        ("filter", first, job.tasks),
        ("exact_find", [ExactFindDedups(str(w / "exact_sigs"), str(w / "exact_dups"), config=exact)], 1),
        (
            "exact_drop",
            [
                steps.RankShardReader(str(w / "filtered")),
                ExactDedupFilter(
                    str(w / "exact_dups"), config=exact, exclusion_writer=_excluded(job, "exact_duplicate")
                ),
                steps.RankShardWriter(str(w / "deduped")),
                steps.CharMinhashSignature(str(w / "minhash_sigs"), config=minhash),
            ],
            job.tasks,
        ),
        *_near_dedup(job, minhash),
        (
            "near_drop",
            [
                steps.RankShardReader(str(w / "deduped")),
                MinhashDedupFilter(str(w / "minhash_remove"), exclusion_writer=_excluded(job, "near_duplicate")),
                steps.SplitWriter(str(w / "out"), job.is_val),
            ],
            job.tasks,
        ),
    ]


def _near_dedup(job: Job, minhash: MinhashConfig) -> list[tuple[str, list, int]]:
    """MinHash buckets propose pairs, `NearPairs` keeps those at the threshold, datatrove clusters them."""
    w = job.work
    return [
        (
            "minhash_buckets",
            [MinhashDedupBuckets(str(w / "minhash_sigs"), str(w / "minhash_buckets"), config=minhash)],
            minhash.num_buckets,
        ),
        (
            "near_pairs",
            [
                steps.NearPairs(
                    str(w / "minhash_buckets"),
                    str(w / "deduped"),
                    str(w / "near_pairs"),
                    n_grams=minhash.n_grams,
                    threshold=float(job.prep["near_dup_threshold"]),
                )
            ],
            job.tasks,
        ),
        (
            "minhash_cluster",
            [MinhashDedupCluster(str(w / "near_pairs"), str(w / "minhash_remove"), config=minhash)],
            1,
        ),
    ]


def run(job: Job) -> dict[str, int]:
    """Run every pass (completed tasks are skipped), then count what each step removed. datatrove's
    own log lines (several per task) go to work/logs/datatrove.log, not to the stage's output."""
    cluster = ray_cluster(job.address) if job.kind == "ray" else contextlib.nullcontext()
    with _stderr_to(job.work / "logs" / "datatrove.log"), cluster:
        for name, pipeline, tasks in passes(job):
            executor(job, [steps.NodeStamp(), *pipeline], tasks, logging_dir=job.work / "logs" / name).run()
    return counts(job.work)


def executor(job: Job, pipeline: list, tasks: int, logging_dir: Path):
    """datatrove's executor of `job.kind` for one pass. Ray runs each task as a one-CPU actor on
    whichever node has room: every node must see `job.work` and the inputs at the same absolute
    path (a shared filesystem) and have this project installed."""
    common = {"tasks": tasks, "workers": max(1, min(job.workers, tasks)), "logging_dir": str(logging_dir)}
    if job.kind == "ray":
        from datatrove.executor.ray import RayPipelineExecutor

        return RayPipelineExecutor(pipeline, cpus_per_task=1, mem_per_cpu_gb=1, **common)
    return LocalPipelineExecutor(pipeline, **common)


@contextlib.contextmanager
def _stderr_to(log: Path) -> Iterator[None]:
    """File descriptor 2 into `log` (worker processes inherit it), restored afterwards."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log, "a") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def counts(work: Path) -> dict[str, int]:
    """Documents in, removed per reason, and out, from datatrove's per-run stats."""
    out: dict[str, int] = {}
    for name in ("filter", "exact_drop", "near_pairs", "near_drop"):
        for step in json.loads((work / "logs" / name / "stats.json").read_text()):
            for key, value in step.get("stats", {}).items():
                total = value.get("total", value) if isinstance(value, dict) else value
                out[f"{name}/{step['name']}/{key}"] = int(total)
    return out
