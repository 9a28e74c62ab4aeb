"""LightningModule for fine-tuning a transformers sequence classifier. Validation macro-F1 and
accuracy are torchmetrics, so under DDP each rank scores its shard of the validation set and the
counts are summed across ranks; the best weights by validation macro-F1 are kept in memory, so the
saved model is the best evaluation point, not the last."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torchmetrics import MaxMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from llmops.models.guard import check_finite_loss
from llmops.models.lm import OptimizerFactory, SchedulerFactory


class Classifier(L.LightningModule):
    def __init__(self, model: torch.nn.Module, optimizer: OptimizerFactory, scheduler: SchedulerFactory):
        super().__init__()
        self.model = model
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.model.train()  # from_pretrained returns eval mode; dropout must be on while training
        n_classes = int(model.config.num_labels)
        self.val_f1 = MulticlassF1Score(n_classes, average="macro")
        self.val_accuracy = MulticlassAccuracy(n_classes, average="micro")
        self.val_f1_best = MaxMetric()
        self.val_rows = 0  # rows this rank scored in the last validation (1/N of them under N processes)
        self.best: dict[str, Any] = {"val_f1_macro": -1.0}
        self.best_state: dict[str, torch.Tensor] | None = None

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self.model(**batch).loss
        check_finite_loss(self, loss, "finetune")
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self.val_rows = 0

    def validation_step(self, batch, batch_idx: int) -> None:
        out = self.model(**batch)
        preds = out.logits.argmax(-1)
        self.val_f1.update(preds, batch["labels"])
        self.val_accuracy.update(preds, batch["labels"])
        self.val_rows += len(preds)
        self.log("val_loss", out.loss, on_epoch=True, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        f1, accuracy = float(self.val_f1.compute()), float(self.val_accuracy.compute())  # synced over ranks
        self.val_f1.reset()
        self.val_accuracy.reset()
        self.val_f1_best.update(f1)
        self.log_dict({"val_f1_macro": f1, "val_accuracy": accuracy, "val_f1_best": self.val_f1_best.compute()})
        if f1 > self.best["val_f1_macro"]:
            self.best = {"val_f1_macro": f1, "val_accuracy": accuracy, "step": self.global_step}
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["best_by_val"] = {"best": self.best, "state": self.best_state}  # survives a resume

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("best_by_val", {})
        self.best, self.best_state = saved.get("best", self.best), saved.get("state")
        if self.best_state is not None:
            self.val_f1_best.update(self.best["val_f1_macro"])

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.model)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer), "interval": "step"},
        }
