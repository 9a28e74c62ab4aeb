"""AdamW with weight-decay groups and a warmup + cosine learning-rate schedule."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any

import torch

_BLOCK = re.compile(r"\.(?:layers|layer|h)\.(\d+)\.")  # llama / bert / gpt2 block index in a param name


def _is_embedding(name: str) -> bool:
    return "embed" in name or "wte" in name or "wpe" in name


def layer_depth(name: str, n_layers: int) -> int:
    """0 for embeddings, i + 1 for transformer block i, n_layers + 1 for what sits on top (final
    norm, pooler, classification head)."""
    block = _BLOCK.search(name)
    if block:
        return int(block.group(1)) + 1
    return 0 if _is_embedding(name) else n_layers + 1


def adamw(model: torch.nn.Module, lr: float, weight_decay: float, layer_decay: float = 1.0) -> torch.optim.AdamW:
    """No decay on biases, norms and embeddings (1-D params and embedding tables). With
    layer_decay < 1, block i trains at lr * layer_decay ** (depth of the head - depth of i):
    the pre-trained lower layers move less than the freshly initialised head."""
    n_layers = int(getattr(model.config, "num_hidden_layers", 0))
    groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}  # (lr scale, decays) -> params
    for name, p in model.named_parameters():
        if p.requires_grad:
            scale = layer_decay ** (n_layers + 1 - layer_depth(name, n_layers))  # 1.0 everywhere when off
            groups.setdefault((scale, not (p.ndim < 2 or _is_embedding(name))), []).append(p)
    param_groups = [
        {"params": params, "weight_decay": weight_decay if decays else 0.0, "lr": lr * scale}
        for (scale, decays), params in sorted(groups.items(), key=lambda kv: (-kv[0][0], not kv[0][1]))
    ]
    return torch.optim.AdamW(param_groups, lr=lr, betas=(0.9, 0.95), fused=torch.cuda.is_available() or None)


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.1
) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def optimizer_from_config(cfg: Any) -> Callable[[torch.nn.Module], torch.optim.AdamW]:
    """AdamW as a factory of the module's parameters (`lr`, `weight_decay`, optional `layer_decay`
    from a pretrain/finetune config group), in the way lightning-hydra-template's `_partial_` works."""
    return functools.partial(
        adamw, lr=float(cfg.lr), weight_decay=float(cfg.weight_decay), layer_decay=float(cfg.get("layer_decay", 1.0))
    )


def schedule_from_config(
    warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LambdaLR]:
    return functools.partial(
        warmup_cosine, warmup_steps=int(warmup_steps), total_steps=int(total_steps), min_lr_ratio=float(min_lr_ratio)
    )
