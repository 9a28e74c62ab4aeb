"""The GitHub workflows: actionlint-clean, and the retrain workflow wired as promised."""

import subprocess

import yaml

from .conftest import ROOT, VENV_BIN


def test_actionlint_passes_on_every_workflow():
    workflows = sorted((ROOT / ".github/workflows").glob("*.yml"))
    assert {w.name for w in workflows} >= {"ci.yml", "retrain.yml"}
    proc = subprocess.run([str(VENV_BIN / "actionlint"), *map(str, workflows)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_retrain_workflow_triggers_and_concurrency():
    wf = yaml.safe_load((ROOT / ".github/workflows/retrain.yml").read_text())
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as True
    assert set(on["push"]["paths"]) == {"data/**.dvc", "conf/**", "params.yaml", "dvc.yaml", "src/**"}
    assert on["schedule"] and "overrides" in on["workflow_dispatch"]["inputs"]
    assert wf["concurrency"]["group"] == "retrain-${{ github.ref }}"
    steps = " ".join(str(s.get("run", "")) + str(s.get("uses", "")) for s in wf["jobs"]["retrain"]["steps"])
    assert "llmops retrain" in steps and "create-pull-request" in steps and "upload-artifact" in steps
    assert "GITHUB_STEP_SUMMARY" in steps


def test_ci_workflow_runs_lint_and_make_test():
    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    runs = " ".join(str(s.get("run", "")) for s in wf["jobs"]["test"]["steps"])
    assert "make test" in runs and "make lint" in runs
