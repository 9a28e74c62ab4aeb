"""`llmops retrain`: the logic of CI-triggered retraining, kept here where it is tested; the GitHub
workflow only calls it.

1. `dvc pull` from the remote (nothing there yet is fine on a first run);
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


def retrain(overrides: list[str], remote: str | None, tolerance: float, base: str = "HEAD") -> int:
    use_remote(remote)
    pulled = _dvc("pull", "--allow-missing", check=False)
    _say("pulled the remote's cache" if pulled.returncode == 0 else "nothing to pull yet (first run?)")

    # tracking.register stays the config's: a ci smoke setup (register: false) never registers
    # unless the overrides say tracking.register=true
    overrides = overrides or recorded_overrides()
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


def main(args) -> int:
    remote = args.remote or os.environ.get("LLMOPS_DVC_REMOTE")
    try:
        return retrain(list(args.overrides), remote, tolerance=args.tolerance, base=args.base)
    except ConfigError as e:
        print(f"retrain: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"retrain: error: {e}", file=sys.stderr)
        return 1
