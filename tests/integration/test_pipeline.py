"""The real DVC pipeline, end to end, in a temp copy of the repository, with the ci experiment."""

import json
import math
import re

import pandas as pd
import pytest

from ..conftest import run

pytestmark = pytest.mark.integration


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


def read(ws, path):
    return json.loads((ws / path).read_text())


def test_pipeline_end_to_end_then_cached_then_partial_rerun(repo_copy):
    ws = repo_copy
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{ws}/mlflow.db"}
    run(["python", "-m", "llmops.config", "experiment=ci"], cwd=ws)
    first = run(["dvc", "repro"], cwd=ws, env=env)
    assert stages_run(first.stdout) == [
        "ingest",
        "validate",
        "preprocess",
        "train_tokenizer",
        "pack",
        "pretrain",
        "finetune",
        "evaluate",
    ]

    # every stage's outputs
    for path in [
        "data/raw/labeled.parquet",
        "data/raw/corpus.parquet",
        "data/raw/manifest.json",
        "reports/validation/summary.md",
        "reports/validation/data_docs/index.html",
        "data/validated/labeled.parquet",
        "data/processed/train.parquet",
        "data/processed/val.parquet",
        "data/processed/test.parquet",
        "models/tokenizer/tokenizer.json",
        "data/packed/train.bin",
        "data/packed/val.bin",
        "data/packed/meta.json",
        "models/pretrained/model.safetensors",
        "models/pretrained/config.json",
        "models/classifier/model.safetensors",
        "reports/evaluate.md",
        "reports/evaluate/confusion.csv",
        "reports/evaluate/confusion_matrix.png",
    ]:
        assert (ws / path).is_file(), path
    manifest = read(ws, "data/raw/manifest.json")
    assert manifest["labeled_rows"] == 1499 and len(manifest["sources"][0]["sha256"]) == 64

    # no leakage: val/test texts are never in the pre-training corpus
    corpus = set(
        pd.concat([pd.read_parquet(ws / f"data/processed/corpus_{s}.parquet") for s in ("train", "val")])["text"]
    )
    for split in ("val", "test"):
        assert not corpus & set(pd.read_parquet(ws / f"data/processed/{split}.parquet")["text"])

    pre, ft, ev = (read(ws, f"metrics/{s}.json") for s in ("pretrain", "finetune", "evaluate"))
    meta = read(ws, "data/packed/meta.json")
    assert math.isfinite(pre["val_loss"]) and pre["val_loss"] < math.log(meta["vocab_size"]) + 0.5
    assert pre["val_perplexity"] == pytest.approx(math.exp(pre["val_loss"]))
    assert pre["tokens_per_sec"] > 0 and pre["steps"] == 30
    assert 0 <= ft["best_val_f1_macro"] <= 1 and ft["steps"] == 40
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

    # MLflow: one run per training stage, with params, metrics and lineage tags
    from mlflow.tracking import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("llmops").experiment_id])}
    assert {"pretrain", "finetune", "evaluate"} <= set(runs)
    assert runs["pretrain"].data.params["pretrain.max_steps"] == "30"
    assert "val_loss" in runs["pretrain"].data.metrics and "f1_macro" in runs["evaluate"].data.metrics
    assert runs["finetune"].data.tags["llmops.upstream.pretrain_run"] == runs["pretrain"].info.run_id
    assert runs["evaluate"].data.tags["llmops.upstream.finetune_run"] == runs["finetune"].info.run_id

    # a second repro is a no-op
    second = run(["dvc", "repro"], cwd=ws, env=env)
    assert stages_run(second.stdout) == []

    # one finetune param changed -> only finetune and evaluate rerun
    run(["python", "-m", "llmops.config", "experiment=ci", "finetune.lr=0.001"], cwd=ws)
    third = run(["dvc", "repro"], cwd=ws, env=env)
    assert stages_run(third.stdout) == ["finetune", "evaluate"]

    # dvc exp run composes conf/ itself (Hydra), and the stages accept its params.yaml
    exp = run(["dvc", "exp", "run", "-S", "experiment=ci", "-S", "finetune.lr=0.002"], cwd=ws, env=env)
    assert stages_run(exp.stdout) == ["finetune", "evaluate"]


def test_conf_edit_then_plain_dvc_repro_is_stopped(repo_copy):
    ws = repo_copy
    ft = ws / "conf/finetune/default.yaml"
    ft.write_text(ft.read_text().replace("lr: 5.0e-4", "lr: 1.0e-2"))
    proc = run(["dvc", "repro"], cwd=ws, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "does not match what conf/ composes to" in out and "finetune.lr" in out
    assert "python -m llmops.config" in out
    assert not (ws / "data/raw").exists()


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
    assert stages_run(proc.stdout) == ["ingest", "validate"]
    assert "expect_column_values_to_be_in_set, column 'label'" in out and "angry" in out
    assert not (ws / "data/validated").exists() and not (ws / "data/processed").exists()
    assert (ws / "reviews.csv").read_bytes() == before


def test_an_unseen_dataset_runs_end_to_end_by_configuration_only(repo_copy):
    """Integer labels, custom column names, JSONL, an extra corpus folder: only data=files keys."""
    import random

    ws = repo_copy
    rng = random.Random(0)
    words = {1: ["dreadful", "broken", "refund"], 2: ["fine", "okay", "average"], 3: ["superb", "love", "perfect"]}
    with open(ws / "reviews.jsonl", "w") as f:
        for i in range(600):
            stars = 1 + i % 3
            body = f"item {i}: " + " ".join(rng.choice(words[stars]) for _ in range(4)) + f" {rng.random():.4f}"
            f.write(json.dumps({"body": body, "stars": stars}) + "\n")
    (ws / "notes").mkdir()
    for i in range(5):
        (ws / "notes" / f"n{i}.txt").write_text(f"Some unlabeled note number {i} about products. " * 20)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{ws}/mlflow.db"}
    run(
        [
            "python",
            "-m",
            "llmops.config",
            "experiment=ci",
            "data=files",
            "data.labeled.path=reviews.jsonl",
            "data.labeled.text_column=body",
            "data.labeled.label_column=stars",
            "data.corpus.paths=[notes]",
            "data.corpus.dep=notes",
            "data.corpus.include_default=false",
        ],
        cwd=ws,
    )
    proc = run(["dvc", "repro"], cwd=ws, env=env)
    assert stages_run(proc.stdout)[-1] == "evaluate"
    assert read(ws, "data/processed/labels.json") == ["1", "2", "3"]
    config = read(ws, "models/classifier/config.json")
    assert config["id2label"] == {"0": "1", "1": "2", "2": "3"} and config["label2id"]["3"] == 2
    ev = read(ws, "metrics/evaluate.json")
    assert set(ev["per_class"]) == {"1", "2", "3"} and ev["n_test"] == 60
    sources = {s["file"] for s in read(ws, "data/raw/manifest.json")["sources"]}
    assert sources == {"reviews.jsonl", "n0.txt", "n1.txt", "n2.txt", "n3.txt", "n4.txt"}
