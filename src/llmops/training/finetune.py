"""Fine-tune a sequence classifier on the labeled train split and keep the best evaluation by
validation macro-F1. Shared by the `finetune` stage (finetune.init: pretrained | scratch | hf) and
the `finetune_scratch` stage (the same architecture from random init, same budget: the ablation).

Same launch model as pretrain: 1 or N processes (conf/trainer/), rank 0 logs and writes, a rerun
after a crash resumes from checkpoints/<stage>/."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from llmops.data.sources import sha256
from llmops.io import atomic_dir, read_json, write_json
from llmops.tracking.runs import log_curves, tracking_uri, write_run_ref

DATA = Path("data/processed")
LM = Path("models/pretrained")
KEYS = ["finetune", "seed"]


@dataclass(frozen=True)
class Job:
    stage: str  # MLflow stage tag, checkpoint folder, log prefix
    init: str  # pretrained | scratch | hf | hf_scratch
    out: Path
    metrics: Path
    curves: Path  # per-step CSVs for DVC plots


def run(params: Any, job: Job) -> int:
    import mlflow
    from torch.utils.data import DataLoader, Subset

    from llmops.models.classifier import Classifier
    from llmops.models.hf import build_classifier, classifier_config_source, load_tokenizer
    from llmops.training.callbacks import Progress, Throughput
    from llmops.training.checkpoints import StepCheckpoint
    from llmops.training.data import (
        BatchPlan,
        EncodedTexts,
        PadCollate,
        encode_texts,
        encoding_mode,
        steps_per_epoch,
        text_batches,
    )
    from llmops.training.dist import world_size
    from llmops.training.session import training_session
    from llmops.training.trainer import build_trainer, fit, model_state, setup_runtime

    ft, seed, tcfg = params.finetune, int(params.seed), params.trainer
    setup_runtime(tcfg, seed)
    labels = read_json(DATA / "labels.json")
    label_id = {lab: i for i, lab in enumerate(labels)}
    source = classifier_config_source(job.init, LM, ft.get("checkpoint"))
    tokenizer = load_tokenizer(source)
    mode = encoding_mode(job.init)
    train_df = pd.read_parquet(DATA / "train.parquet")
    val_df = pd.read_parquet(DATA / "val.parquet")
    if ft.val_subsample and ft.val_subsample < len(val_df):
        val_df = val_df.sample(n=int(ft.val_subsample), random_state=seed)

    def dataset(df: pd.DataFrame) -> EncodedTexts:
        ids = encode_texts(tokenizer, df["text"].tolist(), ft.max_length, mode)
        return EncodedTexts(ids, [label_id[lab] for lab in df["label"]])

    collate = PadCollate(tokenizer.pad_token_id)
    train_texts = dataset(train_df)
    val_texts = dataset(val_df)
    by_length = sorted(range(len(val_texts)), key=lambda i: len(val_texts.ids[i]))  # little padding; order-free metrics
    val_loader = DataLoader(Subset(val_texts, by_length), batch_size=128, collate_fn=collate)

    model = build_classifier(source, labels, job.init, ft.dropout, ft.get("pooling", "last"))
    upstream = read_json(LM / "mlflow_run.json")["run_id"] if job.init == "pretrained" else str(source)
    fingerprint = {
        "init": job.init,
        "source": upstream,
        "data": {name: sha256(DATA / name) for name in ("train.parquet", "val.parquet", "labels.json")},
    }
    tags = {"llmops.finetune.init": job.init, "llmops.finetune.source": str(source)}
    if job.init == "pretrained":
        tags["llmops.upstream.pretrain_run"] = upstream
    with training_session(job.stage, params, KEYS, fingerprint, tags) as session:
        throughput = Throughput()
        checkpoint = StepCheckpoint(session.folder.last, ft.checkpoint_every_steps)
        plan = BatchPlan.from_config(ft, world_size(tcfg), "finetune")
        per_epoch = steps_per_epoch(len(train_texts), plan)
        total = ft.epochs * per_epoch if ft.max_steps < 0 else min(ft.max_steps, ft.epochs * per_epoch)
        trainer = build_trainer(
            tcfg,
            run=session.run,
            tracking_uri=tracking_uri(params),
            callbacks=[throughput, checkpoint, Progress(job.stage, throughput)],
            plan=plan,
            max_steps=total,
            val_every_steps=ft.val_every_steps or per_epoch,
            gradient_clip_val=ft.grad_clip,
        )
        train = text_batches(
            train_texts, plan, total, seed, collate, trainer.strategy.root_device.type == "cuda",
            int(ft.get("bucket_batches", 0)),
        )  # fmt: skip
        module = Classifier(model, ft, total_steps=total)
        t0 = time.perf_counter()
        fit(trainer, module, train, val_loader, session.folder, "lower finetune.lr to start fresh")
        if module.best.get("step") != trainer.global_step:  # make sure the final weights were scored too
            trainer.validate(module, val_loader, verbose=False)
        train_time = time.perf_counter() - t0
        model_state(trainer)  # collective under FSDP; the best weights are kept on every rank
        if not session.rank_zero:
            return 0

        module.restore_best()
        metrics = {
            "best_val_f1_macro": module.best["val_f1_macro"],
            "best_val_accuracy": module.best["val_accuracy"],
            "best_step": module.best["step"],
            "steps": int(trainer.global_step),
            "epochs": trainer.global_step / per_epoch,
            "train_time_s": train_time,
            "tokens_per_sec": throughput.tokens_per_sec,
            "global_batch": plan.global_batch,
            "world_size": trainer.world_size,
            "resumed_from_step": session.resume_step,
            "n_params": sum(p.numel() for p in module.model.parameters()),
            "init": job.init,
        }
        with atomic_dir(job.out) as tmp:
            module.model.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))
            write_json(tmp / "preprocess.json", dict(params.data.preprocess))  # predict must clean text the same way
            write_json(tmp / "encoding.json", {"mode": mode, "max_length": int(ft.max_length)})
            write_run_ref(tmp / "mlflow_run.json", session.run)
        write_json(job.metrics, metrics)
        mlflow.log_metrics({f"summary/{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float)})
        mlflow.log_artifact(str(job.metrics))
        mlflow.log_artifacts(str(job.out), artifact_path="model")
        log_curves(
            session.run, f"fine-tuning loss ({job.init})", job.curves, ("train_loss", "val_loss", "val_f1_macro")
        )
    print(
        f"{job.stage}: {job.init} init, best val macro-F1 {metrics['best_val_f1_macro']:.4f} at step "
        f"{metrics['best_step']} of {metrics['steps']} ({train_time:.0f} s, "
        f"{math.ceil(metrics['epochs'] * 100) / 100} epochs) -> {job.out}/"
    )
    return 0
