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
    return devices_per_node(trainer_cfg) if trainer_cfg is not None else 1


def world_size(trainer_cfg: Any) -> int:
    """Processes in the job, before the Trainer exists (it is checked against the Trainer's later)."""
    if os.environ.get("WORLD_SIZE", "").isdigit():
        return int(os.environ["WORLD_SIZE"])
    return devices_per_node(trainer_cfg) * int(trainer_cfg.num_nodes)


def devices_per_node(trainer_cfg: Any) -> int:
    """trainer.devices as a count: an int, a list of device ids, or auto / -1."""
    devices = trainer_cfg.devices
    if isinstance(devices, int) and devices > 0:
        return devices
    if not isinstance(devices, int | str):  # a list of ids (a ListConfig from YAML)
        return len(devices)
    import torch  # "auto" / -1: every visible GPU, or one CPU process

    gpu = trainer_cfg.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()
    return torch.cuda.device_count() if gpu else 1
