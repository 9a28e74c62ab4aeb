"""Callbacks: throughput (tokens/s, step time, MFU) and step checkpoints for resuming after a crash."""

from __future__ import annotations

import time

import lightning as L
import torch


class Throughput(L.Callback):
    """Real (non-pad) tokens per second over optimizer steps, summed over ranks, and MFU.

    Time is wall clock between step boundaries, with a device sync at each logging point only (a
    sync every step would slow a GPU down); the first `skip_steps` steps (torch.compile, allocator
    warm-up) are left out of the totals. The totals and the attempt's wall time travel in the step
    checkpoints, so after a resume the rates and `elapsed_s` cover the whole run, not only the part
    after the resume."""

    def __init__(self, flops_per_token: float = 0.0, peak_tflops: float = 0.0, skip_steps: int = 2) -> None:
        self.flops_per_token, self.peak_tflops, self.skip_steps = flops_per_token, peak_tflops, skip_steps
        self.tokens = 0  # counted over the timed steps
        self.steps = 0
        self.train_time = 0.0
        self._window_tokens = 0
        self._window_start: float | None = None
        self._window_step = 0
        self._last_step = -1
        self.earlier_elapsed_s = 0.0  # wall time of earlier attempts, up to the checkpoint resumed from
        self._attempt_start = time.perf_counter()

    def on_train_start(self, trainer, pl_module) -> None:
        self._attempt_start = time.perf_counter()

    @property
    def elapsed_s(self) -> float:
        """Training wall time so far: earlier attempts up to the checkpoint resumed from, plus this one."""
        return self.earlier_elapsed_s + time.perf_counter() - self._attempt_start

    def state_dict(self) -> dict[str, float]:
        return {"tokens": self.tokens, "steps": self.steps, "train_time": self.train_time, "elapsed_s": self.elapsed_s}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.tokens, self.steps = int(state["tokens"]), int(state["steps"])
        self.train_time, self.earlier_elapsed_s = float(state["train_time"]), float(state["elapsed_s"])

    def _sync(self, pl_module: L.LightningModule) -> float:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        return time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = int(batch["attention_mask"].sum()) if isinstance(batch, dict) else batch[0].numel()
        self._window_tokens += n * trainer.world_size
        step = trainer.global_step
        if step == self._last_step:  # inside an accumulation window
            return
        self._last_step = step
        if self._window_start is None:
            if step >= self.skip_steps or step >= trainer.max_steps:
                self._window_start, self._window_step, self._window_tokens = self._sync(pl_module), step, 0
            else:
                self._window_tokens = 0
            return
        if step % max(1, trainer.log_every_n_steps) == 0 or step >= trainer.max_steps:
            self._close_window(trainer, pl_module, step)

    def on_train_end(self, trainer, pl_module) -> None:
        if self._window_start is not None and trainer.global_step > self._window_step:
            self._close_window(trainer, pl_module, trainer.global_step, log=False)

    def _close_window(self, trainer, pl_module, step: int, log: bool = True) -> None:
        now = self._sync(pl_module)
        dt, steps = now - self._window_start, step - self._window_step
        self.tokens += self._window_tokens
        self.steps += steps
        self.train_time += dt
        if log and dt > 0:
            rate = self._window_tokens / dt
            metrics = {"tokens_per_sec": rate, "step_time_s": dt / steps}
            if self.peak_tflops > 0 and self.flops_per_token > 0:
                metrics["mfu"] = self.mfu(rate, trainer.world_size)
            pl_module.log_dict(metrics, rank_zero_only=True)
        self._window_start, self._window_step, self._window_tokens = now, step, 0

    def mfu(self, tokens_per_sec: float, world_size: int) -> float:
        return tokens_per_sec * self.flops_per_token / (self.peak_tflops * 1e12 * world_size)

    @property
    def tokens_per_sec(self) -> float:
        return self.tokens / max(self.train_time, 1e-9)

    @property
    def step_time_s(self) -> float:
        return self.train_time / max(self.steps, 1)


class Progress(L.Callback):
    """A progress line on global rank 0 (see llmops.console.ProgressLine): step/total, the last
    train loss, tokens/s from the Throughput callback, elapsed time and ETA."""

    def __init__(self, stage: str, throughput: Throughput | None = None) -> None:
        self.stage, self.throughput = stage, throughput
        self.line = None
        self._last_step = -1

    def on_train_start(self, trainer, pl_module) -> None:
        from llmops.console import ProgressLine

        if trainer.is_global_zero:
            self.line = ProgressLine(self.stage, trainer.max_steps)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.line is None or step == self._last_step:
            return
        self._last_step = step
        loss = trainer.callback_metrics.get("train_loss")
        rate = self.throughput.tokens_per_sec if self.throughput and self.throughput.train_time else None
        self.line.update(step, float(loss) if loss is not None else None, rate)
