"""One cell of the label-efficiency curve: fine-tune a classifier (pre-trained or scratch init) on
a label budget's subset for a step count fixed in advance, keep the best weights by macro-F1 on a
fixed validation subset, and predict the test split with them.

Cells share the tokenized splits and run one after another in one process (the learning_curve
stage); each cell is short, so it trains on one device without crash checkpoints: the stage keeps
finished cells instead."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from llmops.models.inputs import EncodedTexts, PadCollate, class_probabilities


@dataclass(frozen=True)
class Cell:
    init: str  # pretrained | scratch (or hf | hf_scratch)
    budget: int  # labeled train rows
    seed: int  # the subset's draw and the training seed

    @property
    def name(self) -> str:
        return f"{self.init}@{self.budget}/seed{self.seed}"


@dataclass(frozen=True)
class Budget:
    """What a cell trains on and for how long, fixed before any result is seen."""

    train: EncodedTexts
    steps: int
    batch_size: int
    val_every_steps: int


def fit_cell(
    cell: Cell,
    *,
    source: Path,
    labels: list[str],
    budget: Budget,
    val: EncodedTexts,
    test_ids: list[list[int]],
    pad_id: int,
    params: Any,
) -> dict[str, Any]:
    """Train `cell` from `source` (params.finetune for the optimizer, dropout and pooling,
    params.trainer for the device, one process) and return its best validation macro-F1 and step,
    and its predictions for `test_ids` from the best weights."""
    import lightning as L

    from llmops.models.hf import build_classifier
    from llmops.training.data import BatchPlan, text_batches, val_loader
    from llmops.training.trainer import fit_or_resume

    ft = params.finetune
    L.seed_everything(cell.seed, workers=True, verbose=False)
    model = build_classifier(source, labels, cell.init, dropout=ft.dropout, pooling=ft.get("pooling", "last"))
    plan = BatchPlan(global_batch=budget.batch_size, micro_batch=budget.batch_size, world_size=1)
    trainer = _trainer(params, plan=plan, budget=budget)
    module = _module(model, ft, steps=budget.steps)
    collate = PadCollate(pad_id)
    train = text_batches(
        budget.train,
        plan=plan,
        total_steps=budget.steps,
        seed=cell.seed,
        collate=collate,
        bucket_batches=int(ft.get("bucket_batches", 0)),
    )
    val_batches = val_loader(val, trainer, collate)
    t0 = time.perf_counter()
    fit_or_resume(trainer, module, train=train, val=val_batches, advice="lower finetune.lr")
    if module.best.get("step") != trainer.global_step:
        trainer.validate(module, val_batches, verbose=False)
    module.restore_best()
    proba = class_probabilities(module.model, test_ids, pad_id=pad_id)
    return {
        "best_val_f1_macro": float(module.best["val_f1_macro"]),
        "best_step": int(module.best["step"]),
        "steps": int(trainer.global_step),
        "train_time_s": time.perf_counter() - t0,
        "test_pred": np.asarray(proba.argmax(-1), dtype=np.int64),
    }


def one_process(trainer_cfg: Any) -> Any:
    """params.trainer's device and precision for a single process: the cells are too short to
    pay for starting a process group."""
    keep = OmegaConf.to_container(trainer_cfg)
    return OmegaConf.create({**keep, "devices": 1, "num_nodes": 1, "strategy": "auto", "log_every_n_steps": 50})


def _trainer(params: Any, plan: Any, budget: Budget) -> Any:
    """A one-process Trainer on params.trainer's device, no logger, no checkpoints."""
    from llmops.training.trainer import build_trainer

    return build_trainer(
        one_process(params.trainer),
        run=None,
        tracking_uri="",
        callbacks=[],
        plan=plan,
        max_steps=budget.steps,
        val_every_steps=budget.val_every_steps,
        gradient_clip_val=params.finetune.grad_clip,
    )


def _module(model: Any, ft: Any, steps: int) -> Any:
    from llmops.models.classifier import Classifier
    from llmops.training.optim import optimizer_from_config, schedule_from_config

    schedule = schedule_from_config(warmup_steps=int(ft.warmup_ratio * steps), total_steps=steps, min_lr_ratio=0.0)
    return Classifier(model, optimizer=optimizer_from_config(ft), scheduler=schedule)


class CellStore:
    """The finished cells of a learning-curve run, one JSON line each, so a killed stage resumes at
    the next cell. Lines written under another fingerprint (other params, data or LM) are dropped;
    a torn last line (killed mid-write) is ignored."""

    def __init__(self, folder: Path, fingerprint: dict[str, Any]):
        import hashlib
        import json

        self.file = folder / "cells.jsonl"
        self.key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()
        self.cells: dict[str, dict[str, Any]] = {}
        for line in self.file.read_text().splitlines() if self.file.exists() else []:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("fingerprint") == self.key:
                self.cells[entry["cell"]] = {**entry["result"], "test_pred": np.asarray(entry["result"]["test_pred"])}
        if self.file.exists() and not self.cells:
            self.file.unlink()

    def add(self, cell: Cell, result: dict[str, Any]) -> None:
        import json
        import os

        self.cells[cell.name] = result
        self.file.parent.mkdir(parents=True, exist_ok=True)
        stored = {**result, "test_pred": result["test_pred"].tolist()}
        with self.file.open("a") as f:
            f.write(json.dumps({"fingerprint": self.key, "cell": cell.name, "result": stored}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def clear(self) -> None:
        import shutil

        shutil.rmtree(self.file.parent, ignore_errors=True)
