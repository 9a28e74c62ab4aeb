"""`llmops retrain`: the logic of CI-triggered retraining, kept here where it is tested; the GitHub
workflow only calls it.

1. `dvc pull` from the remote (nothing there yet is fine on a first run);
   with `--if-drift BATCH`: `llmops drift` on the labeled batch against the pulled model, and
   stop (exit 0) unless its action is retrain; then the batch goes under data/batches/ (`dvc add`)
   and into data.labeled.batches, so ingest merges it and the split spreads it over train,
   validation and test;
2. recompose params.yaml from conf/ with the given overrides, and stop early, saying so, when DVC
   sees nothing changed;
3. `dvc repro` (evaluate registers the model, where tracking.register and the majority-class floor
   allow, and runs the champion gate);
4. `dvc push`;
5. `dvc metrics diff` against the previous commit, as Markdown, to reports/metrics_diff.md;
6. exit 2 when the new model is below the registry's floor, or worse than the champion by more
   than the tolerance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llmops.config import ConfigError, recorded_overrides, write_params
from llmops.errors import StageError

DECISION = Path("reports/runs/registry.json")
METRICS_DIFF = Path("reports/metrics_diff.md")
REMOTE_NAME = "retrain"
WORSE = 2


def _dvc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def _say(msg: str) -> None:
    print(f"retrain: {msg}", flush=True)


def use_remote(url: str | None) -> None:
    """A remote URL given here (or in LLMOPS_DVC_REMOTE) goes to .dvc/config.local, never to a
    committed file; credentials come from the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS)."""
    if url:
        _dvc("remote", "add", "--local", "--force", "--default", REMOTE_NAME, url)


def retrain(
    overrides: list[str], remote: str | None, tolerance: float, base: str = "HEAD", if_drift: dict | None = None
) -> int:
    """`if_drift`: {"batch": path, "min_labels": n} for a drift-gated retrain."""
    use_remote(remote)
    pulled = _dvc("pull", "--allow-missing", check=False)
    _say("pulled the remote's cache" if pulled.returncode == 0 else "nothing to pull yet (first run?)")

    # tracking.register stays the config's: a ci smoke setup (register: false) never registers
    # unless the overrides say tracking.register=true
    overrides = overrides or recorded_overrides()
    if if_drift is not None:
        labeled = write_params(overrides)["data"]["labeled"]  # the batch's columns, the batches so far
        batch = drift_gate(Path(if_drift["batch"]), labeled, min_labels=if_drift["min_labels"])
        if batch is None:
            return 0
        overrides = with_batch(overrides, labeled.get("batches") or [], batch)
    write_params(overrides)  # picks up any conf/ change: the trigger of most retrains
    status = json.loads(_dvc("status", "--json").stdout or "{}")
    if not status:
        _say("nothing changed (data, params and code are as in the last run): no-op")
        return 0
    _say(f"changed: {', '.join(sorted(status))}; running the pipeline")

    repro = subprocess.run(["dvc", "repro"], text=True)
    if repro.returncode != 0:
        _say(f"dvc repro failed ({repro.returncode})")
        return repro.returncode
    _dvc("push")
    _say("pushed outputs to the remote")

    diff = _dvc("metrics", "diff", base, "--md", check=False).stdout
    METRICS_DIFF.parent.mkdir(parents=True, exist_ok=True)
    METRICS_DIFF.write_text(f"## Metrics against {base}\n\n{diff or 'No metric changed.'}\n")
    print(METRICS_DIFF.read_text())

    decision = json.loads(DECISION.read_text())
    if decision.get("below_floor"):
        _say(f"refused: not registered ({decision['reason']}); the champion stays")
        return WORSE
    if not decision.get("registered", True):
        _say(f"model not registered ({decision['reason']})")
        return 0
    _say(f"{decision['model']} v{decision['version']}: {decision['decision']} ({decision['reason']})")
    before = decision["champion_score_before"]
    if decision["decision"] != "champion" and before is not None and decision["score"] < before - tolerance:
        _say(
            f"refused: test macro-F1 {decision['score']:.4f} is worse than the champion's {before:.4f} by more "
            f"than the tolerance {tolerance}; the champion stays v{decision['champion_version_before']}"
        )
        return WORSE
    return 0


def drift_gate(batch: Path, lab: dict, min_labels: int | None) -> Path | None:
    """The batch under data/batches/, DVC-tracked, when `llmops drift` says retrain (drifted, with
    at least min_labels labels); else None, after printing the verdict."""
    import shutil

    from llmops.data.sources import BATCHES_DIR
    from llmops.monitoring import check
    from llmops.tracking.drift_runs import track

    model, data = Path("models/classifier"), Path("data/processed")
    if not (model / "config.json").is_file() or not (data / "train.parquet").is_file():
        raise StageError(f"--if-drift: no model or reference to check {batch} against (run the pipeline once first)")
    labels = check.model_labels(model)
    table = check.read_batch(batch, text_column=lab["text_column"], label_column=lab["label_column"], labels=labels)
    stored = Path("models/drift_reference")
    settings = check.stored_settings(stored, min_labels=min_labels)
    verdict, sample, conf = check.check(
        table, batch.name, labeled=True, model_dir=model, data_dir=data, s=settings, stored=stored
    )
    out = Path("reports/drift") / batch.name.split(".")[0]
    check.write(out, verdict=verdict, sample=sample, conf=conf, s=settings)
    print(check.summary_line(verdict, out), flush=True)
    print(track(verdict, out), flush=True)
    if verdict["action"] != "retrain":
        _say(f"--if-drift: the batch's action is {verdict['action']}, not retrain: nothing to do")
        return None
    dest = batch if batch.resolve().is_relative_to(BATCHES_DIR.resolve()) else BATCHES_DIR / batch.name
    if dest != batch:
        if dest.exists() and dest.read_bytes() != batch.read_bytes():
            raise StageError(f"--if-drift: {dest} exists with other content; rename {batch}")
        shutil.copyfile(batch, dest)
    _dvc("add", str(dest))
    _say(f"--if-drift: {batch.name} drifted ({verdict['kind']}) with {verdict['n']} labels: added {dest} (dvc add)")
    return dest


def pending_batches(listed: list[str]) -> list[str]:
    """The batches under data/batches/ (DVC-tracked: their .dvc pointers are in git, the files
    may not be pulled yet) that data.labeled.batches does not list: what drift.yml checks."""
    from llmops.data.sources import BATCHES_DIR

    if not BATCHES_DIR.is_dir():
        return []
    found = {
        str(p.with_suffix("")) if p.suffix == ".dvc" else str(p)
        for p in BATCHES_DIR.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name != "README.md"
    }
    return sorted(found - {str(Path(b)) for b in listed})


def with_batch(overrides: list[str], batches: list[str], batch: Path) -> list[str]:
    """The overrides with data.labeled.batches holding `batches` and `batch` (once)."""
    listed = [*batches, *([] if str(batch) in batches else [str(batch)])]
    kept = [o for o in overrides if not o.lstrip("+").startswith("data.labeled.batches=")]
    return [*kept, "data.labeled.batches=[" + ",".join(f"'{b}'" for b in listed) + "]"]


def main(args) -> int:
    remote = args.remote or os.environ.get("LLMOPS_DVC_REMOTE")
    try:
        gate = {"batch": args.if_drift, "min_labels": args.min_labels} if args.if_drift else None
        return retrain(list(args.overrides), remote, tolerance=args.tolerance, base=args.base, if_drift=gate)
    except (ConfigError, StageError) as e:
        print(f"retrain: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"retrain: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # python -m llmops.retrain --pending: one pending batch per line (drift.yml)
    from llmops.config import load_params

    if sys.argv[1:] != ["--pending"]:
        sys.exit("usage: python -m llmops.retrain --pending")
    for batch in pending_batches(list(load_params(["data.labeled.batches"]).data.labeled.batches)):
        print(batch)
