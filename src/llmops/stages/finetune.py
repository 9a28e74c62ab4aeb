"""finetune: train a sequence classifier on the labeled train split, starting from the pre-trained
LM (finetune.init=pretrained) or from random init (scratch); keep the best evaluation by validation
macro-F1 -> models/classifier/ (HF format, with tokenizer) and metrics/finetune.json."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import pandas as pd

from llmops.config import load_params
from llmops.io import atomic_dir, read_json, write_json
from llmops.tracking.runs import log_loss_curves, stage_run, tracking_uri, write_run_ref

DATA = Path("data/processed")
LM = Path("models/pretrained")
OUT = Path("models/classifier")
METRICS = Path("metrics/finetune.json")


def main() -> int:
    params = load_params()
    import mlflow
    import torch
    from torch.utils.data import DataLoader

    from llmops.models.classifier import Classifier
    from llmops.models.hf import classifier_from_lm, load_tokenizer
    from llmops.training.callbacks import Throughput
    from llmops.training.data import EncodedTexts, PadCollate, encode_texts
    from llmops.training.trainer import build_trainer, setup_runtime

    ft, seed = params.finetune, int(params.seed)
    setup_runtime(params.trainer, seed)
    labels = read_json(DATA / "labels.json")
    label_id = {lab: i for i, lab in enumerate(labels)}
    tokenizer = load_tokenizer(LM)
    train_df = pd.read_parquet(DATA / "train.parquet")
    val_df = pd.read_parquet(DATA / "val.parquet")
    if ft.val_subsample and ft.val_subsample < len(val_df):
        val_df = val_df.sample(n=int(ft.val_subsample), random_state=seed)

    def dataset(df: pd.DataFrame) -> EncodedTexts:
        return EncodedTexts(
            encode_texts(tokenizer, df["text"].tolist(), ft.max_length), [label_id[lab] for lab in df["label"]]
        )

    collate = PadCollate(tokenizer.pad_token_id)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(
        dataset(train_df), batch_size=ft.batch_size, shuffle=True, generator=generator, collate_fn=collate
    )
    val_loader = DataLoader(dataset(val_df), batch_size=128, collate_fn=collate)
    steps_per_epoch = len(train_loader)
    total = ft.epochs * steps_per_epoch if ft.max_steps < 0 else min(ft.max_steps, ft.epochs * steps_per_epoch)

    model = classifier_from_lm(LM, labels, ft.init, ft.dropout)
    module = Classifier(model, ft, total_steps=total)
    throughput = Throughput()
    keys = ["finetune", "trainer", "seed"]
    lineage = read_json(LM / "mlflow_run.json")
    with stage_run("finetune", params, keys, tags={"llmops.upstream.pretrain_run": lineage["run_id"]}) as run:
        val_every = ft.get("val_every_steps") or steps_per_epoch
        trainer = build_trainer(
            params.trainer,
            run,
            tracking_uri(params),
            [throughput],
            max_epochs=ft.epochs,
            gradient_clip_val=ft.grad_clip,
            max_steps=total,
            val_check_interval=min(val_every, steps_per_epoch),
            check_val_every_n_epoch=None if ft.get("val_every_steps") else 1,
        )
        t0 = time.perf_counter()
        trainer.fit(module, train_loader, val_loader)
        if module.best.get("step") != trainer.global_step:  # make sure the final weights were scored too
            trainer.validate(module, val_loader, verbose=False)
        train_time = time.perf_counter() - t0
        module.restore_best()
        metrics = {
            "best_val_f1_macro": module.best["val_f1_macro"],
            "best_val_accuracy": module.best["val_accuracy"],
            "best_step": module.best["step"],
            "steps": int(trainer.global_step),
            "epochs": trainer.global_step / steps_per_epoch,
            "train_time_s": train_time,
            "tokens_per_sec": throughput.tokens_per_sec,
            "init": ft.init,
        }
        with atomic_dir(OUT) as tmp:
            module.model.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))
            write_json(tmp / "preprocess.json", dict(params.data.preprocess))  # predict must clean text the same way
            write_run_ref(tmp / "mlflow_run.json", run)
        write_json(METRICS, metrics)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, int | float)})
        mlflow.log_artifact(str(METRICS))
        mlflow.log_artifacts(str(OUT), artifact_path="model")
        log_loss_curves(run, "fine-tuning loss")
    print(
        f"finetune: best val macro-F1 {metrics['best_val_f1_macro']:.3f} at step {metrics['best_step']} "
        f"of {metrics['steps']} ({train_time:.0f} s, {math.ceil(metrics['epochs'] * 100) / 100} epochs) -> {OUT}/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
