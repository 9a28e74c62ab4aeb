"""One MLflow run per stage execution, tagged so runs can be traced back to code, params, data
and the pipeline run they belong to."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmops.config import all_params, flatten, recorded_overrides, select
from llmops.tracking.lineage import RUN_REFS, pipeline_id

# MLflow 3 opens an experiment without this tag on its GenAI overview; ours are training runs.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def tracking_uri(params: Any) -> str:
    """MLFLOW_TRACKING_URI, else tracking.uri; a relative sqlite store is the workspace root's."""
    from llmops.tracking.store import resolve_uri

    return resolve_uri(os.environ.get("MLFLOW_TRACKING_URI") or params.tracking.uri)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_context() -> dict[str, str]:
    """Where a run comes from: the Hydra overrides, the DVC experiment, the commit."""
    overrides = recorded_overrides()
    exp = os.environ.get("DVC_EXP_NAME", "")
    tags = {
        "llmops.overrides": " ".join(overrides) or "(none)",
        "llmops.git_commit": git_commit(),
        "llmops.git_dirty": str(git_dirty()).lower(),
    }
    if exp:
        # the experiment's own commit exists only once `dvc exp run` has finished; its name finds it:
        # `git rev-parse $(git for-each-ref --format='%(refname)' 'refs/exps/**/<name>')`
        tags["llmops.dvc_experiment"] = exp
        tags["llmops.dvc_baseline"] = os.environ.get("DVC_EXP_BASELINE_REV", "")
    return tags


def run_name(stage: str, context: dict[str, str]) -> str:
    label = context.get("llmops.dvc_experiment") or (
        context["llmops.overrides"] if context["llmops.overrides"] != "(none)" else "defaults"
    )
    return f"{stage} · {label[:80]}"


def git_dirty() -> bool:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
        return bool(out.stdout.strip())
    except OSError:
        return False


def params_hash(subset: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(subset, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextlib.contextmanager
def stage_run(
    stage: str,
    params: Any,
    keys: list[str],
    tags: dict[str, str] | None = None,
    run_id: str | None = None,
    write_ref: bool = True,
) -> Iterator[Any]:
    """Start an MLflow run for `stage` with the flattened params under `keys`; yields the run.
    `run_id` reopens an existing run instead (a training stage resuming after a crash).
    On success (and `write_ref`) the run id is written to reports/runs/<stage>.json, a DVC output of
    the stage, so a cached stage keeps pointing at the run that made its outputs."""
    import mlflow

    from llmops.tracking.store import ready_experiment

    uri = tracking_uri(params)
    experiment = ready_experiment(uri, params.tracking.experiment, tags=EXPERIMENT_KIND)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=experiment.experiment_id)
    _backfill(experiment.experiment_id)
    mark_killed_runs(uri, experiment.experiment_id, stage, keep=run_id)
    subset = select(params, keys)
    context = run_context()
    all_tags = {
        "llmops.stage": stage,
        "llmops.params_hash": params_hash(subset),
        "llmops.pipeline_id": pipeline_id(),
        "llmops.host": socket.gethostname(),
        "llmops.pid": str(os.getpid()),
        **context,
        **(tags or {}),
    }
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name(stage, context), tags=all_tags) as run:
        if run_id is None:  # the whole composed config, so any two runs compare on any param in the UI
            mlflow.log_params({k: str(v)[:500] for k, v in flatten(all_params()).items()})
        yield run
    if write_ref:
        write_run_ref(RUN_REFS / f"{stage}.json", run)


def mark_killed_runs(uri: str, experiment_id: str, stage: str, keep: str | None = None) -> list[str]:
    """End as KILLED the RUNNING runs of `stage` whose process, on this machine, is gone (a SIGKILL
    or a power cut never lets MLflow end them); `keep` is a run being resumed. Runs of other
    machines, or of a live process, are left alone. Returns the ids it ended."""
    from mlflow.tracking import MlflowClient

    client, host, ended = MlflowClient(uri), socket.gethostname(), []
    running = client.search_runs(
        [experiment_id], filter_string=f"tags.`llmops.stage` = '{stage}' and attributes.status = 'RUNNING'"
    )
    for run in running:
        pid = run.data.tags.get("llmops.pid", "")
        if run.info.run_id == keep or run.data.tags.get("llmops.host") != host or not pid.isdigit():
            continue
        if not _alive(int(pid)):
            client.set_tag(run.info.run_id, "llmops.ended_by", f"a later {stage} run: process {pid} was gone")
            client.set_terminated(run.info.run_id, status="KILLED")
            ended.append(run.info.run_id)
    return ended


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _backfill(experiment_id: str) -> None:
    """Earlier `dvc exp run`s have commits now: tag their runs (never fails the stage)."""
    try:
        import mlflow
        from mlflow.tracking import MlflowClient

        from llmops.tracking.lineage import backfill_experiment_commits

        backfill_experiment_commits(MlflowClient(mlflow.get_tracking_uri()), experiment_id)
    except Exception as err:  # a stage must not fail over bookkeeping of earlier runs
        print(f"note: could not tag earlier experiment runs with their commits ({type(err).__name__})")


def run_ref(run: Any, **extra: Any) -> dict[str, Any]:
    """What a stage's output records of the run that made it (mlflow_run.json, reports/runs/)."""
    return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, **extra}


def write_run_ref(path: Path, run: Any, **extra: Any) -> None:
    """Record the run id inside a stage's output, so a DVC-cached output keeps pointing to its run."""
    from llmops.io import write_json

    write_json(path, run_ref(run, **extra))


def log_stage_run(
    stage: str,
    params: Any,
    keys: list[str],
    metrics: dict[str, Any] | None = None,
    artifacts: tuple[Path, ...] = (),
    failed: bool = False,
    tags: dict[str, str] | None = None,
) -> None:
    """A data stage's run, logged once its work is done (or has failed: the run is then FAILED
    and no run reference is written)."""
    import mlflow

    with stage_run(stage, params, keys=keys, tags=tags, write_ref=not failed):
        numeric = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, int | float)}
        if numeric:
            mlflow.log_metrics({f"summary/{k}": v for k, v in numeric.items()})
        for path in artifacts:
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=path.name)
            elif path.exists():
                mlflow.log_artifact(str(path))
        if failed:
            mlflow.end_run(status="FAILED")


def skip_stage(
    stage: str, params: Any, keys: list[str], reason: str, model_dir: Path, metrics: Path, curves: Path, names: tuple
) -> int:
    """A training stage with nothing to train: its outputs exist (DVC expects them) and say why
    (`skipped.json`, a metrics file, header-only curves), and its MLflow run is tagged skipped."""
    from llmops.io import atomic_dir, write_json

    marker = {"skipped": True, "reason": reason}
    with atomic_dir(model_dir) as tmp:
        write_json(tmp / "skipped.json", marker)
    write_json(metrics, marker)
    with atomic_dir(curves) as tmp:
        for name in names:
            (tmp / f"{name}.csv").write_text(f"step,{name}\n")
    log_stage_run(stage, params, keys, tags={"llmops.skipped": "true"})
    print(f"{stage}: skipped ({reason})")
    return 0


def log_training_outputs(
    run: Any, metrics: dict[str, Any], metrics_file: Path, model_dir: Path, curves: Path, title: str, names: tuple
) -> None:
    """What every training stage logs once its outputs are written: single values as summary/
    metrics, the metrics file, the model directory, and the per-step curves (CSV + PNG)."""
    import mlflow

    mlflow.log_metrics({f"summary/{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float)})
    mlflow.log_artifact(str(metrics_file))
    mlflow.log_artifacts(str(model_dir), artifact_path="model")
    log_curves(run, title, out=curves, keys=names)


def log_curves(run: Any, title: str, out: Path, keys: tuple[str, ...] = ("train_loss", "val_loss")) -> None:
    """The run's per-step curves as one CSV per metric in `out` (step,<metric>: the DVC plots in
    dvc.yaml, so `dvc plots diff` compares experiments' curves) and as loss_curves.png in MLflow."""
    import tempfile

    import mlflow
    from mlflow.tracking import MlflowClient

    from llmops.io import atomic_dir
    from llmops.tracking.plots import loss_curves_png

    client = MlflowClient(mlflow.get_tracking_uri())
    with atomic_dir(out) as tmp:
        for key in keys:
            history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
            lines = [f"step,{key}", *(f"{m.step},{m.value:.6g}" for m in history)]
            (tmp / f"{key}.csv").write_text("\n".join(lines) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "loss_curves.png"
        if loss_curves_png(client, run.info.run_id, path=path, title=title):
            mlflow.log_artifact(str(path))


def log_child_run(parent: Any, name: str, params: dict[str, Any], metrics: dict[str, float]) -> None:
    """A finished child of `parent` (one cell of a stage that trains many small models): its params
    and metrics, tagged with the parent's stage, so the MLflow UI nests and compares them."""
    import mlflow

    inherited = ("llmops.pipeline_id", "llmops.overrides", "llmops.git_commit", "llmops.dvc_experiment")
    tags = {k: v for k, v in parent.data.tags.items() if k in inherited}
    tags.update({"llmops.stage": f"{parent.data.tags.get('llmops.stage', '')}/cell", "llmops.cell": name})
    with mlflow.start_run(run_name=name, nested=True, tags=tags):
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics(metrics)
