"""What the pipeline prints: our own progress lines, and no known third-party noise.

Each filter below names one message we have seen and why it says nothing to a user of this
pipeline; warnings and errors from these libraries otherwise still get through.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings


class _DropMessages(logging.Filter):
    def __init__(self, *prefixes: str) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def quiet_third_party() -> None:
    # Lightning's device inventory on a CPU run ("GPU available: False", "TPU available: False")
    # its litlogger advertisement, and "`Trainer.fit` stopped: `max_steps=N` reached" (our own
    # progress says it; the learning curve would print it once per cell); its other notices
    # ("Starting with 2 processes") stay
    drop = _DropMessages("GPU available", "TPU available", "HPU available", "💡 Tip", "`Trainer.fit` stopped")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        if not any(isinstance(f, _DropMessages) for f in logging.getLogger(name).filters):
            logging.getLogger(name).addFilter(drop)
    # torch's pytree deprecation, raised inside Lightning, not in our code
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # transformers' LOAD REPORT: a classifier head is newly initialised on purpose
    # and its tensor-parallel plan check ("layers were not sharded"): we never shard by tensor
    for name in (
        "transformers.modeling_utils",
        "transformers.utils.loading_report",
        "transformers.distributed.tensor_parallel",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)
    # MLflow: store creation/migration chatter on a fresh sqlite store
    for name in ("mlflow.store.db.utils", "mlflow.tracking.fluent", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # and pyfunc advice that does not apply: our model has an explicit signature, so an input
    # example adds nothing
    warnings.filterwarnings("ignore", message=r".*An input example was not provided.*")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 60}m{seconds % 60:02d}s"


class ProgressLine:
    """`stage: step 120/400 (30%) | loss 5.41 | 6,812 tok/s | 0m58s elapsed, ETA 2m16s`.

    On a terminal the line rewrites itself in place; under DVC, CI or a pipe it prints a new line
    every `every_s` seconds (and at the last step), so logs stay short and greppable."""

    def __init__(self, stage: str, total: int, every_s: float = 15.0, stream=None) -> None:
        self.stage, self.total, self.every_s = stage, max(int(total), 1), every_s
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.start = time.perf_counter()
        self.last_print = -1e9
        self.first_step: int | None = None

    def update(self, step: int, loss: float | None = None, tokens_per_sec: float | None = None) -> None:
        now = time.perf_counter()
        if self.first_step is None:
            self.first_step, self.start = step, now
        done = step >= self.total
        if not done and now - self.last_print < (0.5 if self.live else self.every_s):
            return
        self.last_print = now
        elapsed = now - self.start
        rate = (step - self.first_step) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else 0.0
        parts = [f"{self.stage}: step {step}/{self.total} ({step / self.total:.0%})"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if tokens_per_sec:
            parts.append(f"{tokens_per_sec:,.0f} tok/s")
        parts.append(f"{_clock(elapsed)} elapsed, ETA {_clock(eta)}")
        line = " | ".join(parts)
        if self.live:
            self.stream.write("\r" + line.ljust(100) + ("\n" if done else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
