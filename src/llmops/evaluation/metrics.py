"""Classification metrics: accuracy, macro precision/recall/F1 and per-class scores."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, labels: list[str] | None = None
) -> dict[str, Any]:
    ids = list(range(n_classes))
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(p.mean()),
        "recall_macro": float(r.mean()),
        "f1_macro": float(f.mean()),
    }
    if labels is not None:
        out["per_class"] = {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
            for i, lab in enumerate(labels)
        }
    return out


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Macro-F1 from one bincount. Hand-written because the paired bootstrap calls it 4,000 times
    per comparison: scikit-learn's f1_score (input validation, label discovery) took 3.0 ms a call
    on 3,558 rows here against 0.045 ms for this (67x); a test checks that the two agree."""
    cm = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)  # predicted + actual per class: F1 = 2 tp / (that)
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)))


def paired_bootstrap_f1_diff(
    y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n_classes: int, seed: int, rounds: int = 2000
) -> tuple[float, float]:
    """95% interval of macro-F1(a) - macro-F1(b) over test sets resampled with replacement, the same
    rows for both models: how much of a difference the size of the test split alone can explain
    (not the spread over training seeds, which comes on top)."""
    return seeds_bootstrap_f1_diff(y_true, [pred_a], preds_b=[pred_b], n_classes=n_classes, seed=seed, rounds=rounds)


def seeds_bootstrap_f1_diff(
    y_true: np.ndarray,
    preds_a: list[np.ndarray],
    preds_b: list[np.ndarray],
    n_classes: int,
    seed: int,
    rounds: int = 2000,
) -> tuple[float, float]:
    """95% interval of the mean over training seeds of macro-F1(a_s) - macro-F1(b_s), pairs (a_s, b_s)
    trained with the same seed: each round resamples the test rows and, with more than one pair, the
    seeds (both with replacement), so the interval holds the test split's noise and the seeds' spread."""
    rng = np.random.default_rng(seed)
    diffs = np.empty(rounds)
    k = len(preds_a)
    for i in range(rounds):
        rows = rng.integers(0, len(y_true), len(y_true))
        picks = rng.integers(0, k, k) if k > 1 else [0]
        y = y_true[rows]
        per_seed = {
            s: macro_f1(y, preds_a[s][rows], n_classes) - macro_f1(y, preds_b[s][rows], n_classes) for s in set(picks)
        }
        diffs[i] = np.mean([per_seed[s] for s in picks])
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)
