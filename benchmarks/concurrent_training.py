"""Two trainings at once on one machine (`dvc queue start -j 2`, a second shell): how much slower
is each than alone? Ratios against the solo time in the same run, for OpenMP's default (spinning)
wait policy and the passive one llmops sets (`OMP_WAIT_POLICY=PASSIVE`, src/llmops/__init__.py).

    .venv/bin/python benchmarks/concurrent_training.py            # 2-thread training steps, ~3 min
    .venv/bin/python benchmarks/concurrent_training.py --pipelines # + two ci pipelines, ~10 min

The step workload is a transformer layer's forward, backward and AdamW step at our model's scale,
with torch.set_num_threads(2) as trainer.num_threads sets it. `--pipelines` runs `dvc repro` of
the ci experiment in two fresh copies of the repository at once, against one alone."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = """
import sys, time, torch
torch.set_num_threads(2)
torch.manual_seed(0)
layer = torch.nn.TransformerEncoderLayer(256, 4, 1024, batch_first=True)
opt = torch.optim.AdamW(layer.parameters())
x = torch.randn(16, 64, 256)
for _ in range(5):
    layer(x).pow(2).mean().backward()
t = time.perf_counter()
for _ in range(60):
    layer(x).pow(2).mean().backward(); opt.step(); opt.zero_grad()
print(time.perf_counter() - t)
"""


def _env(policy: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    return env


def _timed(cmds: list[list[str]], env: dict[str, str], cwds: list[Path] | None = None) -> list[float]:
    """Start every command at once; each one's wall time, or the seconds it printed last (the
    training loop's own time, without Python's and torch's start-up)."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(c, env=env, cwd=(cwds or [None] * len(cmds))[i], stdout=subprocess.PIPE, text=True)
        for i, c in enumerate(cmds)
    ]
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"{p.args} exited {p.returncode}")
        wall = time.perf_counter() - start
        printed = stdout.strip().splitlines()[-1:] if stdout else []
        out.append(float(printed[0]) if printed and _is_number(printed[0]) else wall)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def steps(policy: str | None, rounds: int) -> tuple[float, float]:
    """(solo seconds, the slower of two concurrent runs' seconds), medians over rounds."""
    cmd = [sys.executable, "-c", STEPS]
    solo = sorted(_timed([cmd], _env(policy))[0] for _ in range(rounds))[rounds // 2]
    pair = sorted(max(_timed([cmd, cmd], _env(policy))) for _ in range(rounds))[rounds // 2]
    return solo, pair


def pipelines(policy: str | None) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import copy_repo

    base = Path(tempfile.mkdtemp(prefix="llmops-concurrent-"))
    venv = Path(sys.executable).parent
    env = {**_env(policy), "PATH": f"{venv}:{os.environ['PATH']}", "OMP_NUM_THREADS": "2"}
    try:
        copies = [copy_repo(base / f"ws{i}") for i in range(3)]
        for ws in copies:
            subprocess.run([sys.executable, "-m", "llmops.config", "experiment=ci"], cwd=ws, env=env, check=True)
        repro = ["dvc", "repro", "-q"]
        solo = _timed([repro], {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{copies[0]}/mlflow.db"}, [copies[0]])[0]
        pair = max(_timed([repro, repro], {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{base}/shared.db"}, copies[1:]))
        return solo, pair
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", action="store_true", help="also two ci pipelines at once (~10 min)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| workload | OMP_WAIT_POLICY | solo (s) | each of two at once (s) | ratio |")
    print("|---|---|---|---|---|")
    for policy in (None, "PASSIVE"):
        solo, pair = steps(policy, args.rounds)
        name = policy or "default (spin)"
        print(f"| 60 training steps, 2 threads | {name} | {solo:.1f} | {pair:.1f} | {pair / solo:.2f}x |")
    if args.pipelines:
        solo, pair = pipelines("PASSIVE")
        print(f"| ci pipeline (dvc repro) | PASSIVE (llmops) | {solo:.0f} | {pair:.0f} | {pair / solo:.2f}x |")


if __name__ == "__main__":
    main()
