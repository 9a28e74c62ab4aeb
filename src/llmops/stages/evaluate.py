"""evaluate: score the classifier on the test split against majority and TF-IDF baselines on the
same split -> metrics/evaluate.json, reports/evaluate/ (confusion CSV for DVC plots, PNG),
reports/evaluate.md and the model card, reports/model_card.md, which ships with the registered model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from llmops.config import load_stage_params
from llmops.io import atomic_dir, read_json, write_json, write_text
from llmops.stages.runner import run_stage
from llmops.tracking.runs import stage_run

DATA = Path("data/processed")
MODEL = Path("models/classifier")
SCRATCH = Path("models/classifier_scratch")
METRICS = Path("metrics/evaluate.json")
HEADLINE = Path("metrics/headline.json")  # what `dvc metrics show` / `dvc exp show` list: fits 120 columns
PLOTS = Path("reports/evaluate")
REPORT = Path("reports/evaluate.md")
REGISTRY = Path("reports/runs/registry.json")
LEARNING_CURVE = Path("metrics/learning_curve.json")
PACKED_META = Path("data/packed/meta.json")  # the corpus' lengths, for the data profile
PRETRAIN = Path("metrics/pretrain.json")  # how much of the task's own text the LM read, for the card
CARD = Path("reports/model_card.md")
DRIFT_REFERENCE = Path("models/drift_reference/reference.json")  # its thresholds go into the card
# The hyperparameters the model card lists; evaluate declares each in dvc.yaml
CARD_PARAMS = (
    "model.arch",
    "model.d_model",
    "model.n_layers",
    "model.n_heads",
    "model.d_ff",
    "model.context_length",
    "tokenizer.vocab_size",
    "pretrain.max_steps",
    "pretrain.batch_size",
    "pretrain.lr",
    "finetune.init",
    "finetune.checkpoint",
    "finetune.lr",
    "finetune.batch_size",
    "finetune.epochs",
    "finetune.max_steps",
    "finetune.max_length",
    "finetune.pooling",
)


def main() -> int:
    params = load_stage_params("evaluate")
    import mlflow
    import torch

    from llmops.evaluation.model_card import pretraining_advice

    torch.set_num_threads(int(params.trainer.num_threads))
    labels = read_json(DATA / "labels.json")
    train = pd.read_parquet(DATA / "train.parquet")
    test = pd.read_parquet(DATA / "test.parquet")
    label_id = {lab: i for i, lab in enumerate(labels)}
    y_train, y_test = train["label"].map(label_id).to_numpy(), test["label"].map(label_id).to_numpy()
    m, pred = score(params, labels=labels, train=train, test=test, y_train=y_train, y_test=y_test)
    curve = read_json(LEARNING_CURVE) if LEARNING_CURVE.exists() else None
    if curve and params.finetune.get("label_budget") is None:  # this stage's models are its full-data point
        from llmops.label_efficiency.figures import full_data_point

        curve = {**curve, **full_data_point(m, n_train=len(train))}
    facts = card_facts(params, labels=labels, m=m, train=train, test=test, y_test=y_test, pred=pred)
    facts["learning_curve"] = curve
    reading = facts["reading"]
    m.update(max_length=reading["max_length"], cut_share=reading["cut_share"], read_share=reading["read_share"])
    lineage = read_json(MODEL / "mlflow_run.json")
    with stage_run("evaluate", params, ["seed"], tags={"llmops.upstream.finetune_run": lineage["run_id"]}):
        write_reports(m, labels=labels, y_test=y_test, pred=pred, curve=curve, lengths=facts.pop("lengths"))
        mlflow.log_metrics({k: float(v) for k, v in m.items() if isinstance(v, int | float | np.floating)})
        for path in (METRICS, REPORT, PLOTS / "confusion_matrix.png"):
            mlflow.log_artifact(str(path))
        facts["lineage"] = {**_card_lineage(facts["data"]["fingerprint"]), "fine-tuning MLflow run": lineage["run_id"]}
        facts["registry"] = _register(params, labels, m=m, test=test, y_test=y_test, facts=facts)
        write_card(facts)
    scratch = (
        f", from scratch {m['scratch_f1_macro']:.3f}: gain {m['pretrain_gain_f1']:+.3f}"
        if "scratch_f1_macro" in m
        else ""
    )
    print(
        f"evaluate: accuracy {m['accuracy']:.3f}, macro-F1 {m['f1_macro']:.3f} "
        f"(TF-IDF {m['baseline_tfidf_f1_macro']:.3f}, majority acc {m['baseline_majority_accuracy']:.3f}{scratch}); "
        f"reads {m['read_share']:.1%} of a test text's tokens on average ({m['cut_share']:.1%} cut at "
        f"{m['max_length']} tokens, {reading['truncation']})"
    )
    advice = pretraining_advice(facts["learning_curve"], facts["pretraining"])
    if advice:
        print(f"evaluate: {advice}")
    return 0


def score(
    params, labels: list[str], train: pd.DataFrame, test: pd.DataFrame, y_train: np.ndarray, y_test: np.ndarray
) -> tuple[dict, np.ndarray]:
    """The classifier's test metrics, the majority and TF-IDF baselines on the same split, and
    the ablation's (scratch) scores; differences come with a 95% paired-bootstrap interval over the
    test texts: a gain inside it is noise. Returns (metrics, the classifier's predictions)."""
    from llmops.evaluation import baselines
    from llmops.evaluation.metrics import classification_metrics, paired_bootstrap_f1_diff
    from llmops.evaluation.predict import TextClassifier

    seed, n, texts = int(params.seed), len(labels), test["text"].tolist()
    # test texts are already cleaned by preprocess; the saved cleaner is idempotent on them
    pred = TextClassifier(MODEL).predict_proba(texts).argmax(-1)
    m = classification_metrics(y_test, pred, n_classes=n, labels=labels)
    tfidf_pred = baselines.tfidf_logreg(train["text"].tolist(), y_train, test_x=texts, seed=seed)
    for name, base in (("majority", baselines.majority(y_train, len(test))), ("tfidf", tfidf_pred)):
        m.update({f"baseline_{name}_{k}": v for k, v in classification_metrics(y_test, base, n).items()})
    m["tfidf_margin_f1"] = m["f1_macro"] - m["baseline_tfidf_f1_macro"]
    m["tfidf_margin_f1_ci95"] = list(paired_bootstrap_f1_diff(y_test, pred, pred_b=tfidf_pred, n_classes=n, seed=seed))
    if (SCRATCH / "config.json").exists():  # the ablation: same architecture and budget, random init
        scratch_pred = TextClassifier(SCRATCH).predict_proba(texts).argmax(-1)
        sm = classification_metrics(y_test, scratch_pred, n)
        m["scratch_accuracy"], m["scratch_f1_macro"] = sm["accuracy"], sm["f1_macro"]
        m["pretrain_gain_f1"] = m["f1_macro"] - sm["f1_macro"]
        gain_ci = paired_bootstrap_f1_diff(y_test, pred, pred_b=scratch_pred, n_classes=n, seed=seed)
        m["pretrain_gain_f1_ci95"] = list(gain_ci)
        m["pretrain_gain_accuracy"] = m["accuracy"] - sm["accuracy"]
    m["n_test"] = len(test)
    m["beats_tfidf"] = bool(m["f1_macro"] > m["baseline_tfidf_f1_macro"])
    m["init"] = str(params.finetune.init)
    return m, pred


def write_reports(
    m: dict, labels: list[str], y_test: np.ndarray, pred: np.ndarray, curve: dict | None, lengths: dict
) -> None:
    """metrics/evaluate.json and headline.json, the confusion CSV (a DVC plot) and PNG, the text
    lengths' PNG, evaluate.md."""
    from sklearn.metrics import confusion_matrix

    from llmops.evaluation.lengths import lengths_png, table
    from llmops.evaluation.report import confusion_png, markdown

    with atomic_dir(PLOTS) as tmp:
        actual, predicted = [labels[i] for i in y_test], [labels[i] for i in pred]
        pd.DataFrame({"actual": actual, "predicted": predicted}).to_csv(tmp / "confusion.csv", index=False)
        cm = confusion_matrix(y_test, pred, labels=range(len(labels)))
        confusion_png(cm, labels, path=tmp / "confusion_matrix.png", title=f"test macro-F1 {m['f1_macro']:.3f}")
        lengths_png(lengths["profile"], lengths["cuts"], path=tmp / "text_lengths.png")
    write_json(METRICS, m)
    write_json(HEADLINE, headline(m))
    profile = "\n## Text lengths\n\n![text lengths](evaluate/text_lengths.png)\n\n" + table(**lengths)
    write_text(REPORT, markdown(m, labels, learning_curve=curve) + profile)


def card_facts(
    params, labels: list[str], m: dict, train: pd.DataFrame, test: pd.DataFrame, y_test: np.ndarray, pred: np.ndarray
) -> dict:
    """What the model card says, from files only: the metrics with bootstrap intervals, the
    confusion matrix, the data's sources, splits, class balance and dropped rows, the params, and
    how much of the test texts the model reads at the max_length it was trained with (main adds
    the learning curve)."""
    from omegaconf import OmegaConf
    from sklearn.metrics import confusion_matrix

    from llmops.data.split import processed_fingerprint
    from llmops.evaluation import lengths as text_lengths
    from llmops.evaluation.model_card import bootstrap_intervals
    from llmops.evaluation.predict import TextClassifier
    from llmops.models.inputs import read_shares, token_counts

    stats = read_json(DATA / "stats.json")
    not_dropped = {"validated_rows", "train_rows", "val_rows", "test_rows", "conflicting_texts"}
    not_dropped.add("longest_dropped_chars")  # a length, the refusal's
    clf = TextClassifier(MODEL)  # what the model reads: inputs.json's max_length and truncation
    lengths = token_counts(clf.tokenizer, test["text"].tolist(), clf.template)  # cleaned by preprocess
    counts = train["label"].value_counts()
    return {
        "model_name": _model_name(params),
        "task": str(params.data.task),
        "labels": labels,
        "metrics": m,
        "intervals": bootstrap_intervals(y_test, pred, labels, seed=int(params.seed)),
        "confusion": confusion_matrix(y_test, pred, labels=range(len(labels))).tolist(),
        "data": {
            "sources": read_json(DATA / "manifest.json")["sources"],
            "fingerprint": processed_fingerprint(DATA),
            "split_sizes": {k: int(stats[f"{k}_rows"]) for k in ("train", "val", "test")},
            "class_balance": {lab: int(counts.get(lab, 0)) for lab in labels},
            "dropped": {k: int(v) for k, v in stats.items() if k not in not_dropped},
        },
        "params": {
            "hyperparameters": {k: OmegaConf.select(params, k) for k in CARD_PARAMS},
            "seed": int(params.seed),
            "precision": str(params.trainer.precision),
        },
        "pretraining": read_json(PRETRAIN) if PRETRAIN.exists() else None,
        "drift": read_json(DRIFT_REFERENCE) if DRIFT_REFERENCE.exists() else None,
        "reading": {
            "max_length": clf.max_length,
            "rule": clf.max_length_rule,
            "truncation": clf.truncation,
            "cut_share": float(np.mean(lengths > clf.max_length)) if len(lengths) else 0.0,
            "read_share": float(np.mean(read_shares(lengths, clf.max_length))) if len(lengths) else 1.0,
            "median_tokens": float(np.median(lengths)) if len(lengths) else 0.0,
        },
        "lengths": text_lengths.data_profile(params, clf, {"train": train, "test": test}, packed_meta=PACKED_META),
        "non_ascii_share": float(train["text"].map(lambda t: any(c.isalpha() and ord(c) > 127 for c in t)).mean()),
    }


def write_card(facts: dict) -> None:
    import mlflow

    from llmops.evaluation.model_card import render

    write_text(CARD, render(facts))
    mlflow.log_artifact(str(CARD))


def _model_name(params) -> str:
    from llmops.tracking.registry import model_name

    return model_name(params.tracking, params.data.task)


def headline(m: dict) -> dict:
    """The few figures to compare runs by, `dvc metrics show` within 120 columns: test and
    validation macro-F1, accuracy, the baselines, the pre-training gain at full data and at the
    fewest labels. Every other figure stays in its stage's metrics file (the LM's perplexity in
    metrics/pretrain.json, the whole learning curve in metrics/learning_curve.json)."""
    finetune = read_json(Path("metrics/finetune.json"))
    out = {
        "f1_macro": m["f1_macro"],
        "accuracy": m["accuracy"],
        "tfidf_f1": m["baseline_tfidf_f1_macro"],
        "val_f1": finetune.get("best_val_f1_macro"),
    }
    if "scratch_f1_macro" in m:
        out.update(scratch_f1=m["scratch_f1_macro"], gain_f1=m["pretrain_gain_f1"])
    learning_curve = read_json(LEARNING_CURVE) if LEARNING_CURVE.exists() else {}
    if learning_curve.get("budgets") and f"pretrain_gain_f1@{learning_curve['budgets'][0]}" in learning_curve:
        fewest = learning_curve["budgets"][0]  # where pre-training should matter most: the label-efficiency glance
        out[f"f1@{fewest}"] = learning_curve[f"f1_macro@{fewest}"]
        out[f"gain@{fewest}"] = learning_curve[f"pretrain_gain_f1@{fewest}"]
    return {k: round(v, 4) for k, v in out.items() if v is not None}


def _register(params, labels: list[str], m: dict, test: pd.DataFrame, y_test: np.ndarray, facts: dict) -> dict:
    """Log the classifier as a pyfunc model, register it under the task's model name, and run the
    champion gate, re-scoring the champion on this test split. Not registered, and said why: where
    tracking.register rules it out (the ci smoke setup, exploratory `dvc exp run`s), a model below
    the floor (tracking.min_gain_over_majority over the majority-class baseline), and weights that
    are already a version of this model. A registered version carries the model card: in its
    artifacts (written before the gate, so that copy points to the description for the decision)
    and, summarised, as its description."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from llmops.evaluation import model_card
    from llmops.io import sha256
    from llmops.tracking import registry

    name = _model_name(params)
    client = MlflowClient(mlflow.get_tracking_uri())
    weights = sha256(MODEL / "model.safetensors")
    register, why = registry.should_register(params.tracking.register)
    floor = registry.below_floor(
        m["f1_macro"], m["baseline_majority_f1_macro"], margin=float(params.tracking.min_gain_over_majority)
    )
    same = registry.same_weights(client, name, weights) if register and not floor else None
    if not register or floor or same:
        reason = why if not register else floor or f"the same weights are already {name} v{same}"
        decision = {"registered": False, "reason": reason, "below_floor": bool(register and floor)}
        mlflow.set_tags({"llmops.registry.decision": "not registered", "llmops.registry.reason": reason[:500]})
        write_json(REGISTRY, decision)
        print(f"evaluate: not registered ({reason})")
        return decision
    info = _log_with_card(labels, name=name, facts=facts)
    decision = registry.gate(
        client,
        name=name,
        version=info.registered_model_version,
        score=m["f1_macro"],
        margin=float(params.tracking.champion_margin),
        labels=labels,
        rescore=_rescorer(name, labels, test=test, y_test=y_test),
        lineage={**_lineage(facts["data"]["fingerprint"]), registry.WEIGHTS_TAG: weights},
    )
    mlflow.set_tags(
        {
            "llmops.registry.model": name,
            "llmops.registry.version": str(decision["version"]),
            "llmops.registry.decision": decision["decision"],
            "llmops.registry.reason": decision["reason"][:500],
        }
    )
    client.update_model_version(name, decision["version"], description=model_card.summary(facts))
    if decision["champion_score_before"] is not None:
        mlflow.log_metric("summary/champion_f1_macro_rescored", decision["champion_score_before"])
    decision = {"registered": True, **decision}
    write_json(REGISTRY, decision)
    print(f"evaluate: registered {name} v{decision['version']} as {decision['decision']} ({decision['reason']})")
    return decision


def _log_with_card(labels: list[str], name: str, facts: dict):
    """Log and register the classifier with its model card (rendered before the gate decides)."""
    import tempfile

    from llmops.evaluation import model_card
    from llmops.tracking import pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        card = Path(tmp) / "model_card.md"
        card.write_text(model_card.render({**facts, "registry": None}))
        return pyfunc.log_classifier(MODEL, labels, name, card=card)


def _rescorer(name: str, labels: list[str], test: pd.DataFrame, y_test: np.ndarray):
    """A registered version's test macro-F1 on this split: how the champion is compared."""
    import mlflow

    from llmops.evaluation.metrics import classification_metrics

    label_id = {lab: i for i, lab in enumerate(labels)}

    def rescore(version) -> float:
        out = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}").predict(test[["text"]])
        pred = out["label"].map(label_id).fillna(-1).astype(int).to_numpy()
        return classification_metrics(y_test, pred, len(labels))["f1_macro"]

    return rescore


def _lineage(fingerprint: str) -> dict[str, str]:
    import mlflow

    from llmops.tracking.runs import run_context

    context = run_context()
    return {
        "llmops.data_sha256": fingerprint,
        "llmops.overrides": context["llmops.overrides"],
        "llmops.git_commit": context["llmops.git_commit"],
        "llmops.dvc_experiment": context.get("llmops.dvc_experiment", "(none)"),
        "llmops.run_id": mlflow.active_run().info.run_id,
    }


def _card_lineage(fingerprint: str) -> dict[str, str]:
    tags = _lineage(fingerprint)
    return {
        "evaluate MLflow run": tags["llmops.run_id"],
        "git commit": tags["llmops.git_commit"],
        "DVC experiment": tags["llmops.dvc_experiment"],
        "overrides": tags["llmops.overrides"] or "(none)",
    }


if __name__ == "__main__":
    run_stage(main)
