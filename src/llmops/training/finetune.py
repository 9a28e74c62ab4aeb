"""Fine-tune a sequence classifier on the labeled train split, keeping the best evaluation by
validation macro-F1, as the steps the `finetune` stage calls in turn: `encode_splits` (texts to
token ids), `build` (classifier, trainer, batches) and `fit` (train, resume, restore the best
weights). The stage saves and logs what `fit` returns; the learning curve's cells call the same
`build` and `fit` with their own recipe and step count.

Same launch model as pretrain: 1 or N processes (conf/trainer/), rank 0 logs and writes, a rerun
after a crash resumes from checkpoints/<name>/."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
from torch.utils.data import DataLoader

from llmops.data.budget import budget_rows
from llmops.io import read_json
from llmops.models.classifier import Classifier
from llmops.models.hf import build_classifier
from llmops.models.inputs import EncodedTexts, PadCollate, encode_texts, resolve_max_length
from llmops.training.callbacks import Progress, Throughput
from llmops.training.data import BatchPlan, StepLoader, steps_per_epoch, text_batches, val_loader
from llmops.training.dist import world_size
from llmops.training.optim import optimizer_from_config, schedule_from_config
from llmops.training.session import Session
from llmops.training.trainer import build_trainer, fit_or_resume


@dataclass(frozen=True)
class EncodedSplits:
    labels: list[str]
    train: EncodedTexts
    val: EncodedTexts
    pad_id: int
    max_length: int | None = None  # the recipe's, or what `auto` chose (`max_length_rule` says which)
    max_length_rule: str = "set"


@dataclass
class FineTuning:
    module: Classifier
    trainer: L.Trainer
    train: StepLoader
    val: DataLoader
    plan: BatchPlan
    steps_per_epoch: int
    throughput: Throughput


def encode_splits(data: Path, tokenizer: Any, cfg: Any, seed: int, template: str) -> EncodedSplits:
    """The train split (or its `cfg.label_budget`-row stratified subset) and the validation split
    (or `cfg.val_subsample` fixed texts of it) as token ids under the model's input template, with
    label ids in labels.json's order. `max_length: auto` is chosen on the whole train split."""
    labels = read_json(data / "labels.json")
    label_id = {label: i for i, label in enumerate(labels)}
    train_df, val_df = pd.read_parquet(data / "train.parquet"), pd.read_parquet(data / "val.parquet")
    max_length, rule = resolve_max_length(cfg.max_length, tokenizer, train_df["text"].tolist(), template=template)
    train_df = train_df.iloc[budget_rows(train_df["label"].tolist(), cfg.get("label_budget"), seed=seed)]
    if cfg.val_subsample and cfg.val_subsample < len(val_df):
        val_df = val_df.sample(n=int(cfg.val_subsample), random_state=seed)

    def encoded(df: pd.DataFrame) -> EncodedTexts:
        ids = encode_texts(tokenizer, df["text"].tolist(), max_length, template=template, truncation=cfg.truncation)
        return EncodedTexts(ids, [label_id[label] for label in df["label"]])

    train, val = encoded(train_df), encoded(val_df)
    pad_id = tokenizer.pad_token_id
    return EncodedSplits(labels, train, val=val, pad_id=pad_id, max_length=max_length, max_length_rule=rule)


def build(
    recipe: Any,
    trainer_cfg: Any,
    *,
    init: str,
    source: Path,
    splits: EncodedSplits,
    seed: int,
    steps: int | None = None,
    val_every_steps: int | None = None,
    callbacks: tuple = (),
    progress: str | None = None,
    run: Any | None = None,
    tracking_uri: str = "",
) -> FineTuning:
    """The classifier from `source` (weights or, for scratch inits, architecture only), a Trainer
    for `trainer_cfg`, and per-epoch permutations of the train split as global batches. `recipe` is
    the finetune group or the learning curve's own copy of it; `steps` (default: recipe.epochs, at
    least recipe.min_steps, at most recipe.max_steps) and `val_every_steps` (default: the recipe's,
    else once per epoch) set the length; `progress` names the stage in a progress line (none: silent)."""
    model = build_classifier(source, splits.labels, init, dropout=recipe.dropout, pooling=recipe.pooling)
    plan = BatchPlan.from_config(recipe, world_size(trainer_cfg), "finetune")
    per_epoch = steps_per_epoch(len(splits.train), plan)
    if steps is None:  # epochs, at least min_steps (a small train split), at most max_steps
        by_epochs = max(recipe.epochs * per_epoch, int(recipe.get("min_steps") or 0))
        steps = by_epochs if recipe.max_steps < 0 else min(recipe.max_steps, by_epochs)
    throughput = Throughput()
    trainer = build_trainer(
        trainer_cfg,
        run=run,
        tracking_uri=tracking_uri,
        callbacks=[throughput, *callbacks, *([Progress(progress, throughput)] if progress else [])],
        plan=plan,
        max_steps=steps,
        val_every_steps=val_every_steps or recipe.get("val_every_steps") or per_epoch,
        gradient_clip_val=recipe.grad_clip,
    )
    collate = PadCollate(splits.pad_id)
    train = text_batches(
        splits.train,
        plan=plan,
        total_steps=steps,
        seed=seed,
        collate=collate,
        pin_memory=trainer.strategy.root_device.type == "cuda",
        bucket_batches=int(recipe.bucket_batches),
    )
    schedule = schedule_from_config(warmup_steps=int(recipe.warmup_ratio * steps), total_steps=steps, min_lr_ratio=0.0)
    module = Classifier(model, optimizer=optimizer_from_config(recipe), scheduler=schedule)
    return FineTuning(
        module,
        trainer,
        train=train,
        val=val_loader(splits.val, trainer, collate),
        plan=plan,
        steps_per_epoch=per_epoch,
        throughput=throughput,
    )


def fit(job: FineTuning, session: Session | None, advice: str) -> dict[str, Any]:
    """Train (resuming from the session's last step checkpoint, if a session keeps them), make sure
    the final weights were scored, load the best weights by validation macro-F1 and return the metrics."""
    trainer, module = job.trainer, job.module
    t0 = time.perf_counter()
    folder = session.folder if session else None
    fit_or_resume(trainer, module, train=job.train, val=job.val, folder=folder, advice=advice)
    if module.best.get("step") != trainer.global_step:
        trainer.validate(module, job.val, verbose=False)
    train_time = job.throughput.earlier_elapsed_s + time.perf_counter() - t0
    trainer.strategy.lightning_module_state_dict()  # a collective under FSDP: every rank joins it
    module.restore_best()
    return {
        "best_val_f1_macro": module.best["val_f1_macro"],
        "best_val_accuracy": module.best["val_accuracy"],
        "best_step": module.best["step"],
        "steps": int(trainer.global_step),
        "epochs": trainer.global_step / job.steps_per_epoch,
        "train_time_s": train_time,
        "train_time_before_resume_s": job.throughput.earlier_elapsed_s,
        "tokens_per_sec": job.throughput.tokens_per_sec,
        "global_batch": job.plan.global_batch,
        "world_size": trainer.world_size,
        "val_rows_per_rank": module.val_rows,
        "resumed_from_step": session.resume_step if session else None,
        "n_params": module.model.num_parameters(),
    }
