"""One cell of the label-efficiency curve: fine-tune a classifier (pre-trained or scratch init) on
a label budget's subset for a step count fixed in advance, keep the best weights by macro-F1 on a
fixed validation subset, and predict the test split with them. A cell trains through the finetune
stage's own `build` and `fit`, with the curve's recipe.

Every cell runs on one torch thread, wherever it runs (in the stage's process, in a pool of
processes, or as a Ray task): a cell's result never depends on how many ran beside it. Finished
cells are stored by what determines them (`CellJob.key`), so a rerun, or a curve that shares cells
with an earlier one, trains only the cells it has not seen."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmops.models.inputs import EncodedTexts


@dataclass(frozen=True)
class Cell:
    init: str  # pretrained | scratch (or hf | hf_scratch)
    budget: int  # labeled train rows
    seed: int  # the subset's draw and the training seed

    @property
    def name(self) -> str:
        return f"{self.init}@{self.budget}/seed{self.seed}"


@dataclass(frozen=True)
class CellJob:
    """All one cell needs, as plain data: it travels to a worker process or a Ray task."""

    cell: Cell
    steps: int
    source: str  # the init's directory (weights, or the architecture for scratch inits)
    source_digest: str  # sha256 of what the init reads from `source`
    labels: list[str]
    train: EncodedTexts
    val: EncodedTexts
    test_ids: list[list[int]]
    pad_id: int
    recipe: dict[str, Any]  # learning_curve's fine-tuning keys
    trainer: dict[str, Any]  # params.trainer

    @property
    def key(self) -> str:
        """sha256 of everything the result is a function of: init weights, rows, recipe, seed, device."""
        what = {
            "cell": [self.cell.init, self.cell.budget, self.cell.seed, self.steps],
            "source": self.source_digest,
            "data": [self.labels, self.train.ids, self.train.labels, self.val.ids, self.val.labels, self.test_ids],
            "recipe": self.recipe,
            "device": [self.trainer["accelerator"], self.trainer["precision"], self.pad_id],
        }
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def source_digest(source: Path, init: str) -> str:
    """sha256 of the files a cell's init reads: the config (scratch) and the weights (otherwise)."""
    digest = hashlib.sha256((source / "config.json").read_bytes())
    if init in ("pretrained", "hf"):
        for weights in sorted(source.glob("*.safetensors")) or sorted(source.glob("*.bin")):
            digest.update(weights.read_bytes())
    return digest.hexdigest()


def one_process(trainer: Any) -> Any:
    """params.trainer's device and precision for one process: a cell is too short to pay for
    starting a process group."""
    from omegaconf import OmegaConf

    keep = trainer if isinstance(trainer, dict) else OmegaConf.to_container(trainer)
    return OmegaConf.create({**keep, "devices": 1, "num_nodes": 1, "strategy": "auto"})


def fit_cell(job: CellJob) -> dict[str, Any]:
    """Train `job.cell` on one thread and return its best validation macro-F1 and step, and its
    predictions for `job.test_ids` from the best weights."""
    import logging

    from omegaconf import OmegaConf
    from transformers.utils import logging as hf_logging

    from llmops.models.inputs import class_probabilities
    from llmops.training import finetune
    from llmops.training.trainer import setup_runtime

    trainer = one_process({**job.trainer, "num_threads": 1})
    setup_runtime(trainer, job.cell.seed)
    # a line per cell comes from CellProgress: Lightning's device notes and transformers' load
    # report (the new head) would repeat for every cell
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    hf_logging.set_verbosity_error()
    splits = finetune.EncodedSplits(job.labels, job.train, val=job.val, pad_id=job.pad_id)
    run = finetune.build(
        OmegaConf.create(job.recipe),
        trainer,
        init=job.cell.init,
        source=Path(job.source),
        splits=splits,
        seed=job.cell.seed,
        steps=job.steps,
        val_every_steps=int(job.recipe["val_every_steps"]),
    )
    result = finetune.fit(run, session=None, advice="lower learning_curve.lr")
    proba = class_probabilities(run.module.model, job.test_ids, pad_id=job.pad_id)
    keep = ("best_val_f1_macro", "best_step", "steps", "train_time_s")
    return {**{k: result[k] for k in keep}, "test_pred": np.asarray(proba.argmax(-1), dtype=np.int64)}


class CellStore:
    """Finished cells, one JSON file per `CellJob.key` in `folder`, written atomically (a killed
    run loses at most the cells it was training)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.folder / f"{key}.json"
        if not path.exists():
            return None
        stored = json.loads(path.read_text())
        return {**stored, "test_pred": np.asarray(stored["test_pred"], dtype=np.int64)}

    def put(self, key: str, result: dict[str, Any]) -> None:
        from llmops.io import write_json

        write_json(self.folder / f"{key}.json", {**result, "test_pred": result["test_pred"].tolist()})


@dataclass(frozen=True)
class Executor:
    """Where cells run: `local` (`workers` processes, 1: the calling process) or `ray` (one-CPU
    tasks on the cluster at `address`): data.executor's runtime settings, shared with prepare_corpus."""

    kind: str = "local"
    workers: int = 1
    address: str | None = None

    @classmethod
    def from_config(cls, executor: Any, num_threads: int) -> Executor:
        """data.executor's settings; `workers: auto` runs `num_threads` (trainer.num_threads)
        one-thread cells at once, at most one per usable core."""
        workers = executor.get("workers", "auto")
        if workers == "auto":
            workers = min(num_threads, usable_cores())
        return cls(kind=str(executor.get("kind", "local")), workers=int(workers), address=executor.get("address"))


def run_cells(
    jobs: list[CellJob], store: CellStore, executor: Executor, on_done: Callable[[CellJob, dict, bool], None]
) -> dict[str, dict[str, Any]]:
    """Every job's result by key: stored ones read back, the others trained on `executor` and
    stored as each finishes. `on_done(job, result, trained)` follows each cell, in finishing order."""
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for job in jobs:
        stored = store.get(job.key)
        if stored is None:
            todo.append(job)
        else:
            results[job.key] = stored
            on_done(job, stored, False)
    for job, result in _execute(todo, executor):
        store.put(job.key, result)
        results[job.key] = result
        on_done(job, result, True)
    return results


def _execute(jobs: list[CellJob], executor: Executor) -> Iterator[tuple[CellJob, dict[str, Any]]]:
    if not jobs:
        return
    if executor.kind == "ray":
        yield from _on_ray(jobs, executor.address)
    elif executor.workers <= 1 or len(jobs) == 1:
        for job in jobs:
            yield job, fit_cell(job)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn, not fork: the parent's torch and tokenizer threads do not survive a fork
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(executor.workers, len(jobs)), mp_context=context) as pool:
            futures = {pool.submit(fit_cell, job): job for job in jobs}
            for future in as_completed(futures):
                yield futures[future], future.result()


def _on_ray(jobs: list[CellJob], address: str | None) -> Iterator[tuple[CellJob, dict[str, Any]]]:
    """One one-CPU Ray task per cell; every node needs this project installed and the init's
    directory at the same path (a shared filesystem), as prepare_corpus's tasks do."""
    import ray

    from llmops.cluster import ray_cluster

    with ray_cluster(address):
        remote = ray.remote(num_cpus=1)(fit_cell)
        pending = {remote.remote(job): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            yield pending.pop(done[0]), ray.get(done[0])


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class CellProgress:
    """`learning_curve: cell 5/24 (pretrained@300/seed1, best val macro-F1 0.612) | 1m10s elapsed,
    ETA 4m30s`; the ETA weighs the cells left by their steps."""

    def __init__(self, jobs: list[CellJob], stage: str = "learning_curve"):
        self.stage, self.total, self.done = stage, len(jobs), 0
        self.steps_left = sum(job.steps for job in jobs)
        self.steps_trained, self.t0 = 0, time.perf_counter()

    def __call__(self, job: CellJob, result: dict[str, Any], trained: bool) -> None:
        self.done += 1
        self.steps_left -= job.steps
        self.steps_trained += job.steps if trained else 0
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.steps_trained * self.steps_left if self.steps_trained else 0.0
        how = f"best val macro-F1 {result['best_val_f1_macro']:.3f}" + ("" if trained else ", stored")
        print(
            f"{self.stage}: cell {self.done}/{self.total} ({job.cell.name}, {how}) | "
            f"{_clock(elapsed)} elapsed, ETA {_clock(eta)}",
            flush=True,
        )


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
