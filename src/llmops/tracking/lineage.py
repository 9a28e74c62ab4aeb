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
