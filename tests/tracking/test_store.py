"""Where the MLflow store is (also from a DVC queue's temp workspace), its one-time creation under
a lock, and the preflight of a tracking server."""

import subprocess
import sys

import pytest

from llmops.tracking.store import TrackingUnavailable, artifact_root, check_server, resolve_uri, workspace_root

from ..conftest import free_port


def test_a_queue_temp_workspace_logs_to_the_repository_store(tmp_path):
    queued = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpab12cd"
    assert workspace_root(queued) == tmp_path / "repo"
    assert resolve_uri("sqlite:///mlflow.db", queued) == f"sqlite:///{tmp_path / 'repo' / 'mlflow.db'}"
    assert artifact_root("sqlite:///x.db", queued) == (tmp_path / "repo" / "mlruns").as_uri()
    assert resolve_uri("sqlite:////abs/m.db", queued) == "sqlite:////abs/m.db"
    assert resolve_uri("http://127.0.0.1:5000", queued) == "http://127.0.0.1:5000"
    assert workspace_root(tmp_path / "repo") == tmp_path / "repo"


def test_a_tracking_server_that_is_down_fails_a_stage_at_once_in_one_line(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingUnavailable, match=f"MLflow tracking server {uri} did not answer"):
        check_server(uri, timeout=2)
    proc = subprocess.run(
        [sys.executable, "-m", "llmops.stages.ingest"],
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: MLflow tracking server {uri} did not answer within 5 s ([Errno 111] Connection refused); "
        "start it, or unset MLFLOW_TRACKING_URI to log to the workspace's sqlite store"
    ]


def test_a_new_store_opened_by_several_processes_at_once_is_created_once(tmp_path):
    """Schema migrations of one new sqlite store in parallel broke it (`duplicate column name`);
    under the store lock every process gets the same, working experiment."""
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    code = (
        "import sys; from llmops.tracking.store import ready_experiment; "
        "print(ready_experiment(sys.argv[1], 'llmops', {'k': 'v'}).experiment_id)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, uri], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err.decode()[-500:] for _, err in outs]
    assert len({out.strip() for out, _ in outs}) == 1, "one experiment, the same id for all"


def test_a_killed_stages_run_is_ended_as_killed_when_the_stage_runs_again(tmp_path, monkeypatch):
    """A SIGKILLed stage's run stays RUNNING forever unless someone ends it: the next run of that
    stage does, for runs of this machine whose process is gone; live or foreign runs stay."""
    import os
    import shutil
    import socket

    from mlflow.tracking import MlflowClient

    from llmops.config import load_stage_params, write_params
    from llmops.tracking.runs import stage_run
    from llmops.tracking.store import ready_experiment

    from ..conftest import ROOT

    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copy2(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    write_params([])
    gone = subprocess.Popen(["true"])
    gone.wait()
    client = MlflowClient(uri)
    experiment_id = ready_experiment(uri, "llmops", {}).experiment_id

    def running(host: str, pid: int) -> str:
        tags = {"llmops.stage": "train_tokenizer", "llmops.host": host, "llmops.pid": str(pid)}
        return client.create_run(experiment_id, tags=tags).info.run_id

    killed, live, elsewhere = (
        running(socket.gethostname(), gone.pid),
        running(socket.gethostname(), os.getpid()),
        (running("another-machine", gone.pid)),
    )
    with stage_run("train_tokenizer", load_stage_params("train_tokenizer"), ["tokenizer"], write_ref=False) as run:
        assert run.data.tags["llmops.pid"] == str(os.getpid())
    status = {run_id: client.get_run(run_id).info.status for run_id in (killed, live, elsewhere, run.info.run_id)}
    assert list(status.values()) == ["KILLED", "RUNNING", "RUNNING", "FINISHED"]
    assert "was gone" in client.get_run(killed).data.tags["llmops.ended_by"]
