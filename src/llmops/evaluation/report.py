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


def markdown(m: dict[str, Any], labels: list[str], learning_curve: dict[str, Any] | None = None) -> str:
    """The report: the classifier against its baselines on the test split, the label-efficiency
    learning curve when there is one, then per-class scores."""
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
        *(learning_curve_table(learning_curve) if learning_curve else []),
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


def learning_curve_png(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Macro-F1 against labeled examples (log x), one line per model: the DVC plot's data, drawn
    for MLflow and the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    names = {"pretrained": "pre-trained init", "scratch": "scratch init", "tfidf": "TF-IDF + logreg"}
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in names.items():
        points = [(row["labels"], row[key]) for row in rows if key in row]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.set_xscale("log")
    # label the budgets themselves: log-scale minor labels (200, 300, ...) run into each other
    budgets = sorted({row["labels"] for row in rows})
    ax.set_xticks(budgets, [f"{b:,}" for b in budgets])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("labeled training examples")
    ax.set_ylabel("test macro-F1")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_curve_table(lc: dict[str, Any]) -> list[str]:
    """The learning curve as Markdown: one row per label budget (and the full train split)."""
    points = [str(b) for b in lc["budgets"]] + (["all"] if "n_labels@all" in lc else [])

    def cell(key: str, fmt: str = ".3f") -> str:
        value = lc.get(key)
        spread = f" ± {lc[key + '_std']:.3f}" if key + "_std" in lc else ""
        return "—" if value is None else f"{value:{fmt}}{spread}"

    def gain(key: str) -> str:
        if key not in lc:
            return "—"
        low, high = lc[key + "_ci95"]
        return f"{lc[key]:+.3f} [{low:+.3f}, {high:+.3f}]"

    return [
        f"## Label efficiency: test macro-F1 by labeled examples ({len(lc['seeds'])} seeds: mean ± std)",
        "",
        "| labels | pre-trained init | scratch init | TF-IDF | pre-training gain [95%] | vs TF-IDF [95%] |",
        "|---|---|---|---|---|---|",
        *[
            f"| {lc[f'n_labels@{p}']} | {cell(f'f1_macro@{p}')} | {cell(f'scratch_f1_macro@{p}')} "
            f"| {cell(f'tfidf_f1_macro@{p}')} | {gain(f'pretrain_gain_f1@{p}')} | {gain(f'tfidf_margin_f1@{p}')} |"
            for p in points
        ],
        "",
        "Each budget is a nested stratified subset of the train split per seed; both inits train the same "
        "fixed steps and keep the best step on validation. Gains are paired by seed; intervals resample "
        "seeds and test texts. The last row is the finetune stages' models (one seed, test resampling only).",
        "",
        "![learning curve](learning_curve.png)",
        "",
    ]
