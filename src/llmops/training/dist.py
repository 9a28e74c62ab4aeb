"""Which process am I? Read from the launcher's environment before any Trainer exists, so a stage
can decide early that only global rank 0 opens an MLflow run and writes outputs.

Launchers: Lightning's own subprocess launcher (plain `dvc repro`: children get LOCAL_RANK and
NODE_RANK), torchrun (RANK, LOCAL_WORLD_SIZE), SLURM srun (SLURM_PROCID, SLURM_NTASKS_PER_NODE)."""

from __future__ import annotations

import os
from typing import Any


def global_rank(trainer_cfg: Any | None = None) -> int:
    for var in ("RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    local = int(os.environ.get("LOCAL_RANK", 0))
    node = int(os.environ.get("NODE_RANK", 0))
    return node * processes_per_node(trainer_cfg) + local


def is_rank_zero(trainer_cfg: Any | None = None) -> bool:
    return global_rank(trainer_cfg) == 0


def processes_per_node(trainer_cfg: Any | None = None) -> int:
    """Processes sharing this machine's cores: from the launcher if it says, else the config."""
    for var in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    devices = getattr(trainer_cfg, "devices", 1) if trainer_cfg is not None else 1
    return devices if isinstance(devices, int) and devices > 0 else 1


def world_size(trainer_cfg: Any) -> int:
    """Processes in the job, before the Trainer exists (it is checked against the Trainer's later)."""
    if os.environ.get("WORLD_SIZE", "").isdigit():
        return int(os.environ["WORLD_SIZE"])
    devices = trainer_cfg.devices
    if isinstance(devices, list | tuple):
        per_node = len(devices)
    elif isinstance(devices, int) and devices > 0:
        per_node = devices
    else:  # "auto" / -1: every visible GPU, or one CPU process
        import torch

        gpu = trainer_cfg.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()
        per_node = torch.cuda.device_count() if gpu else 1
    return per_node * int(trainer_cfg.num_nodes)
