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
