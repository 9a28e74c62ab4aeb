"""The one way a stage fails on the user's account. Raised by stages and by the areas they call
(a training run that diverged, a checkpoint folder held by another run); `stages/runner.py`
turns it into one line on stderr and exit 1. Anything else that escapes a stage is a bug and
keeps its traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class StageError(Exception):
    """The user's to fix (bad data, a budget the split cannot hold, a failed gate): one line, exit 1.

    With `params`, the runner logs the stage's MLflow run as FAILED with `keys` (params), `metrics`
    and `artifacts`, so a failed run is found and compared in the UI like any other."""

    def __init__(
        self,
        message: str,
        params: Any = None,
        keys: tuple[str, ...] = (),
        metrics: dict[str, Any] | None = None,
        artifacts: tuple[Path, ...] = (),
    ) -> None:
        super().__init__(message)
        self.params, self.keys, self.metrics, self.artifacts = params, list(keys), metrics, artifacts
