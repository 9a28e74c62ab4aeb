"""Causal-LM pre-training on random windows of the packed memmap, as two steps the `pretrain`
stage calls in turn: `build` (model, trainer, batches) and `fit` (train, resume, final validation).
The stage saves and logs what `fit` returns."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from llmops.models.hf import build_lm_config
from llmops.models.lm import CausalLM
from llmops.training.callbacks import Progress, Throughput
from llmops.training.checkpoints import StepCheckpoint
from llmops.training.data import (
    BatchPlan,
    FixedWindows,
    PackedTokens,
    StepLoader,
    in_domain_share,
    in_domain_tokens,
    window_batches,
)
from llmops.training.dist import world_size
from llmops.training.flops import flops_per_token, peak_tflops
from llmops.training.optim import optimizer_from_config, schedule_from_config
from llmops.training.session import Session
from llmops.training.trainer import build_trainer, fit_or_resume, load_trained_weights

DIVERGED_ADVICE = "a rerun resumes from it and will hit the same loss: lower pretrain.lr or raise warmup_steps"


@dataclass
class Pretraining:
    module: CausalLM
    trainer: L.Trainer
    train: StepLoader
    val: DataLoader
    plan: BatchPlan
    throughput: Throughput
    peak_source: str
    context: int
    in_domain_share: float  # of the windows drawn (training.data.in_domain_share)


def build(params: Any, packed: Path, meta: dict[str, Any], session: Session, tracking_uri: str) -> Pretraining:
    """The model from conf/model/ sized to the tokenizer, a Trainer for conf/trainer/, and batches
    that are a function of (seed, step) alone."""
    pretrain_cfg, trainer_cfg = params.pretrain, params.trainer
    context = int(params.model.context_length)
    config = build_lm_config(params.model, meta["vocab_size"], meta["special_ids"])
    plan = BatchPlan.from_config(pretrain_cfg, world_size(trainer_cfg), stage="pretrain", context=context)
    share = in_domain_share(meta.get("train_segments"), meta["train_tokens"], pretrain_cfg.get("in_domain_fraction"))
    inside = in_domain_tokens(meta.get("train_segments"))
    steps = planned_steps(pretrain_cfg, inside=inside, share=share, tokens_per_step=plan.global_batch * context)
    module = CausalLM(
        config,
        optimizer=optimizer_from_config(pretrain_cfg),
        scheduler=schedule_from_config(
            warmup_steps=pretrain_cfg.warmup_steps, total_steps=steps, min_lr_ratio=pretrain_cfg.min_lr_ratio
        ),
        compile=bool(trainer_cfg.compile),
    )
    throughput = Throughput(flops_per_token(config, n_params=module.model.num_parameters()))
    checkpoint = StepCheckpoint(session.folder.last, pretrain_cfg.checkpoint_every_steps)
    trainer = build_trainer(
        trainer_cfg,
        run=session.run,
        tracking_uri=tracking_uri,
        callbacks=[throughput, checkpoint, Progress("pretrain", throughput)],
        plan=plan,
        max_steps=steps,
        val_every_steps=pretrain_cfg.val_every_steps,
        gradient_clip_val=pretrain_cfg.grad_clip,
    )
    device = trainer.strategy.root_device
    throughput.peak_tflops, peak_source = peak_tflops(
        trainer_cfg.get("peak_tflops"), device, str(trainer_cfg.precision)
    )
    val_tokens = PackedTokens(packed / "val", meta["dtype"], context, expected=meta["val_tokens"])
    val = FixedWindows(val_tokens, n_windows=pretrain_cfg.val_batches * plan.global_batch, batch_size=plan.micro_batch)
    train = window_batches(
        PackedTokens(packed / "train", meta["dtype"], context, expected=meta["train_tokens"]),
        plan=plan,
        total_steps=steps,
        seed=int(params.seed),
        pin_memory=device.type == "cuda",
        segments=meta.get("train_segments"),
        in_domain_fraction=pretrain_cfg.get("in_domain_fraction"),
    )
    val_loader = DataLoader(val, batch_size=None, shuffle=False, num_workers=0, pin_memory=device.type == "cuda")
    return Pretraining(
        module,
        trainer,
        train=train,
        val=val_loader,
        plan=plan,
        throughput=throughput,
        peak_source=peak_source,
        context=context,
        in_domain_share=share,
    )


def planned_steps(cfg: Any, inside: int, share: float, tokens_per_step: int) -> int:
    """pretrain.max_steps, or, where the task's own text is large, the steps that read its `inside`
    tokens pretrain.in_domain_epochs times when `share` of the windows come from them, at most
    pretrain.max_auto_steps. A function of the packed data and the params alone.
    The tweets' 400 steps sat on the plateau of the development suite's sets, which all read their
    text 2 to 21 times in them; a large corpus read a tenth of a time gained little
    (docs/experiments.md)."""
    steps = int(cfg.max_steps)
    if not cfg.get("in_domain_epochs") or not inside or not share:
        return steps
    need = math.ceil(float(cfg.in_domain_epochs) * inside / (share * tokens_per_step))
    return max(steps, min(need, int(cfg.max_auto_steps)))


def fit(job: Pretraining, session: Session, meta: dict[str, Any]) -> dict[str, Any]:
    """Train (resuming from the session's last step checkpoint), validate the final weights, load
    them into `job.module.model` on every rank, and return the stage's metrics."""
    t0 = time.perf_counter()
    fit_or_resume(
        job.trainer,
        job.module,
        train=job.train,
        val=job.val,
        folder=session.folder,
        advice=DIVERGED_ADVICE + ", which starts fresh",
    )
    train_time = job.throughput.earlier_elapsed_s + time.perf_counter() - t0
    val_loss = float(job.trainer.validate(job.module, job.val, verbose=False)[0]["val_loss"])
    load_trained_weights(job.trainer, job.module)
    return _metrics(job, meta, val_loss=val_loss, train_time=train_time, resume_step=session.resume_step)


def _mfu(job: Pretraining) -> dict[str, Any]:
    """MFU against the peak. A CPU's peak is a GEMM measured at startup, which reads low when other
    work shares the cores, so it is measured again after training and the higher reading kept; an
    MFU still above 100% means neither reading can be trusted and is reported as None, saying why."""
    tp, source = job.throughput, job.peak_source
    if source.startswith("measured"):
        tp.peak_tflops = max(tp.peak_tflops, peak_tflops(None, job.trainer.strategy.root_device)[0])
    mfu = tp.mfu(tp.tokens_per_sec, job.trainer.world_size) if tp.peak_tflops else None
    if mfu is not None and mfu > 1.0:
        mfu, source = None, f"{source}: below the achieved rate (a busy machine?), set trainer.peak_tflops"
    return {"mfu": mfu, "peak_tflops_per_device": tp.peak_tflops, "peak_source": source}


def _metrics(job: Pretraining, meta: dict, val_loss: float, train_time: float, resume_step: int | None) -> dict:
    steps, plan, tp = int(job.trainer.global_step), job.plan, job.throughput
    inside = in_domain_tokens(meta.get("train_segments"))
    seen = steps * plan.global_batch * job.context
    return {
        "val_loss": val_loss,
        "val_perplexity": math.exp(val_loss),
        "tokens_per_sec": tp.tokens_per_sec,
        "step_time_s": tp.step_time_s,
        "model_flops_per_token": tp.flops_per_token,
        **_mfu(job),
        "train_time_s": train_time,
        "train_time_before_resume_s": tp.earlier_elapsed_s,
        "steps": steps,
        "resumed_from_step": resume_step,
        "global_batch": plan.global_batch,
        "micro_batch": plan.micro_batch,
        "accumulation": plan.accumulation,
        "world_size": job.trainer.world_size,
        "tokens_seen": seen,
        "epochs_of_corpus": seen / meta["train_tokens"],
        # how often the LM read the task's own text: the figure the gain follows (docs/experiments.md)
        "in_domain_tokens": inside,
        "in_domain_epochs": seen * job.in_domain_share / inside if inside else None,
        "timed_tokens": tp.tokens,
        "timed_steps": tp.steps,
        "n_params": job.module.model.num_parameters(),
    }
