"""Build a Lightning Trainer from conf/trainer/ with an MLflow logger bound to the stage's run."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger


def setup_runtime(trainer_cfg: Any, seed: int) -> None:
    torch.set_num_threads(int(trainer_cfg.num_threads))
    L.seed_everything(seed, workers=True, verbose=False)


def build_trainer(trainer_cfg: Any, run: Any, tracking_uri: str, callbacks: list, **kwargs: Any) -> L.Trainer:
    # The tracking URI is passed explicitly: MLFlowLogger's default breaks with MLflow 3.17.
    logger = MLFlowLogger(tracking_uri=tracking_uri, run_id=run.info.run_id, log_model=False)
    return L.Trainer(
        accelerator=trainer_cfg.accelerator,
        devices=trainer_cfg.devices,
        num_nodes=trainer_cfg.num_nodes,
        strategy=trainer_cfg.strategy,
        precision=trainer_cfg.precision,
        logger=logger,
        callbacks=callbacks,
        log_every_n_steps=trainer_cfg.log_every_n_steps,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
        **kwargs,
    )
