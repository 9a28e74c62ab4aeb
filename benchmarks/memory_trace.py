"""Trace one corpus stage's memory over time: summed PSS of its process tree every second, beside
the datatrove passes that have started and the tasks each has completed, so a peak can be laid at
the pass that makes it (docs/data.md, Scale).

Usage (a workspace built by `benchmarks/data_scaling.py --keep DIR`, stages up to preprocess run):
    .venv/bin/python benchmarks/memory_trace.py DIR/x100 trace.tsv [prepare_corpus]
Columns: seconds, PSS MiB, {pass: completed tasks}, [passes started].
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
from data_scaling import _pss


def trace(ws: Path, out: Path, stage: str = "prepare_corpus") -> tuple[float, float]:
    """(wall seconds, peak PSS MiB), writing one line per second to `out`."""
    start, last, peak = time.perf_counter(), 0.0, 0.0
    proc = subprocess.Popen(
        [sys.executable, "-m", f"llmops.stages.{stage}"], cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    root = psutil.Process(proc.pid)
    with out.open("w") as f:
        while proc.poll() is None:
            try:
                total = sum(_pss(p) for p in [root, *root.children(recursive=True)] if p.is_running()) / 2**20
            except psutil.Error:
                continue
            peak = max(peak, total)
            if time.perf_counter() - last >= 1:
                last = time.perf_counter()
                f.write(f"{last - start:.0f}\t{total:.0f}\t{_passes(ws, stage)}\n")
                f.flush()
            time.sleep(0.1)
    if proc.returncode != 0:
        raise SystemExit(f"{stage} failed in {ws}:\n{proc.stdout.read().decode()[-3000:]}")
    return time.perf_counter() - start, peak


def _passes(ws: Path, stage: str) -> str:
    logs = sorted(ws.glob(f"checkpoints/{stage}/*/logs"))
    if not logs:
        return "{}\t[]"
    passes = [d for d in logs[0].iterdir() if d.is_dir()]
    done = {d.name: len(list((d / "completions").glob("*"))) for d in passes if (d / "completions").is_dir()}
    return f"{done}\t{[d.name for d in passes]}"


if __name__ == "__main__":
    secs, peak = trace(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:4])
    print(f"{secs:.1f} s, peak {peak:.0f} MiB")
