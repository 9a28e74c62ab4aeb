"""The GitHub workflows: actionlint-clean, and the retrain workflow wired as promised."""

import re
import subprocess

import yaml

from .conftest import ROOT, VENV_BIN


def test_actionlint_passes_on_every_workflow():
    workflows = sorted((ROOT / ".github/workflows").glob("*.yml"))
    assert {w.name for w in workflows} >= {"ci.yml", "retrain.yml"}
    proc = subprocess.run([str(VENV_BIN / "actionlint"), *map(str, workflows)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _github_glob(pattern: str) -> re.Pattern:
    """GitHub's path-filter glob: `**` crosses folders, `*` does not."""
    out = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*")
    return re.compile(out + "$")


def test_a_change_to_anything_a_stage_reads_triggers_the_retrain_workflow():
    """Every git-tracked file that a DVC stage depends on (code, conf/, params.yaml, dvc.yaml, a
    DVC-tracked data file's .dvc pointer) matches the retrain workflow's push paths; outputs and
    docs do not."""
    wf = yaml.safe_load((ROOT / ".github/workflows/retrain.yml").read_text())
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as True
    filters = [_github_glob(p) for p in on["push"]["paths"]]
    triggers = lambda path: any(f.match(path) for f in filters)  # noqa: E731
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    deps = {d for s in stages.values() for d in (s.get("deps") or s["do"].get("deps", [])) if "$" not in d}
    outs = set()  # another stage's outputs (outs, metrics, plots) change with a retrain, they do not start one
    for stage in stages.values():
        items = stage.get("foreach", {"": {}})
        for item in items.values():
            spec = stage.get("do", stage)
            for out in [*spec.get("outs", []), *spec.get("metrics", []), *spec.get("plots", [])]:
                out = next(iter(out)) if isinstance(out, dict) else out
                outs.add(re.sub(r"\$\{item\.(\w+)\}", lambda m, item=item: str(item[m.group(1)]), out))
    deps -= outs
    read = [f for f in tracked if any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]
    assert read and all(triggers(f) for f in read), [f for f in read if not triggers(f)]
    assert all(triggers(f) for f in ("params.yaml", "dvc.yaml", "data/reviews.csv.dvc", "conf/data/files.yaml"))
    assert all(triggers(f) for f in ("requirements.lock", "pyproject.toml"))  # the pinned stack, too
    assert not any(triggers(f) for f in ("README.md", "docs/scaling.md", "tests/test_io.py"))


def test_ci_workflow_runs_the_full_tier():
    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    runs = " ".join(str(s.get("run", "")) for s in wf["jobs"]["test"]["steps"])
    assert "make test-all" in runs and "make lint" in runs
