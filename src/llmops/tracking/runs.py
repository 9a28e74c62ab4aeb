"""One MLflow run per stage execution, tagged so runs can be traced back to code, params and data."""

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
    return {k: container[k] for k in keys if k in container}


def params_hash(subset: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(subset, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextlib.contextmanager
def stage_run(stage: str, params: Any, keys: list[str], tags: dict[str, str] | None = None) -> Iterator[Any]:
    """Start an MLflow run for `stage`, logging the flattened params under `keys`; yields the run."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(params))
    mlflow.set_experiment(params.tracking.experiment)
    subset = params_subset(params, keys)
    all_tags = {
        "llmops.stage": stage,
        "llmops.git_commit": git_commit(),
        "llmops.params_hash": params_hash(subset),
        **(tags or {}),
    }
    with mlflow.start_run(run_name=stage, tags=all_tags) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in flatten(subset).items()})
        yield run


def write_run_ref(path: Path, run: Any) -> None:
    """Record the run id inside a stage's output, so a DVC-cached output keeps pointing to its run."""
    from llmops.io import write_json

    write_json(path, {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id})
