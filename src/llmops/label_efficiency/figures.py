"""The label-efficiency curve's figures: for each label budget N, test macro-F1 of the pre-trained
and scratch inits (means and spread over seeds) and of TF-IDF on the same subsets, and what
pre-training buys, paired by seed, with a 95% interval over seeds and test rows. Flat keys
(`f1_macro@100`), so `dvc metrics show` and `dvc exp show` list them as they are."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmops.evaluation.metrics import macro_f1, seeds_bootstrap_f1_diff

MODELS = ("pretrained", "scratch", "tfidf")
PREFIX = {"pretrained": "", "scratch": "scratch_", "tfidf": "tfidf_"}


def point_metrics(
    y_test: np.ndarray, preds: dict[str, list[np.ndarray]], point: str, n_classes: int, seed: int, rounds: int
) -> dict[str, Any]:
    """One point of the curve (`point`: a budget N, or `all`), from each model's test predictions,
    one array per seed, seeds in the same order for every model."""
    out: dict[str, Any] = {}
    for model, runs in preds.items():
        f1 = [macro_f1(y_test, pred, n_classes) for pred in runs]
        out[f"{PREFIX[model]}f1_macro@{point}"] = float(np.mean(f1))
        if len(f1) > 1:
            out[f"{PREFIX[model]}f1_macro@{point}_std"] = float(np.std(f1, ddof=1))
    for key, other in (("pretrain_gain_f1", "scratch"), ("tfidf_margin_f1", "tfidf")):
        if "pretrained" in preds and other in preds:
            a, b = preds["pretrained"], preds[other]
            out[f"{key}@{point}"] = out[f"f1_macro@{point}"] - out[f"{PREFIX[other]}f1_macro@{point}"]
            ci = seeds_bootstrap_f1_diff(y_test, a, preds_b=b, n_classes=n_classes, seed=seed, rounds=rounds)
            out[f"{key}@{point}_ci95"] = [round(ci[0], 4), round(ci[1], 4)]
    return out


def learning_curve_rows(metrics: dict[str, Any], points: list[str]) -> list[dict[str, Any]]:
    """One row per point for the DVC plot and the report: labels, and each model's mean macro-F1."""
    rows = []
    for point in points:
        row: dict[str, Any] = {"labels": metrics.get(f"n_labels@{point}", point)}
        for model in MODELS:
            key = f"{PREFIX[model]}f1_macro@{point}"
            if key in metrics:
                row[model] = round(metrics[key], 4)
        rows.append(row)
    return rows


def full_data_point(m: dict[str, Any], n_train: int) -> dict[str, Any]:
    """The curve's `all` point from evaluate's metrics `m` (the finetune stages' classifiers and
    TF-IDF, trained on the whole train split; one seed, so intervals resample test texts only)."""
    out: dict[str, Any] = {
        "n_labels@all": n_train,
        "f1_macro@all": m["f1_macro"],
        "tfidf_f1_macro@all": m["baseline_tfidf_f1_macro"],
        "tfidf_margin_f1@all": m["tfidf_margin_f1"],
        "tfidf_margin_f1@all_ci95": m["tfidf_margin_f1_ci95"],
    }
    if "scratch_f1_macro" in m:
        out["scratch_f1_macro@all"] = m["scratch_f1_macro"]
        out["pretrain_gain_f1@all"] = m["pretrain_gain_f1"]
        out["pretrain_gain_f1@all_ci95"] = m["pretrain_gain_f1_ci95"]
    return out
