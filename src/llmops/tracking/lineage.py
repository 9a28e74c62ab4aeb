"""Which pipeline run a stage belongs to, and where each stage's run id is recorded."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

RUN_REFS = Path("reports/runs")  # one small JSON per stage: its MLflow run id (DVC outs, not deps)


def pipeline_id() -> str:
    """Shared by every stage of one `dvc repro` / `dvc exp run`: the experiment's name, else the
    DVC process that launched the stage (pid + start time), else a fresh id (a stage run by hand)."""
    if os.environ.get("LLMOPS_PIPELINE_ID"):
        return os.environ["LLMOPS_PIPELINE_ID"]
    if os.environ.get("DVC_EXP_NAME"):
        return f"exp-{os.environ['DVC_EXP_NAME']}"
    try:
        import psutil

        proc = psutil.Process().parent()
        while proc is not None:
            cmd = proc.cmdline()
            if any(os.path.basename(c) == "dvc" for c in cmd[:2]):
                key = f"{proc.pid}-{proc.create_time()}"
                return "dvc-" + hashlib.sha1(key.encode()).hexdigest()[:12]
            proc = proc.parent()
    except Exception:  # no psutil, or a parent we may not inspect: fall through
        pass
    return f"manual-{uuid.uuid4().hex[:12]}"


def experiment_commits() -> dict[str, str]:
    """{DVC experiment name: its commit}, from the refs `dvc exp run` leaves (refs/exps/...)."""
    import subprocess

    out = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"], capture_output=True, text=True
    ).stdout
    commits = {}
    for line in out.splitlines():
        ref, sha = line.split()
        if ref.count("/") >= 4:  # refs/exps/<2>/<38>/<name>; skip exec/, temp refs
            commits[ref.rsplit("/", 1)[1]] = sha
    return commits


def backfill_experiment_commits(client, experiment_id: str) -> int:
    """Tag each run of a finished `dvc exp run` with the experiment's own commit
    (`llmops.exp_commit`): it exists only after the run, so the next stage run or `make mlflow-ui`
    fills it in. Returns how many runs were tagged."""
    commits = experiment_commits()
    if not commits:
        return 0
    runs = client.search_runs([experiment_id], "tags.`llmops.dvc_experiment` LIKE '%'", max_results=5000)
    tagged = 0
    for run in runs:
        name = run.data.tags.get("llmops.dvc_experiment")
        if name in commits and "llmops.exp_commit" not in run.data.tags:
            client.set_tag(run.info.run_id, "llmops.exp_commit", commits[name])
            tagged += 1
    return tagged


if __name__ == "__main__":  # python -m llmops.tracking.lineage: what `make mlflow-ui` runs first
    from mlflow.tracking import MlflowClient

    from llmops.tracking.store import default_uri

    client = MlflowClient(default_uri())
    exp = client.get_experiment_by_name(os.environ.get("LLMOPS_EXPERIMENT", "llmops"))
    if exp is not None:
        print(f"tagged {backfill_experiment_commits(client, exp.experiment_id)} runs with their experiment's commit")
