"""Callbacks: training throughput (tokens/s, step time) logged to the run."""

from __future__ import annotations

import time

import lightning as L


class Throughput(L.Callback):
    """Counts real (non-pad) tokens per optimizer step and wall time spent in training steps."""

    def __init__(self) -> None:
        self.tokens = 0
        self.steps = 0
        self.train_time = 0.0
        self._t0 = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        dt = time.perf_counter() - self._t0
        self.train_time += dt
        self.steps += 1
        if isinstance(batch, dict):
            n = int(batch["attention_mask"].sum())
        else:
            n = batch[0].numel()
        self.tokens += n * trainer.world_size
        if trainer.global_step % max(1, trainer.log_every_n_steps) == 0:
            pl_module.log("tokens_per_sec", n * trainer.world_size / max(dt, 1e-9))
            pl_module.log("step_time_s", dt)

    @property
    def tokens_per_sec(self) -> float:
        return self.tokens / max(self.train_time, 1e-9)
