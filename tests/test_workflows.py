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


def _push_filter(workflow: str):
    """Whether a pushed path starts the workflow: GitHub's path filters, in order, a `!` pattern
    excluding what the ones before it matched."""
    wf = yaml.safe_load((ROOT / ".github/workflows" / workflow).read_text())
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as True
    rules = [(p.startswith("!"), _github_glob(p.lstrip("!"))) for p in on["push"]["paths"]]

    def triggers(path: str) -> bool:
        hit = False
        for negated, rule in rules:
            if rule.match(path):
                hit = not negated
        return hit

    return triggers


def _github_glob(pattern: str) -> re.Pattern:
    """GitHub's path-filter glob: `**` crosses folders, `*` does not."""
    out = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*")
    return re.compile(out + "$")


def test_a_change_to_anything_a_stage_reads_triggers_the_retrain_workflow():
    """Every git-tracked file that a DVC stage depends on (code, conf/, params.yaml, dvc.yaml, a
    DVC-tracked data file's .dvc pointer) matches the retrain workflow's push paths; outputs and
    docs do not."""
    triggers = _push_filter("retrain.yml")
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
    # a new labeled batch goes through drift.yml first (test below); listing it changes params.yaml
    read = [
        f
        for f in tracked
        if any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps) and not f.startswith("data/batches/")
    ]
    assert read and all(triggers(f) for f in read), [f for f in read if not triggers(f)]
    assert all(triggers(f) for f in ("params.yaml", "dvc.yaml", "data/reviews.csv.dvc", "conf/data/files.yaml"))
    assert all(triggers(f) for f in ("requirements.lock", "pyproject.toml"))  # the pinned stack, too
    assert not any(triggers(f) for f in ("README.md", "docs/scaling.md", "tests/test_io.py"))


def test_ci_workflow_runs_the_full_tier():
    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    runs = " ".join(str(s.get("run", "")) for s in wf["jobs"]["test"]["steps"])
    assert "make test-all" in runs and "make lint" in runs


def test_a_pushed_batch_starts_the_drift_check_not_a_retrain_and_the_two_never_race():
    drift, retrain = _push_filter("drift.yml"), _push_filter("retrain.yml")
    assert drift("data/batches/week-48.csv.dvc") and not retrain("data/batches/week-48.csv.dvc")
    assert retrain("data/reviews.csv.dvc") and not drift("data/reviews.csv.dvc")
    workflows = {n: yaml.safe_load((ROOT / ".github/workflows" / n).read_text()) for n in ("drift.yml", "retrain.yml")}
    assert workflows["drift.yml"]["concurrency"]["group"] == workflows["retrain.yml"]["concurrency"]["group"]
    on = workflows["drift.yml"][True]
    assert on["schedule"] and "workflow_dispatch" in on
    runs = " ".join(str(s.get("run", "")) for s in workflows["drift.yml"]["jobs"]["drift"]["steps"])
    assert "llmops retrain --if-drift" in runs and "llmops.retrain --pending" in runs
