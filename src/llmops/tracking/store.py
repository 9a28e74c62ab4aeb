"""Where the MLflow store is, and getting it ready once.

- A relative `sqlite:///mlflow.db` means the repository root's store, also when a stage runs in a
  DVC queue's temp workspace (`<repo>/.dvc/tmp/exps/<tmp>/`, deleted afterwards): otherwise each
  queued experiment would log into a fresh store that vanishes with it.
- A new sqlite store is created (schema migrations) and the experiment made under a file lock:
  two processes migrating one new store at once broke it for everyone (`duplicate column`).
- A tracking server is checked first, with a short timeout, so a stage fails in seconds naming
  the URI instead of retrying for minutes; MLflow's own HTTP retries are bounded by default
  (MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT: set them to override)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

QUEUE_WORKSPACE = (".dvc", "tmp", "exps")
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
PREFLIGHT_TIMEOUT_S = 5.0


class TrackingUnavailable(RuntimeError):
    pass


def workspace_root(cwd: Path | None = None) -> Path:
    """The repository a stage belongs to: the working directory, or for a DVC queue's temp
    workspace the repository that queued it."""
    cwd = (cwd or Path.cwd()).resolve()
    parts = cwd.parts
    for i in range(len(parts) - len(QUEUE_WORKSPACE)):
        if parts[i : i + len(QUEUE_WORKSPACE)] == QUEUE_WORKSPACE:
            return Path(*parts[:i])
    return cwd


def resolve_uri(uri: str, cwd: Path | None = None) -> str:
    """A relative sqlite URI made absolute against the workspace root; anything else as given."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{workspace_root(cwd) / uri.removeprefix('sqlite:///')}"
    return uri


def default_uri() -> str:
    """What the CLI and `make mlflow-ui` use: MLFLOW_TRACKING_URI, else the workspace's sqlite store."""
    return resolve_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))


def artifact_root(uri: str, cwd: Path | None = None) -> str | None:
    """Where a new experiment of a local store keeps its artifacts: the workspace root's mlruns/
    (never a queue's temp folder). None for a server, which decides itself."""
    return (workspace_root(cwd) / "mlruns").as_uri() if uri.startswith("sqlite:") else None


def check_server(uri: str, timeout: float = PREFLIGHT_TIMEOUT_S) -> None:
    """For an http(s) tracking URI: its /health answers within `timeout`, else TrackingUnavailable."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            if response.status == 200:
                return
            why = f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as err:
        why = str(getattr(err, "reason", err))
    raise TrackingUnavailable(
        f"MLflow tracking server {uri} did not answer within {timeout:g} s ({why}); start it, or unset "
        "MLFLOW_TRACKING_URI to log to the workspace's sqlite store"
    )


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ready_experiment(uri: str, name: str, tags: dict[str, str]) -> Any:
    """The experiment `name` in the store at `uri` (created, with `tags`, if new), after the server
    preflight; the store's creation and migration happen once, under a file lock."""
    from mlflow.tracking import MlflowClient

    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    check_server(uri)
    with _store_lock(uri):
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            client.create_experiment(name, artifact_location=artifact_root(uri), tags=tags)
            experiment = client.get_experiment_by_name(name)
        elif any(experiment.tags.get(k) != v for k, v in tags.items()):
            for key, value in tags.items():
                client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment
