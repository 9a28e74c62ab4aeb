"""A training stage's session: on global rank 0 one MLflow run (reopened when resuming after a
crash); on every rank the resume folder and the step to resume from. On success the crash
checkpoints are deleted; on failure (kill, NaN) they stay for the rerun."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmops.config import select
from llmops.tracking.runs import params_hash, stage_run
from llmops.training.checkpoints import ResumeFolder, exclusive
from llmops.training.dist import is_rank_zero


@dataclass
class Session:
    run: Any | None  # the MLflow run on rank 0, None elsewhere
    folder: ResumeFolder
    resume_step: int | None
    rank_zero: bool


@contextlib.contextmanager
def training_session(
    stage: str, params: Any, keys: list[str], fingerprint: dict[str, Any], tags: dict[str, str] | None = None
) -> Iterator[Session]:
    folder = ResumeFolder(stage, {"params": select(params, keys), **fingerprint})
    if not is_rank_zero(params.trainer):
        yield Session(None, folder, resume_step=folder.resume_step(), rank_zero=False)
        return
    with exclusive(stage):  # before reading the folder: a second trainer of this stage stops here
        resume_step = folder.resume_step()
        all_params = params_hash(select(params, list(params.keys())))
        run_id = None
        if resume_step is None:
            folder.prepare()
        else:
            ref = folder.run_ref()
            run_id = ref.get("run_id") if ref.get("params_hash") == all_params else None
            print(
                f"{stage}: resuming from {folder.last} at step {resume_step}"
                + (f" (MLflow run {run_id})" if run_id else "")
            )
            tags = {**(tags or {}), "llmops.resumed_from_step": str(resume_step)}
        with stage_run(stage, params, keys, tags=tags, run_id=run_id) as run:
            folder.save_run_ref(run.info.run_id, all_params)
            yield Session(run, folder, resume_step=resume_step, rank_zero=True)
        folder.clear()
