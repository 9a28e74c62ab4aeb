"""LightningModule for causal-LM pre-training of a transformers model. The optimizer and the
learning-rate schedule are passed in as factories (training/optim.py builds them from config)."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, PretrainedConfig

from llmops.models.guard import check_finite_loss

OptimizerFactory = Callable[[torch.nn.Module], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


class CausalLM(L.LightningModule):
    def __init__(
        self,
        config: PretrainedConfig,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory,
        compile: bool = False,
    ):
        super().__init__()
        # SDPA picks flash / memory-efficient attention kernels on GPUs that have them
        self.model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
        if compile:
            self.model.compile()  # in place: parameter names (and checkpoints) stay unprefixed
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self._val_sum: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=x).logits

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor], reduction: str = "mean") -> torch.Tensor:
        x, y = batch
        logits = self(x)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1), reduction=reduction)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        check_finite_loss(self, loss, "pretrain")
        self.log("train_loss", loss, prog_bar=True)
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"])
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        # summed, not averaged per batch: the mean over all windows whatever the batch size
        total = self._loss(batch, "sum").detach()
        self._val_sum.append(torch.stack([total, total.new_tensor(batch[1].numel())]))

    def on_validation_epoch_end(self) -> None:
        total, count = torch.stack(self._val_sum).sum(0)
        loss = total / count
        self._val_sum.clear()
        self.log("val_loss", loss, sync_dist=True)
        self.log("val_perplexity", torch.exp(loss), sync_dist=True)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.model)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer), "interval": "step"},
        }
