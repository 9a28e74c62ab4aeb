"""A local MLflow tracking server for a team: sqlite store, one worker, job execution off, and a
/llmops page that opens the UI on the training runs (llmops.tracking.ui_app).

    python -m llmops.tracking.server [--port 5000] [--db mlflow.db] [--artifacts mlartifacts]
    (or: make mlflow-server), then  export MLFLOW_TRACKING_URI=http://127.0.0.1:5000

It replaces itself with `mlflow server` (exec), so a signal to this process reaches the server.
MLflow's defaults start job-consumer processes that were measured to outlive a killed server (7
orphans); with job execution off and one worker, stopping the process group leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def command(port: int, db: Path, artifacts: Path, host: str = "127.0.0.1") -> list[str]:
    mlflow = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")
    return [
        mlflow,
        "server",
        "--backend-store-uri",
        f"sqlite:///{db.resolve()}",
        "--artifacts-destination",
        str(artifacts.resolve()),
        "--serve-artifacts",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--app-name",
        "llmops-ui",  # MLflow's app plus the /llmops landing page (llmops.tracking.ui_app)
    ]


def environment() -> dict[str, str]:
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--db", type=Path, default=Path("mlflow.db"))
    parser.add_argument("--artifacts", type=Path, default=Path("mlartifacts"))
    args = parser.parse_args(argv)
    cmd = command(args.port, args.db, artifacts=args.artifacts, host=args.host)
    print(f"MLflow tracking server on http://{args.host}:{args.port} (store {args.db})", flush=True)
    print(f"training runs: http://{args.host}:{args.port}/llmops", flush=True)
    os.execve(cmd[0], cmd, environment())


if __name__ == "__main__":
    main()
