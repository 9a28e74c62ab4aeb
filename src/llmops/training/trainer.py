"""Build a Lightning Trainer from conf/trainer/ (cpu, gpu, ddp, fsdp; num_nodes for several
machines) with an MLflow logger bound to the stage's run on global rank 0, and run fit with
automatic resume from the stage's last step checkpoint."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger

from llmops.errors import StageError
from llmops.models.guard import NonFiniteLoss
from llmops.training.checkpoints import ResumeFolder
from llmops.training.data import BatchPlan, StepLoader
from llmops.training.dist import processes_per_node


def setup_runtime(trainer_cfg: Any, seed: int) -> None:
    # Processes on one machine share its cores: give each its share, never more (oversubscribed
    # torch threads ran 30x slower on 2 cores).
    torch.set_num_threads(max(1, int(trainer_cfg.num_threads) // processes_per_node(trainer_cfg)))
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    L.seed_everything(seed, workers=True, verbose=False)
    # Lightning 2.6 prints an advert for its hosted logger with every Trainer (a learning curve builds
    # dozens): noise between the progress lines. Its other notes (devices, precision) stay.
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoAdvert) for f in rank_zero.filters):
        rank_zero.addFilter(_NoAdvert())


class _NoAdvert(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def build_trainer(
    trainer_cfg: Any,
    run: Any | None,
    tracking_uri: str,
    callbacks: list,
    plan: BatchPlan,
    max_steps: int,
    val_every_steps: int,
    **kwargs: Any,
) -> L.Trainer:
    """`plan` sets gradient accumulation; validation runs every `val_every_steps` optimizer steps."""
    # The tracking URI is passed explicitly: MLFlowLogger's default breaks with MLflow 3.17.
    # Ranks other than 0 have no run and no logger: only rank 0 talks to MLflow.
    logger = MLFlowLogger(tracking_uri=tracking_uri, run_id=run.info.run_id, log_model=False) if run else False
    trainer = L.Trainer(
        accelerator=trainer_cfg.accelerator,
        devices=trainer_cfg.devices,
        num_nodes=trainer_cfg.num_nodes,
        strategy=_strategy(trainer_cfg),
        precision=trainer_cfg.precision,
        logger=logger,
        callbacks=callbacks,
        log_every_n_steps=trainer_cfg.log_every_n_steps,
        enable_checkpointing=False,  # our StepCheckpoint writes atomically outside DVC's outs
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # StepLoader shards global batches by rank itself
        max_epochs=1,  # StepLoader spans all epochs: one Lightning epoch, stopped by max_steps
        check_val_every_n_epoch=None,
        max_steps=max_steps,
        accumulate_grad_batches=plan.accumulation,
        val_check_interval=min(val_every_steps, max_steps) * plan.accumulation,  # counts micro-batches
        deterministic=False,
        **kwargs,
    )
    if trainer.world_size != plan.world_size:
        raise RuntimeError(f"the Trainer runs {trainer.world_size} processes, the batch plan assumed {plan.world_size}")
    return trainer


def _strategy(trainer_cfg: Any) -> Any:
    if trainer_cfg.strategy == "fsdp":
        from lightning.pytorch.strategies import FSDPStrategy
        from transformers.models.gpt2.modeling_gpt2 import GPT2Block
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer

        # one FSDP unit per transformer block; full (unsharded) checkpoints so resume and the
        # saved HF model work the same as under DDP
        return FSDPStrategy(auto_wrap_policy={LlamaDecoderLayer, GPT2Block}, state_dict_type="full")
    return trainer_cfg.strategy


def fit_or_resume(
    trainer: L.Trainer,
    module: L.LightningModule,
    train: StepLoader,
    val: Any,
    folder: ResumeFolder | None = None,
    advice: str = "",
) -> None:
    """trainer.fit, resuming from `folder`'s last checkpoint if there is one. A NaN/inf loss exits
    with a message naming the last good checkpoint and `advice` (what to change)."""
    train.trainer = trainer
    resume = folder.resume_path() if folder else None
    try:
        # weights_only: tensors and plain containers only, so a tampered checkpoint cannot run code
        trainer.fit(module, train, val, ckpt_path=str(resume) if resume else None, weights_only=True)
    except NonFiniteLoss as err:
        step = folder.resume_step() if folder else None
        kept = f"{folder.last} (step {step})" if step else "none yet"
        raise StageError(f"{err}; stopped. Last good checkpoint: {kept} ({advice})") from err


def load_trained_weights(trainer: L.Trainer, module: L.LightningModule) -> None:
    """Load the full trained weights into `module.model` on global rank 0, the rank that saves
    (under FSDP they are gathered, so every rank must call this)."""
    state = trainer.strategy.lightning_module_state_dict()
    if trainer.is_global_zero:
        module.model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
