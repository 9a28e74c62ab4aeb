"""The confusion-matrix PNG and the Markdown evaluation report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from llmops.data.errors import md_escape


def confusion_png(cm: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    """scikit-learn's ConfusionMatrixDisplay, counts in the cells, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2.5, 1.2 * len(labels) + 2))
    ConfusionMatrixDisplay(cm, display_labels=labels).plot(ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _ci(m: dict[str, Any], key: str) -> str:
    return f" [95% interval {m[key][0]:+.3f} to {m[key][1]:+.3f}]" if key in m else ""


def markdown(m: dict[str, Any], labels: list[str]) -> str:
    init = m.get("init", "pretrained")
    rows = [(f"fine-tuned classifier (init: {init})", m["accuracy"], m["f1_macro"])]
    if "scratch_f1_macro" in m:
        rows.append(("same architecture and budget, random init", m["scratch_accuracy"], m["scratch_f1_macro"]))
    rows += [
        ("TF-IDF + logistic regression", m["baseline_tfidf_accuracy"], m["baseline_tfidf_f1_macro"]),
        ("majority class", m["baseline_majority_accuracy"], m["baseline_majority_f1_macro"]),
    ]
    lines = [
        "# Evaluation on the test split",
        "",
        f"{m['n_test']} test texts, {len(labels)} classes ({', '.join(map(md_escape, labels))}).",
        "",
        "| model | accuracy | macro-F1 |",
        "|---|---|---|",
        *[f"| {name} | {acc:.3f} | {f1:.3f} |" for name, acc, f1 in rows],
        "",
        f"Macro precision {m['precision_macro']:.3f}, macro recall {m['recall_macro']:.3f}. "
        f"Against TF-IDF: {m['f1_macro'] - m['baseline_tfidf_f1_macro']:+.3f} macro-F1{_ci(m, 'tfidf_margin_f1_ci95')}"
        + (" (beats it)." if m["beats_tfidf"] else " (does not beat it).")
        + (
            f" What pre-training buys: {m['pretrain_gain_f1']:+.3f} macro-F1{_ci(m, 'pretrain_gain_f1_ci95')}."
            if "pretrain_gain_f1" in m
            else ""
        ),
        "",
        "Intervals: 95% paired bootstrap over the test texts (the test split's own noise; the spread over "
        "training seeds comes on top).",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
        *[
            f"| {md_escape(c)} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
            for c, v in m["per_class"].items()
        ],
        "",
        "![confusion matrix](evaluate/confusion_matrix.png)",
        "",
    ]
    return "\n".join(lines)
