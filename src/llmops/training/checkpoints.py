"""Crash-recovery checkpoints: checkpoints/<stage>/<fingerprint>/last.ckpt, outside DVC's outs so
DVC never deletes them before a rerun. The fingerprint hashes everything that shapes training
(params subset + input data), so a rerun with the same inputs resumes and a changed one starts
fresh. A run that finishes deletes its folder: checkpoints exist only for unfinished runs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from llmops.errors import StageError

ROOT = Path("checkpoints")


class ResumeFolder:
    def __init__(self, stage: str, fingerprint: dict[str, Any], root: Path = ROOT):
        digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.stage_dir = root / stage
        self.dir = self.stage_dir / digest
        self.last = self.dir / "last.ckpt"

    def resume_path(self) -> Path | None:
        return self.last if self.last.exists() else None

    def resume_step(self) -> int | None:
        path = self.resume_path()
        if path is None:
            return None
        return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])

    def prepare(self) -> None:
        """Make the folder; drop folders of other fingerprints (runs that can never resume)."""
        if self.stage_dir.exists():
            for other in self.stage_dir.iterdir():
                if other != self.dir:
                    shutil.rmtree(other, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)

    def run_ref(self) -> dict[str, Any]:
        path = self.dir / "run.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def save_run_ref(self, run_id: str, params_hash: str) -> None:
        (self.dir / "run.json").write_text(json.dumps({"run_id": run_id, "params_hash": params_hash}))

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def exclusive(stage: str, root: Path = ROOT) -> Iterator[None]:
    """Hold checkpoints/<stage>.lock while the stage trains. A trainer left running after its dvc
    process was killed alone still holds it, so a second `dvc repro` refuses to start a second
    trainer on the same checkpoints and MLflow run. The OS releases the lock when the process ends."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{stage}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise StageError(
                f"{stage} is already training in this workspace ({holder} holds {root / stage}.lock, e.g. "
                "left running after its dvc was killed); wait for it to finish or kill it, then rerun"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class StepCheckpoint(L.Callback):
    """Every N optimizer steps: trainer.save_checkpoint to a temp file, then an atomic rename, so a
    kill mid-write leaves the previous checkpoint intact. Also carries the RNG states (Lightning's
    checkpoint does not), so dropout after a resume matches an uninterrupted run. Kept instead of
    Lightning's ModelCheckpoint for those RNG states and for one fixed file outside DVC's outputs
    (`checkpoints/<stage>/<fingerprint>/last.ckpt`) that resume finds without a glob over
    versioned names; ~25 lines either way."""

    def __init__(self, path: Path, every_n_steps: int):
        self.path, self.every_n_steps = Path(path), int(every_n_steps)
        self._saved_step = -1
        # a write cut short (a kill, a full disk) leaves the temp file: never resumed from, swept here
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.every_n_steps > 0 and step > 0 and step % self.every_n_steps == 0 and step != self._saved_step:
            self._saved_step = step
            tmp = self.path.with_name(self.path.name + ".tmp")
            trainer.save_checkpoint(tmp, weights_only=False)  # collective: every rank calls it
            if trainer.is_global_zero:
                os.replace(tmp, self.path)
            trainer.strategy.barrier("step_checkpoint")

    def state_dict(self) -> dict[str, Any]:
        # numpy's state as plain ints: checkpoints load with torch.load(weights_only=True), which
        # refuses numpy objects (and any other class that could run code while unpickling)
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        numpy_state = [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)]
        state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        name, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
        random.setstate(state["python"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
