"""Stop on a NaN/inf loss before it reaches the weights: the last step checkpoint stays good."""

from __future__ import annotations

import lightning as L
import torch


class NonFiniteLoss(FloatingPointError):
    pass


def check_finite_loss(module: L.LightningModule, loss: torch.Tensor, stage: str) -> None:
    """Raise on every rank together (an all-reduce of the decision), so no rank waits forever on
    a gradient all-reduce that the failing rank never joins."""
    finite = bool(torch.isfinite(loss.detach()).all())
    if module.trainer.world_size > 1:
        finite = module.trainer.strategy.reduce_boolean_decision(finite, all=True)
    if not finite:
        raise NonFiniteLoss(f"{stage}: training loss became {loss.item()} at step {module.global_step + 1}")
