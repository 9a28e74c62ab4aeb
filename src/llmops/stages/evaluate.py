"""evaluate: score the classifier on the test split against majority and TF-IDF baselines on the
same split -> metrics/evaluate.json, reports/evaluate/ (confusion CSV for DVC plots, PNG) and
reports/evaluate.md."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from llmops.config import load_params
from llmops.io import atomic_dir, read_json, write_json, write_text
from llmops.tracking.runs import stage_run

DATA = Path("data/processed")
MODEL = Path("models/classifier")
SCRATCH = Path("models/classifier_scratch")
METRICS = Path("metrics/evaluate.json")
PLOTS = Path("reports/evaluate")
REPORT = Path("reports/evaluate.md")
REGISTRY = Path("reports/runs/registry.json")


def main() -> int:
    params = load_params()
    import mlflow
    import torch

    from llmops.evaluation import baselines
    from llmops.evaluation.metrics import classification_metrics, confusion, paired_bootstrap_f1_diff
    from llmops.evaluation.predict import TextClassifier
    from llmops.evaluation.report import confusion_png, markdown

    torch.set_num_threads(int(params.trainer.num_threads))
    seed = int(params.seed)
    labels = read_json(DATA / "labels.json")
    label_id = {lab: i for i, lab in enumerate(labels)}
    train = pd.read_parquet(DATA / "train.parquet")
    test = pd.read_parquet(DATA / "test.parquet")
    y_train = train["label"].map(label_id).to_numpy()
    y_test = test["label"].map(label_id).to_numpy()

    # test texts are already cleaned by preprocess; the saved cleaner is idempotent on them
    clf = TextClassifier(MODEL, max_length=int(params.finetune.max_length))
    pred = clf.predict_proba(test["text"].tolist()).argmax(-1)
    n = len(labels)
    m = classification_metrics(y_test, pred, n, labels)
    tfidf_pred = baselines.tfidf_logreg(train["text"].tolist(), y_train, test["text"].tolist(), seed)
    for name, base in (("majority", baselines.majority(y_train, len(test))), ("tfidf", tfidf_pred)):
        bm = classification_metrics(y_test, base, n)
        m.update({f"baseline_{name}_{k}": v for k, v in bm.items()})
    # differences come with a 95% paired-bootstrap interval over the test texts: a gain inside it is noise
    m["tfidf_margin_f1"] = m["f1_macro"] - m["baseline_tfidf_f1_macro"]
    m["tfidf_margin_f1_ci95"] = list(paired_bootstrap_f1_diff(y_test, pred, tfidf_pred, n, seed))
    if (SCRATCH / "config.json").exists():  # the ablation: same architecture and budget, random init
        scratch_pred = TextClassifier(SCRATCH).predict_proba(test["text"].tolist()).argmax(-1)
        sm = classification_metrics(y_test, scratch_pred, n)
        m["scratch_accuracy"], m["scratch_f1_macro"] = sm["accuracy"], sm["f1_macro"]
        m["pretrain_gain_f1"] = m["f1_macro"] - sm["f1_macro"]
        m["pretrain_gain_f1_ci95"] = list(paired_bootstrap_f1_diff(y_test, pred, scratch_pred, n, seed))
        m["pretrain_gain_accuracy"] = m["accuracy"] - sm["accuracy"]
    m["n_test"] = len(test)
    m["beats_tfidf"] = bool(m["f1_macro"] > m["baseline_tfidf_f1_macro"])
    m["init"] = str(params.finetune.init)

    lineage = read_json(MODEL / "mlflow_run.json")
    with stage_run("evaluate", params, ["seed"], tags={"llmops.upstream.finetune_run": lineage["run_id"]}):
        cm = confusion(y_test, pred, n)
        with atomic_dir(PLOTS) as tmp:
            pd.DataFrame({"actual": [labels[i] for i in y_test], "predicted": [labels[i] for i in pred]}).to_csv(
                tmp / "confusion.csv", index=False
            )
            confusion_png(cm, labels, tmp / "confusion_matrix.png", f"test macro-F1 {m['f1_macro']:.3f}")
        write_json(METRICS, m)
        write_text(REPORT, markdown(m, labels))
        mlflow.log_metrics({k: float(v) for k, v in m.items() if isinstance(v, int | float | np.floating)})
        for path in (METRICS, REPORT, PLOTS / "confusion_matrix.png"):
            mlflow.log_artifact(str(path))
        _register(params, labels, m["f1_macro"])
    print(
        f"evaluate: accuracy {m['accuracy']:.3f}, macro-F1 {m['f1_macro']:.3f} "
        f"(TF-IDF {m['baseline_tfidf_f1_macro']:.3f}, majority acc {m['baseline_majority_accuracy']:.3f}"
        + (
            f", from scratch {m['scratch_f1_macro']:.3f}: gain {m['pretrain_gain_f1']:+.3f}"
            if "scratch_f1_macro" in m
            else ""
        )
        + ")"
    )
    return 0


def _register(params, labels: list[str], f1: float) -> dict:
    """Log the classifier as a pyfunc model, register it, and run the champion gate."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from llmops.tracking import pyfunc, registry

    name = params.tracking.registered_model
    info = pyfunc.log_classifier(MODEL, labels, name)
    decision = registry.gate(
        MlflowClient(mlflow.get_tracking_uri()),
        name,
        info.registered_model_version,
        f1,
        float(params.tracking.champion_margin),
    )
    mlflow.set_tags(
        {
            "llmops.registry.version": str(decision["version"]),
            "llmops.registry.decision": decision["decision"],
            "llmops.registry.reason": decision["reason"],
        }
    )
    if decision["champion_score_before"] is not None:
        mlflow.log_metric("champion_f1_macro_before", decision["champion_score_before"])
    write_json(REGISTRY, decision)
    print(f"evaluate: registered {name} v{decision['version']} as {decision['decision']} ({decision['reason']})")
    return decision


if __name__ == "__main__":
    sys.exit(main())
