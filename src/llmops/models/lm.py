"""LightningModule for causal-LM pre-training of a transformers model."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, PretrainedConfig

from llmops.training.optim import adamw, warmup_cosine


class CausalLM(L.LightningModule):
    def __init__(self, config: PretrainedConfig, opt: Any, total_steps: int):
        super().__init__()
        self.model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
        self.opt, self.total_steps = opt, total_steps
        self._val_losses: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=x).logits

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"pretrain: loss is {loss.item()} at step {self.global_step}; stopping")
        self.log("train_loss", loss, prog_bar=True)
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"])
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self._val_losses.append(self._loss(batch).detach())

    def on_validation_epoch_end(self) -> None:
        loss = torch.stack(self._val_losses).mean()
        self._val_losses.clear()
        self.log("val_loss", loss, sync_dist=True)
        self.log("val_perplexity", torch.exp(loss), sync_dist=True)

    def configure_optimizers(self):
        optimizer = adamw(self.model, self.opt.lr, self.opt.weight_decay)
        sched = warmup_cosine(optimizer, self.opt.warmup_steps, self.total_steps, self.opt.min_lr_ratio)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
