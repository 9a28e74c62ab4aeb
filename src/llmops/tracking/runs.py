"""One MLflow run per stage execution, tagged so runs can be traced back to code, params, data
and the pipeline run they belong to."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmops.config import flatten
from llmops.tracking.lineage import RUN_REFS, pipeline_id


def tracking_uri(params: Any) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or params.tracking.uri


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def params_subset(params: Any, keys: list[str]) -> dict[str, Any]:
    from omegaconf import OmegaConf

    container = OmegaConf.to_container(params, resolve=True) if not isinstance(params, dict) else params
    out: dict[str, Any] = {}
    for key in keys:  # dotted keys select sub-trees: "data.preprocess"
        node: Any = container
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            out[key] = node
    return out


def params_hash(subset: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(subset, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextlib.contextmanager
def stage_run(
    stage: str, params: Any, keys: list[str], tags: dict[str, str] | None = None, run_id: str | None = None
) -> Iterator[Any]:
    """Start an MLflow run for `stage` with the flattened params under `keys`; yields the run.
    `run_id` reopens an existing run instead (a training stage resuming after a crash).
    On success the run id is written to reports/runs/<stage>.json, a DVC output of the stage, so a
    cached stage keeps pointing at the run that made its outputs."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(params))
    mlflow.set_experiment(params.tracking.experiment)
    subset = params_subset(params, keys)
    all_tags = {
        "llmops.stage": stage,
        "llmops.git_commit": git_commit(),
        "llmops.params_hash": params_hash(subset),
        "llmops.pipeline_id": pipeline_id(),
        **(tags or {}),
    }
    exp = os.environ.get("DVC_EXP_NAME")
    name = f"{stage} [{exp}]" if exp else stage
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else name, tags=all_tags) as run:
        # the whole composed config, so any two runs compare on any param in the UI
        everything = params_subset(params, list(params.keys()))
        mlflow.log_params({k: str(v)[:500] for k, v in flatten(everything).items()})
        yield run
    write_run_ref(RUN_REFS / f"{stage}.json", run)


def write_run_ref(path: Path, run: Any, **extra: Any) -> None:
    """Record the run id inside a stage's output, so a DVC-cached output keeps pointing to its run."""
    from llmops.io import write_json

    write_json(path, {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, **extra})


def log_stage_run(
    stage: str,
    params: Any,
    keys: list[str],
    metrics: dict[str, Any] | None = None,
    artifacts: tuple[Path, ...] = (),
    failed: bool = False,
    tags: dict[str, str] | None = None,
) -> None:
    """A data stage's run, logged once its work is done (or has failed: the run is then FAILED)."""
    import mlflow

    try:
        with stage_run(stage, params, keys, tags) as run:
            numeric = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, int | float)}
            if numeric:
                mlflow.log_metrics(numeric)
            for path in artifacts:
                if path.is_dir():
                    mlflow.log_artifacts(str(path), artifact_path=path.name)
                elif path.exists():
                    mlflow.log_artifact(str(path))
            if failed:
                raise _StageFailed(run.info.run_id)
    except _StageFailed:
        pass


class _StageFailed(Exception):
    """Raised inside the run so MLflow marks it FAILED and no run reference is written."""


def log_loss_curves(run: Any, title: str) -> None:
    """train_loss / val_loss of the active run as loss_curves.png in its artifacts."""
    import tempfile

    import mlflow
    from mlflow.tracking import MlflowClient

    from llmops.tracking.plots import loss_curves_png

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "loss_curves.png"
        if loss_curves_png(MlflowClient(mlflow.get_tracking_uri()), run.info.run_id, path, title):
            mlflow.log_artifact(str(path))
