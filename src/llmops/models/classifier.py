"""LightningModule for fine-tuning a transformers sequence classifier; keeps the best weights by
validation macro-F1 in memory, so the saved model is the best evaluation point, not the last."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from llmops.evaluation.metrics import classification_metrics
from llmops.training.guard import check_finite_loss
from llmops.training.optim import adamw, warmup_cosine


class Classifier(L.LightningModule):
    def __init__(self, model: torch.nn.Module, opt: Any, total_steps: int):
        super().__init__()
        self.model, self.opt, self.total_steps = model, opt, total_steps
        self.model.train()  # from_pretrained returns eval mode; dropout must be on while training
        self.best: dict[str, Any] = {"val_f1_macro": -1.0}
        self.best_state: dict[str, torch.Tensor] | None = None
        self._preds: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self.model(**batch).loss
        check_finite_loss(self, loss, "finetune")
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        out = self.model(**batch)
        self._preds.append(out.logits.argmax(-1))
        self._labels.append(batch["labels"])
        self.log("val_loss", out.loss, on_epoch=True, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        preds = torch.cat(self._preds).cpu().numpy()
        labels = torch.cat(self._labels).cpu().numpy()
        self._preds.clear()
        self._labels.clear()
        m = classification_metrics(labels, preds, n_classes=self.model.config.num_labels)
        self.log("val_f1_macro", m["f1_macro"], sync_dist=True)
        self.log("val_accuracy", m["accuracy"], sync_dist=True)
        if m["f1_macro"] > self.best["val_f1_macro"]:
            self.best = {"val_f1_macro": m["f1_macro"], "val_accuracy": m["accuracy"], "step": self.global_step}
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["best_by_val"] = {"best": self.best, "state": self.best_state}  # survives a resume

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("best_by_val", {})
        self.best, self.best_state = saved.get("best", self.best), saved.get("state")

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def configure_optimizers(self):
        optimizer = adamw(self.model, self.opt.lr, self.opt.weight_decay, float(self.opt.get("layer_decay", 1.0)))
        warmup = int(self.opt.warmup_ratio * self.total_steps)
        sched = warmup_cosine(optimizer, warmup, self.total_steps, min_lr_ratio=0.0)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
