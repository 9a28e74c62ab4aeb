"""prepare_corpus on a two-node Ray cluster against `local` with 1 worker, on the workspace's real
inputs (the default data at 1x after `dvc repro preprocess`): the same output bytes and counts?
where did the tasks run? how long did each take? Starts the two Ray nodes on this machine (one CPU
each, `ray start`) and stops them afterwards.

    .venv/bin/python benchmarks/ray_cluster.py
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from llmops.config import load_stage_params  # noqa: E402
from llmops.corpus import pipeline  # noqa: E402
from llmops.stages.prepare_corpus import build, summarize  # noqa: E402


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def start_cluster(temp: str) -> str:
    ray = str(Path(sys.executable).parent / "ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    common = ["--num-cpus=1", "--disable-usage-stats"]
    head = [ray, "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}", *common]
    subprocess.run(head, check=True, capture_output=True)
    subprocess.run([ray, "start", f"--address=127.0.0.1:{port}", *common], check=True, capture_output=True)
    return f"127.0.0.1:{port}"


def timed(job: pipeline.Job) -> tuple[dict, float]:
    start = time.perf_counter()
    stats = summarize(pipeline.run(job))
    return stats, time.perf_counter() - start


def main() -> int:
    import os

    os.chdir(ROOT)
    job = build(load_stage_params("prepare_corpus"))
    base = Path(tempfile.mkdtemp(prefix="raybench"))
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    try:
        local, t_local = timed(dataclasses.replace(job, work=base / "local", workers=1))
        address = start_cluster(temp)
        ray_job = dataclasses.replace(job, work=base / "ray", workers=2, kind="ray", address=address)
        on_ray, t_ray = timed(ray_job)
    finally:
        subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"], capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)
    same = files(base / "local" / "out") == files(base / "ray" / "out")
    logs = "".join(p.read_text() for p in (base / "ray" / "logs").rglob("*.log"))
    nodes = sorted(set(re.findall(r"ray node ([0-9a-f]+)", logs)))
    kept = f"{local['train_documents']:,} train / {local['val_documents']:,} val"
    print(f"documents in {local['documents_in']:,}; kept {kept}")
    print(f"local, 1 worker:       {t_local:6.1f} s")
    print(f"ray, 2 nodes x 1 CPU:  {t_ray:6.1f} s   tasks ran on {len(nodes)} nodes")
    print(f"same output bytes: {same}; same counts: {local == on_ray}")
    shutil.rmtree(base, ignore_errors=True)
    return 0 if same and local == on_ray and len(nodes) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
