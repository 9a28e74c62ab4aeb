"""The real DVC pipeline, end to end, in a temp copy of the repository, with the ci experiment."""

import json
import math
import os
import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ..conftest import CI, MODEL, VENV_BIN, mlflow_ui_pages, run, tracking_server, workspace_from

pytestmark = pytest.mark.integration


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([\w@]+)'", output)


def read(ws, path):
    return json.loads((ws / path).read_text())


STAGES = [  # DVC's names; the MLflow runs and reports/runs/ of finetune@scratch are named finetune_scratch
    "params",
    "ingest",
    "validate",
    "preprocess",
    "prepare_corpus",
    "train_tokenizer",
    "pack",
    "pretrain",
    "finetune@pretrained",
    "finetune@scratch",
    "learning_curve",
    "drift_reference",
    "evaluate",
]
RUN_NAMES = [
    s.replace("finetune@pretrained", "finetune").replace("finetune@scratch", "finetune_scratch") for s in STAGES
]


@pytest.fixture
def pipeline(ci_pipeline):
    """The ci pipeline run once with `dvc repro` in a fresh copy (read-only for the tests)."""
    ws, env, first, _ = ci_pipeline
    return ws, env, first


@pytest.fixture
def own_copy(ci_pipeline, tmp_path):
    """This test's own copy of the pipeline right after the first repro, with a copy of its MLflow
    store (runs, and champion v1)."""
    ws, env = workspace_from(ci_pipeline[3], tmp_path / "repo", keep_store=True)
    return ws, env, None


def client(env):
    from mlflow.tracking import MlflowClient

    return MlflowClient(env["MLFLOW_TRACKING_URI"])


def runs_by_stage(env) -> dict:
    c = client(env)
    out: dict = {}
    for r in c.search_runs([c.get_experiment_by_name("llmops").experiment_id], order_by=["attributes.start_time ASC"]):
        if "llmops.cell" not in r.data.tags:  # a learning-curve cell: a child of that stage's run
            out.setdefault(r.data.tags["llmops.stage"], []).append(r)
    return out


def test_every_stage_runs_and_writes_its_outputs(pipeline):
    ws, env, first = pipeline
    assert stages_run(first.stdout) == STAGES

    for path in [
        "data/raw/labeled.parquet",
        "data/raw/corpus.parquet",
        "data/raw/manifest.json",
        "reports/validation/summary.md",
        "reports/validation/data_docs/index.html",
        "data/validated/labeled.parquet",
        "data/validated/rejected.parquet",
        "data/processed/train.parquet",
        "data/processed/val.parquet",
        "data/processed/test.parquet",
        "reports/validation_processed/summary.md",
        "reports/validation_corpus/summary.md",
        "data/corpus/train/00000.parquet",
        "data/corpus/stats.json",
        "models/tokenizer/tokenizer.json",
        "data/packed/train/00000.bin",
        "data/packed/val/00000.bin",
        "data/packed/meta.json",
        "models/pretrained/model.safetensors",
        "models/pretrained/config.json",
        "models/classifier/model.safetensors",
        "reports/evaluate.md",
        "reports/evaluate/confusion.csv",
        "reports/evaluate/confusion_matrix.png",
        "reports/model_card.md",
        *[f"reports/runs/{s}.json" for s in RUN_NAMES],
        "reports/curves/pretrain/train_loss.csv",
        "reports/curves/finetune/val_f1_macro.csv",
    ]:
        assert (ws / path).is_file(), path
    manifest = read(ws, "data/raw/manifest.json")
    assert manifest["labeled_rows"] == 1499 and len(manifest["sources"][0]["sha256"]) == 64

    # no leakage: val/test texts are never in the pre-training corpus
    corpus = set(pd.concat([pd.read_parquet(ws / f"data/corpus/{s}") for s in ("train", "val")])["text"])
    for split in ("val", "test"):
        assert not corpus & set(pd.read_parquet(ws / f"data/processed/{split}.parquet")["text"])

    pre, ft, ev = (read(ws, f"metrics/{s}.json") for s in ("pretrain", "finetune", "evaluate"))
    meta = read(ws, "data/packed/meta.json")
    shards = sorted((ws / "data/packed/train").glob("*.bin"))  # one token shard per corpus shard, same stems
    assert [p.stem for p in shards] == [p.stem for p in sorted((ws / "data/corpus/train").glob("*.parquet"))]
    assert sum(p.stat().st_size for p in shards) == meta["train_tokens"] * 2  # uint16
    assert math.isfinite(pre["val_loss"]) and pre["val_loss"] < math.log(meta["vocab_size"]) + 0.5
    assert pre["val_perplexity"] == pytest.approx(math.exp(pre["val_loss"]))
    assert pre["tokens_per_sec"] > 0 and pre["steps"] == 30
    assert 0 <= ft["best_val_f1_macro"] <= 1 and ft["steps"] == 120
    # the ablation: same architecture and budget from random init, reported next to the baselines
    scratch = read(ws, "metrics/finetune_scratch.json")
    assert scratch["init"] == "scratch" and scratch["steps"] == ft["steps"] and scratch["n_params"] == ft["n_params"]
    assert ev["pretrain_gain_f1"] == pytest.approx(ev["f1_macro"] - ev["scratch_f1_macro"])
    assert ev["beats_tfidf"] == (ev["f1_macro"] > ev["baseline_tfidf_f1_macro"])
    for diff in ("pretrain_gain_f1", "tfidf_margin_f1"):  # paired-bootstrap interval around each difference
        low, high = ev[f"{diff}_ci95"]
        assert low <= ev[diff] <= high
    assert "random init" in (ws / "reports/evaluate.md").read_text()
    for key in (
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "baseline_majority_accuracy",
        "baseline_tfidf_f1_macro",
    ):
        assert 0 <= ev[key] <= 1, key
    assert ev["n_test"] == len(pd.read_parquet(ws / "data/processed/test.parquet"))
    assert set(ev["per_class"]) == {"negative", "neutral", "positive"}
    assert ev["baseline_majority_accuracy"] == pytest.approx(0.42, abs=0.03)


def test_mlflow_runs_lineage_and_registry(pipeline):
    import mlflow

    ws, env, _ = pipeline
    runs = runs_by_stage(env)
    assert set(runs) == set(RUN_NAMES) - {"params"}
    last = {stage: rs[-1] for stage, rs in runs.items()}
    # readable names, the overrides and the commit on every run; single values kept out of the charts
    assert last["pretrain"].info.run_name == "pretrain · experiment=ci tracking.register=true"
    assert last["finetune"].data.tags["llmops.overrides"] == "experiment=ci tracking.register=true"
    assert len(last["evaluate"].data.tags["llmops.git_commit"]) == 40
    assert "summary/n_params" in last["finetune"].data.metrics and "n_params" not in last["finetune"].data.metrics
    exp = client(env).get_experiment_by_name("llmops")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # opens on runs, not GenAI
    # the per-step curves are DVC plots too
    curve = (ws / "reports/curves/pretrain/train_loss.csv").read_text().splitlines()
    assert curve[0] == "step,train_loss" and len(curve) > 2
    assert len({r.data.tags["llmops.pipeline_id"] for r in last.values()}) == 1, "one dvc repro, one pipeline id"
    for stage, r in last.items():
        assert r.info.status == "FINISHED" and len(r.data.tags["llmops.params_hash"]) == 16
        assert read(ws, f"reports/runs/{stage}.json")["run_id"] == r.info.run_id
        assert r.data.params["finetune.lr"]  # every run carries the flattened composed config
    assert last["pretrain"].data.params["pretrain.max_steps"] == "30"
    assert "val_loss" in last["pretrain"].data.metrics and "f1_macro" in last["evaluate"].data.metrics
    assert last["finetune"].data.tags["llmops.upstream.pretrain_run"] == last["pretrain"].info.run_id
    assert last["evaluate"].data.tags["llmops.upstream.finetune_run"] == last["finetune"].info.run_id
    assert any(k.startswith("llmops.data.") and len(v) == 64 for k, v in last["pretrain"].data.tags.items())
    artifacts = {a.path for a in client(env).list_artifacts(last["pretrain"].info.run_id)}
    assert {"loss_curves.png", "samples.txt", "model"} <= artifacts
    assert "summary.md" in {a.path for a in client(env).list_artifacts(last["validate"].info.run_id)}
    champion = client(env).get_model_version_by_alias(MODEL, "champion")
    assert str(champion.version) == "1" and champion.run_id == last["evaluate"].info.run_id
    assert read(ws, "reports/runs/registry.json")["decision"] == "champion"
    # lineage on the version: data fingerprint, label set, overrides, commit
    assert len(champion.tags["llmops.data_sha256"]) == 64
    assert json.loads(champion.tags["llmops.labels"]) == ["negative", "neutral", "positive"]
    assert champion.tags["llmops.overrides"] == "experiment=ci tracking.register=true"
    # the model card: in the workspace, on the evaluate run, with the model, and as the description
    card = (ws / "reports/model_card.md").read_text()
    assert f"# Model Card for {MODEL}" in card and last["evaluate"].info.run_id in card
    assert f"{MODEL} v1, champion" in card and "{{" not in card and "[More Information Needed]" not in card
    assert "model_card.md" in {a.path for a in client(env).list_artifacts(last["evaluate"].info.run_id)}
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])  # models:/ URIs resolve in the global registry
    shipped = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL}@champion"))
    assert (next(shipped.rglob("model_card.md"))).read_text().startswith("---\n")
    assert champion.description.startswith(f"{MODEL}: test macro-F1") and len(champion.description) <= 4000


def test_the_learning_curve_reports_each_budget_paired_by_seed_with_a_run_per_cell(pipeline):
    ws, env, _ = pipeline
    curve = read(ws, "metrics/learning_curve.json")
    assert curve["budgets"] == [40, 120] and curve["seeds"] == [1337, 1]
    for point in ("40", "120"):
        for key in ("f1_macro", "scratch_f1_macro", "tfidf_f1_macro"):
            assert 0 <= curve[f"{key}@{point}"] <= 1, (key, point)
        gain = curve[f"pretrain_gain_f1@{point}"]
        assert gain == pytest.approx(curve[f"f1_macro@{point}"] - curve[f"scratch_f1_macro@{point}"])
        low, high = curve[f"pretrain_gain_f1@{point}_ci95"]
        assert low <= gain + 1e-4 and gain - 1e-4 <= high
    assert "f1_macro@40_std" in curve and "f1_macro@all" not in curve  # the full-data point is evaluate's
    # what pre-training is chosen by: validation only, per budget and averaged over them
    val_gains = [curve[f"val_pretrain_gain_f1@{b}"] for b in (40, 120)]
    assert curve["val_gain_auc"] == pytest.approx(sum(val_gains) / 2)
    # evaluate's report adds the full-data point: the finetune stages' models and TF-IDF
    ev = read(ws, "metrics/evaluate.json")
    full_row = f"| {curve['n_train']} | {ev['f1_macro']:.3f} | {ev['scratch_f1_macro']:.3f} "
    assert full_row in (ws / "reports/evaluate.md").read_text()
    plot = pd.read_csv(ws / "reports/curves/learning_curve.csv")
    assert list(plot.columns) == ["labels", "pretrained", "scratch", "tfidf"] and list(plot["labels"][:2]) == [40, 120]
    assert (ws / "reports/learning_curve.png").stat().st_size > 1000
    assert "## Label efficiency" in (ws / "reports/evaluate.md").read_text()
    assert "gain@40" in read(ws, "metrics/headline.json")
    shown = run(["dvc", "plots", "show", "--json", "reports/curves/learning_curve.csv"], cwd=ws)
    assert "pretrained" in shown.stdout
    # MLflow: the stage's run and one child per (init, budget, seed), all with their test score
    c = client(env)
    parent = read(ws, "reports/runs/learning_curve.json")["run_id"]
    children = c.search_runs(
        [c.get_run(parent).info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'"
    )
    assert sorted(r.info.run_name for r in children) == sorted(
        f"{init}@{budget}/seed{seed}"
        for init in ("pretrained", "scratch")
        for budget in (40, 120)
        for seed in (1337, 1)
    )
    assert all(0 <= r.data.metrics["test_f1_macro"] <= 1 and r.info.status == "FINISHED" for r in children)
    assert "learning_curve.png" in {a.path for a in c.list_artifacts(parent)}


def test_a_label_budget_subsets_the_train_split_only(pipeline):
    from omegaconf import OmegaConf

    from llmops.models.hf import load_hf_tokenizer
    from llmops.training.finetune import encode_splits

    ws, _, _ = pipeline
    data, tokenizer = ws / "data/processed", load_hf_tokenizer(ws / "models/pretrained")
    cfg = OmegaConf.create({"max_length": 48, "truncation": "head", "val_subsample": None, "label_budget": 60})
    small = encode_splits(data, tokenizer, cfg=cfg, seed=1, template="eos")
    larger = encode_splits(data, tokenizer, cfg=OmegaConf.merge(cfg, {"label_budget": 120}), seed=1, template="eos")
    assert len(small.train) == 60 and len(larger.train) == 120
    assert {tuple(ids) for ids in small.train.ids} <= {tuple(ids) for ids in larger.train.ids}  # nested
    assert len(small.val) == len(pd.read_parquet(data / "val.parquet"))  # validation stays whole
    assert sorted(set(small.train.labels)) == [0, 1, 2]


def test_a_code_edit_reruns_only_the_stages_that_run_that_code(ci_pipeline, tmp_path):
    ws, _ = workspace_from(ci_pipeline[3], tmp_path / "repo")
    for path, expected in (
        ("src/llmops/training/finetune.py", {"finetune@pretrained", "finetune@scratch", "learning_curve"}),
        ("src/llmops/models/lm.py", {"pretrain", "finetune@pretrained", "finetune@scratch", "learning_curve"}),
        ("src/llmops/label_efficiency/cells.py", {"learning_curve"}),
        ("src/llmops/evaluation/predict.py", {"drift_reference", "evaluate"}),
        ("src/llmops/monitoring/drift.py", {"drift_reference"}),
        # the files hand-listed deps used to miss (tests/test_stage_deps.py keeps them exact)
        ("src/llmops/data/budget.py", {"finetune@pretrained", "finetune@scratch", "learning_curve"}),
        ("src/llmops/data/tokenizer.py", {"train_tokenizer", "pack"}),
        ("src/llmops/tracking/runs.py", set(STAGES) - {"params"}),
    ):
        original = (ws / path).read_text()
        (ws / path).write_text(original + "\n# an edit\n")
        status = json.loads(run(["dvc", "status", "--json"], cwd=ws).stdout)
        assert set(status) == expected, (path, sorted(status))
        (ws / path).write_text(original)


@pytest.mark.slow
def test_cached_rerun_is_a_noop_and_a_runtime_only_key_reruns_only_the_params_check(own_copy):
    """A finetune param rerunning only what reads it: `test_exp_runs_then_plain_dvc_repro_and_exp_apply`;
    the registry's floor and margin on a rerun: tests/integration/test_retrain.py."""
    ws, env, _ = own_copy
    assert stages_run(run(["dvc", "repro"], cwd=ws, env=env).stdout) == []
    run(["python", "-m", "llmops.config", *CI, "trainer.log_every_n_steps=5"], cwd=ws)
    assert stages_run(run(["dvc", "repro"], cwd=ws, env=env).stdout) == ["params"]


@pytest.mark.slow
def test_exp_runs_then_plain_dvc_repro_and_exp_apply(own_copy):
    """Sequences of the daily workflow: `dvc exp run -S` three times, each rerunning only the stages
    that read the key it sets (an evaluate-only key, a finetune param: not the learning curve, which
    has its own recipe, then a curve key), then plain `dvc repro` (a no-op), `dvc exp apply` of the
    first, then `dvc repro` again; a `+key` no stage reads is refused
    before any training. The two variations compare in the MLflow UI (headless Chromium)."""
    ws, env, _ = own_copy
    names = []
    finetuned = ["params", "finetune@pretrained", "finetune@scratch", "drift_reference", "evaluate"]
    # tracking.* is evaluate's alone (the experiments also drop the session's tracking.register=true)
    for keys, rerun in (
        (["tracking.champion_margin=0.02"], ["params", "evaluate"]),
        (["finetune.lr=0.004"], finetuned),
        # the curve's own lr on top of the workspace's finetune.lr: the curve and evaluate only
        (["finetune.lr=0.004", "learning_curve.lr=0.004"], ["params", "learning_curve", "evaluate"]),
    ):
        sets = [arg for key in ["experiment=ci", *keys] for arg in ("-S", key)]
        proc = run(["dvc", "exp", "run", *sets], cwd=ws, env=env)
        assert stages_run(proc.stdout) == rerun
        assert read(ws, "reports/runs/params.json")["overrides"] == ["experiment=ci", *keys]
        assert read(ws, "reports/runs/registry.json")["registered"] is False  # exploratory: no registry
        again = run(["dvc", "repro"], cwd=ws, env=env)
        assert stages_run(again.stdout) == [] and "Traceback" not in again.stdout + again.stderr
        names.append(read(ws, "reports/runs/params.json")["dvc_experiment"])
    run(["dvc", "exp", "apply", names[0]], cwd=ws)
    applied = run(["dvc", "repro"], cwd=ws, env=env)
    assert stages_run(applied.stdout) == [] and "Traceback" not in applied.stdout + applied.stderr
    assert read(ws, "reports/runs/params.json")["overrides"] == ["experiment=ci", "tracking.champion_margin=0.02"]

    refused = run(
        ["dvc", "exp", "run", "-S", "experiment=ci", "-S", "+finetune.learning_rate=1e-3"], cwd=ws, check=False
    )
    assert refused.returncode != 0 and stages_run(refused.stdout) == ["params"]
    assert "no stage reads 'finetune.learning_rate' (did you mean finetune.lr?)" in refused.stdout + refused.stderr

    # both experiments' training curves overlaid by `dvc plots diff`, as a page that needs no internet
    plots = run(["llmops", "plots", *names, "-o", str(ws.parent / "plots")], cwd=ws)
    page = (ws.parent / "plots" / "index.html").read_text()
    assert "index.html" in plots.stdout and "cdn." not in page and "vegaEmbed" in page
    assert all(name in page for name in names) and "val_f1_macro" in page

    # the experiment's fine-tune chains to the *cached* pretrain run, not a new one
    by_stage = runs_by_stage(env)
    assert len(by_stage["pretrain"]) == 1 and len(by_stage["finetune"]) == 2
    assert by_stage["finetune"][-1].data.tags["llmops.upstream.pretrain_run"] == by_stage["pretrain"][0].info.run_id
    evaluate_runs = by_stage["evaluate"][-3:-1]  # the first two experiments'
    assert [r.data.params["finetune.lr"] for r in evaluate_runs] == ["0.001", "0.004"]  # ci's lr, then the key
    run_names = [r.info.run_name for r in evaluate_runs]
    assert run_names == [f"evaluate · {name}" for name in names[:2]]
    assert [r.data.tags["llmops.dvc_experiment"] for r in evaluate_runs] == names[:2]
    assert evaluate_runs[1].data.tags["llmops.overrides"] == "experiment=ci finetune.lr=0.004"
    # the first experiment's commit existed when the second ran: its runs were tagged with it
    exp_commit = evaluate_runs[0].data.tags["llmops.exp_commit"]
    assert run(["git", "cat-file", "-t", exp_commit], cwd=ws).stdout.strip() == "commit"
    exp_id = client(env).get_experiment_by_name("llmops").experiment_id
    pages = mlflow_ui_pages(ws, exp_id, [r.info.run_id for r in evaluate_runs], ws.parent / "ui")
    landing_dom = pages["landing"][0]
    assert run_names[1] in landing_dom and "f1_macro" in landing_dom, "the landing page shows the runs"
    experiment_dom = pages["experiment"][0]
    assert run_names[1] in experiment_dom, "a click on the experiment must land on its runs, not the GenAI overview"
    assert "Token Usage" not in experiment_dom
    runs_dom = pages["runs"][0]
    for name in run_names:
        assert name in runs_dom, f"run {name} not in the runs table"
    compare_dom, compare_shot = pages["compare"]
    for name in run_names:
        assert name in compare_dom
    assert "f1_macro" in compare_dom and "finetune.lr" in compare_dom
    model_dom = pages["model"][0]
    assert MODEL in model_dom and "champion" in model_dom  # the aliases
    assert compare_shot.stat().st_size > 20_000 and pages["runs"][1].stat().st_size > 20_000


@pytest.mark.slow
def test_queued_experiments_log_into_the_workspace_store_and_meet_its_champion(own_copy):
    """`dvc queue start` runs each experiment in a temp workspace under .dvc/tmp/exps/, deleted
    afterwards; its runs and model version must land in the repository's store, where the champion is."""
    ws, _, _ = own_copy  # no MLFLOW_TRACKING_URI: the default tracking.uri, as a user's queue runs it
    run(["git", "add", "-A"], cwd=ws)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pipeline"], cwd=ws)
    margin = "tracking.champion_margin=0.01"  # read by evaluate alone: the queued run re-gates, trains nothing
    run(["dvc", "exp", "run", "--queue", *[a for o in [*CI, margin] for a in ("-S", o)]], cwd=ws)
    run(["dvc", "queue", "start"], cwd=ws)
    deadline = time.time() + 600
    while time.time() < deadline and re.search(r"Running|Queued", run(["dvc", "queue", "status"], cwd=ws).stdout):
        time.sleep(5)
    status = run(["dvc", "queue", "status"], cwd=ws).stdout
    assert status.count("Success") == 1, status
    store = {"MLFLOW_TRACKING_URI": f"sqlite:///{ws}/mlflow.db"}
    queued = [r for r in runs_by_stage(store)["evaluate"] if r.data.tags.get("llmops.dvc_experiment")]
    assert len(queued) == 1, "the queued experiment's evaluate run is in the workspace store"
    assert ".dvc/tmp/exps" not in queued[0].info.artifact_uri, "artifacts outlive the temp workspace"
    # the queued run retrained nothing: it found its weights already registered as v1 in this store
    assert queued[0].data.tags["llmops.registry.decision"] == "not registered"
    assert queued[0].data.tags["llmops.registry.reason"] == f"the same weights are already {MODEL} v1"
    assert len(client(store).search_model_versions(f"name='{MODEL}'")) == 1, "no new version for the same weights"


@pytest.mark.slow
def test_params_yaml_cannot_change_under_a_running_stage_and_the_lock_never_claims_it(ci_pipeline, tmp_path):
    """While pretrain runs: our writers of params.yaml refuse; a write they cannot stop (DVC's own
    `dvc exp run`, a hand edit) fails the stage at exit, so dvc.lock keeps what the model was trained with."""
    ws, env = workspace_from(ci_pipeline[3], tmp_path / "repo")
    run(["python", "-m", "llmops.config", *CI, "pretrain.max_steps=800", "pretrain.val_every_steps=800"], cwd=ws)
    full_env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", **env}
    with open(tmp_path / "repro.log", "w") as log:
        proc = subprocess.Popen(["dvc", "repro", "-s", "pretrain"], cwd=ws, env=full_env, stdout=log, stderr=log)
        deadline = time.time() + 300
        while "pretrain: step" not in (tmp_path / "repro.log").read_text() and time.time() < deadline:
            time.sleep(1)
        refused = run(["python", "-m", "llmops.config", *CI, "pretrain.lr=0.001"], cwd=ws, check=False)
        params = ws / "params.yaml"
        params.write_text(params.read_text().replace("max_steps: 800", "max_steps: 799", 1))
        assert proc.wait(timeout=600) != 0
    out = (tmp_path / "repro.log").read_text()
    assert refused.returncode == 2 and "a stage of this workspace is running" in refused.stderr
    assert "params.yaml changed while this stage ran" in out and "Traceback" not in out
    lock = yaml.safe_load((ws / "dvc.lock").read_text())["stages"]["pretrain"]["params"]["params.yaml"]
    assert lock["pretrain.max_steps"] == 30, "dvc.lock still records the run that made models/pretrained"


@pytest.mark.slow
def test_pipeline_against_a_real_tracking_server(own_copy):
    ws, _, _ = own_copy
    with tracking_server(ws) as uri:
        run(["dvc", "repro", "--force", "-s", "evaluate"], cwd=ws, env={"MLFLOW_TRACKING_URI": uri})
        c = client({"MLFLOW_TRACKING_URI": uri})
        (r,) = c.search_runs([c.get_experiment_by_name("llmops").experiment_id])
        assert r.data.tags["llmops.stage"] == "evaluate" and "f1_macro" in r.data.metrics
        assert str(c.get_model_version_by_alias(MODEL, "champion").version) == "1"
    leftovers = subprocess.run(["pgrep", "-f", str(ws / "server.db")], capture_output=True, text=True).stdout
    assert leftovers == "", f"server processes outlived the server: {leftovers}"


def test_conf_edit_then_plain_dvc_repro_is_stopped(repo_copy):
    ws = repo_copy
    ft = ws / "conf/finetune/default.yaml"
    ft.write_text(ft.read_text().replace("lr: 5.0e-4", "lr: 1.0e-2"))
    proc = run(["dvc", "repro"], cwd=ws, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "is not what conf/ composes to with its overrides []" in out and "finetune.lr" in out
    assert 'make params OVERRIDES=""' in out and "Traceback" not in out
    assert stages_run(proc.stdout) == ["params"] and not (ws / "data/raw").exists()


def test_unknown_label_stops_dvc_repro_at_validate(repo_copy):
    ws = repo_copy
    rows = [("great ride", "positive"), ("awful traffic", "negative")] * 60 + [("meh", "angry")]
    pd.DataFrame(rows, columns=["review", "sentiment"]).to_csv(ws / "reviews.csv", index=False)
    before = (ws / "reviews.csv").read_bytes()
    run(
        [
            "python",
            "-m",
            "llmops.config",
            "experiment=ci",
            "data=files",
            "data.labeled.path=reviews.csv",
            "data.labeled.text_column=review",
            "data.labeled.label_column=sentiment",
            "data.labels=[negative,positive]",
        ],
        cwd=ws,
    )
    proc = run(["dvc", "repro"], cwd=ws, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert stages_run(proc.stdout) == ["params", "ingest", "validate"]
    # in the user's words: their column's name and the rule, never our internals
    assert "reviews.csv: column 'sentiment': labels within the configured label set" in out and "angry" in out
    assert "expect_" not in out and "column 'label'" not in out
    assert not (ws / "data/validated").exists() and not (ws / "data/processed").exists()
    assert (ws / "reviews.csv").read_bytes() == before


@pytest.mark.slow
def test_the_smoke_run_changes_no_tracked_file_and_its_results_stay_reachable(repo_copy):
    """`make smoke` (`llmops smoke`) from a fresh clone: the ci pipeline runs as a temporary DVC
    experiment, `git status` stays clean, and the experiment is in `dvc exp show` and in the
    workspace's MLflow store, outside the registry."""
    ws = repo_copy
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{ws}/mlflow.db"}
    before = run(["git", "status", "--porcelain"], cwd=ws).stdout
    proc = run(["llmops", "smoke"], cwd=ws, env=env)
    name = re.search(r"smoke: experiment (\S+): .*f1_macro (\S+)", proc.stdout)
    assert name, proc.stdout[-2000:]
    assert run(["git", "status", "--porcelain"], cwd=ws).stdout == before == ""
    assert not (ws / "data/processed").exists() and not (ws / "models").exists()
    shown = json.loads(run(["dvc", "exp", "show", "--json"], cwd=ws).stdout)
    exps = [e["name"] for rev in shown for e in (rev.get("experiments") or []) if e.get("name")]
    assert name.group(1) in exps, exps
    diff = run(["dvc", "exp", "diff", "HEAD", name.group(1), "--md"], cwd=ws).stdout
    assert "metrics/headline.json" in diff and "finetune.max_steps" in diff
    runs = client(env).search_runs(
        [client(env).get_experiment_by_name("llmops").experiment_id],
        filter_string=f"tags.`llmops.dvc_experiment` = '{name.group(1)}' and tags.`llmops.stage` = 'evaluate'",
    )
    assert len(runs) == 1 and runs[0].data.tags["llmops.registry.decision"] == "not registered"
    assert runs[0].data.metrics["f1_macro"] == pytest.approx(float(name.group(2).rstrip(",")), abs=1e-4)  # 4 places
