"""Trace one corpus stage's memory over time: summed PSS of its process tree every second, beside
the datatrove passes that have started and the tasks each has completed, so a peak can be laid at
the pass that makes it (docs/data.md, Scale).

Usage (a workspace built by `benchmarks/data_scaling.py --keep DIR`, stages up to preprocess run):
    .venv/bin/python benchmarks/memory_trace.py DIR/x100 trace.tsv [prepare_corpus]
Columns: seconds, PSS MiB, {pass: completed tasks}, [passes started].
"""

from __future__ import annotations

import sys
from pathlib import Path

from data_scaling import run_stage


def trace(ws: Path, out: Path, stage: str = "prepare_corpus") -> tuple[float, float]:
    """(wall seconds, peak PSS MiB): the benchmark's own measure, with one line per second to `out`."""
    last = [-1.0]
    with out.open("w") as f:

        def sample(seconds: float, mib: float) -> None:
            if seconds - last[0] >= 1:
                last[0] = seconds
                f.write(f"{seconds:.0f}\t{mib:.0f}\t{_passes(ws, stage)}\n")
                f.flush()

        return run_stage(ws, stage, sample=sample)


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
