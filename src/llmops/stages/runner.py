"""The one place a stage process is run from: every stage module ends with
`if __name__ == "__main__": run_stage(main)`, and importing a stage does nothing.

`run_stage` owns what every stage needs around its `main()`:
- the workspace lock (shared) for the whole run, so nothing of ours rewrites params.yaml under it;
- the tracking preflight: a server named in MLFLOW_TRACKING_URI must answer before any work;
- one way to fail: a `StageError` is one line on stderr (`<stage>: error: ...`) and exit 1, its
  MLflow run logged as FAILED with what the stage had counted; a tracking server that is down or
  went away mid-run is one line too; anything else is a bug and keeps its traceback;
- a params.yaml changed while the stage ran (DVC's own `dvc exp run` in the workspace, a hand
  edit) fails the stage with exit 3 before DVC writes dvc.lock, which would otherwise record
  params the outputs were not made with."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from llmops.errors import StageError

__all__ = ["StageError", "run_main", "run_stage"]

CHANGED_PARAMS_EXIT = 3


def stage_name(main: Callable[..., Any]) -> str:
    """`llmops.stages.finetune` -> finetune; a stage started as its file is `__main__`."""
    module = main.__module__
    if module == "__main__":
        module = Path(sys.argv[0]).stem
    return module.rpartition(".")[2]


def run_stage(main: Callable[[], int | None]) -> NoReturn:
    """Run `main` as a DVC stage and exit with its status (see the module's docstring)."""
    from llmops.config import workspace_lock
    from llmops.console import quiet_third_party

    quiet_third_party()
    name = stage_name(main)
    with workspace_lock(shared=True):
        code = run_main(main)
        if code == 0:
            code = _refuse_changed_params(name)
    sys.stdout.flush()
    sys.exit(code)


def run_main(main: Callable[[], int | None]) -> int:
    """`main()` with the preflight and the error handling, but no lock and no exit: the status a
    stage process would exit with. Tests call stages in-process through this."""
    from llmops.tracking.store import TrackingUnavailable, check_server

    name = stage_name(main)
    try:
        check_server(os.environ.get("MLFLOW_TRACKING_URI", ""))
        return int(main() or 0)
    except StageError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        if err.params is not None:
            _log_failed_run(name, err)
        return 1
    except TrackingUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        if not _server_went_away(err):
            raise
        uri = os.environ.get("MLFLOW_TRACKING_URI", "")
        print(
            f"error: MLflow tracking server {uri} stopped answering mid-run (retries exhausted: "
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT); a training stage keeps its step "
            "checkpoint: rerun `dvc repro` once the server is back, and it resumes",
            file=sys.stderr,
        )
        return 1


def _log_failed_run(name: str, err: StageError) -> None:
    from llmops.tracking.runs import log_stage_run

    log_stage_run(name, err.params, keys=err.keys, metrics=err.metrics, artifacts=err.artifacts, failed=True)


def _server_went_away(error: BaseException) -> bool:
    """MLflow's REST client gave up on the server (connection refused or timed out after its retries)."""
    exceptions = sys.modules.get("mlflow.exceptions")
    if exceptions is None or not isinstance(error, exceptions.MlflowException):
        return False
    message = str(error)
    return "API request to" in message and ("Max retries exceeded" in message or "timed out" in message)


def _refuse_changed_params(name: str) -> int:
    from llmops.config import changed_since_loaded

    changed = changed_since_loaded()
    if not changed:
        return 0
    print(
        f"{name}: error: {changed[0].name} changed while this stage ran; its outputs were made with the params "
        "it loaded, so DVC must not record the new ones: run `dvc repro` again",
        file=sys.stderr,
    )
    return CHANGED_PARAMS_EXIT
