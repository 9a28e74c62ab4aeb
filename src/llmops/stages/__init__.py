"""DVC stage entry points: `python -m llmops.stages.<name>`. Each reads its declared params and
inputs, calls the areas, and writes its outs atomically.

Run as a stage, the process also
- holds the workspace lock (shared) until it exits, so nothing of ours rewrites params.yaml under it;
- fails at exit, before DVC writes dvc.lock, if params.yaml changed while it ran anyway (DVC's own
  `dvc exp run` in the workspace, a hand edit): the lock would record params the outputs were not
  made with;
- checks a tracking server named in MLFLOW_TRACKING_URI before any work."""

import atexit
import os
import sys
from pathlib import Path

from llmops.console import quiet_third_party
from llmops.tracking.store import TrackingUnavailable, check_server

quiet_third_party()


def _one_line(kind, value, traceback) -> None:
    """A tracking server that is down, or that stopped answering mid-run, is the user's to fix:
    one line, no traceback."""
    if isinstance(value, TrackingUnavailable):
        print(f"error: {value}", file=sys.stderr)
    elif _server_went_away(value):
        uri = os.environ.get("MLFLOW_TRACKING_URI", "")
        print(
            f"error: MLflow tracking server {uri} stopped answering mid-run (retries exhausted: "
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT); a training stage keeps its step "
            "checkpoint: rerun `dvc repro` once the server is back, and it resumes",
            file=sys.stderr,
        )
    else:
        sys.__excepthook__(kind, value, traceback)


def _server_went_away(error: BaseException) -> bool:
    """MLflow's REST client gave up on the server (connection refused or timed out after its retries)."""
    exceptions = sys.modules.get("mlflow.exceptions")
    if exceptions is None or not isinstance(error, exceptions.MlflowException):
        return False
    message = str(error)
    return "API request to" in message and ("Max retries exceeded" in message or "timed out" in message)


def _refuse_changed_params() -> None:
    from llmops.config import changed_since_loaded

    changed = changed_since_loaded()
    if changed:
        print(
            f"error: {changed[0].name} changed while this stage ran; its outputs were made with the params it "
            "loaded, so DVC must not record the new ones: run `dvc repro` again",
            file=sys.stderr,
        )
        sys.stderr.flush()
        os._exit(3)  # the only way to fail a process whose main() has returned; DVC then writes no lock


def _running_as_stage() -> bool:
    """`python -m llmops.stages.<name>` (DVC), or a DDP child started as the module's file; not
    an import from tests or the CLI."""
    argv = sys.orig_argv
    if "-m" in argv[:-1] and argv[argv.index("-m") + 1].startswith(f"{__name__}."):
        return True
    return Path(sys.argv[0]).resolve().parent == Path(__file__).resolve().parent


if _running_as_stage():
    from llmops.config import workspace_lock

    _held = workspace_lock(shared=True)
    _held.__enter__()  # released by the OS when the process ends
    atexit.register(_refuse_changed_params)
    sys.excepthook = _one_line
    check_server(os.environ.get("MLFLOW_TRACKING_URI", ""))
