"""The data profile's text lengths: characters and tokens of the labeled splits and of each
pre-training source, with the points where a text is dropped or cut marked
(reports/evaluate/text_lengths.png and the table in reports/evaluate.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

EDGES = [0, *(2**k for k in range(22))]  # the bins of llmops.data.packing.LengthHistogram (pack's meta.json)


def binned(values: np.ndarray) -> list[int]:
    """Counts of `values` in EDGES' power-of-two bins, as pack counts the corpus."""
    idx = np.searchsorted(EDGES, np.asarray(values), side="right") - 1
    return np.bincount(idx, minlength=len(EDGES)).tolist()


def profile(labeled: dict[str, tuple[np.ndarray, np.ndarray]], packed_meta: dict | None) -> dict[str, dict]:
    """{set: {"chars": counts, "tokens": counts}} for each labeled split (its chars and tokens) and
    each source pack tokenised for pre-training (its train split)."""
    out = {f"labeled {name}": {"chars": binned(c), "tokens": binned(t)} for name, (c, t) in labeled.items()}
    lengths = (packed_meta or {}).get("train_lengths", {})
    if lengths.get("edges") == EDGES:
        out.update({f"corpus: {src}": counts for src, counts in lengths["sources"].items()})
    return out


def median_bin(counts: list[int]) -> str:
    """The power-of-two bin holding the median document, e.g. `128-255`."""
    cum = np.cumsum(counts)
    i = int(np.searchsorted(cum, cum[-1] / 2))
    return f"{EDGES[i]:,}-{EDGES[i + 1] - 1:,}" if i + 1 < len(EDGES) else f">= {EDGES[i]:,}"


def table(profile: dict[str, dict], cuts: dict[str, dict[str, int]]) -> str:
    """Markdown: each set's documents and median bin in characters and tokens, and the cut points."""
    lines = ["| text | documents | median characters | median tokens |", "|---|---|---|---|"]
    for name, c in profile.items():
        lines.append(f"| {name} | {sum(c['chars']):,} | {median_bin(c['chars'])} | {median_bin(c['tokens'])} |")
    marks = [f"{why} at {n:,} {unit}" for unit, points in cuts.items() for why, n in points.items()]
    return "\n".join(lines) + ("\n\nCut points: " + "; ".join(marks) + "." if marks else "") + "\n"


def lengths_png(prof: dict[str, dict], cuts: dict[str, dict[str, int]], path: Path) -> None:
    """Two panels (characters, tokens): each set's share of documents per power-of-two bin, log x,
    and a dashed line at each cut point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    centres = np.sqrt(np.maximum(EDGES, 1) * np.array(EDGES[1:] + [EDGES[-1] * 2]))
    for ax, unit in zip(axes, ("chars", "tokens"), strict=True):
        for name, counts in prof.items():
            share = np.asarray(counts[unit], dtype=float) / max(1, sum(counts[unit]))
            ax.step(centres, share, where="mid", label=name)
        for i, (why, n) in enumerate(cuts.get(unit, {}).items()):
            ax.axvline(n, linestyle="--", color=f"C{i + 5}", label=f"{why} ({n:,})")
        ax.set_xscale("log")
        ax.set_xlabel("characters" if unit == "chars" else "tokens (the classifier's, EOS included)")
        ax.set_ylabel("share of documents")
        ax.legend(fontsize=7)
    fig.suptitle("Text lengths, and where texts are dropped or cut")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def cut_points(params: Any, max_length: int) -> dict[str, dict[str, int]]:
    """Where a text is dropped (characters) or cut (tokens) under these params."""
    chars = {"corpus dropped above (data.corpus_prep.max_chars)": int(params.data.corpus_prep.max_chars)}
    if params.data.preprocess.get("max_chars") is not None:
        chars["labeled dropped above (data.preprocess.max_chars)"] = int(params.data.preprocess.max_chars)
    tokens = {
        "classifier cuts (finetune.max_length)": int(max_length),
        "pre-training window (model.context_length)": int(params.model.context_length),
    }
    return {"chars": chars, "tokens": tokens}


def data_profile(params: Any, clf: Any, splits: dict[str, Any], packed_meta: Path) -> dict[str, dict]:
    """The profile and cut points for the report: each labeled split's characters and tokens under
    the classifier `clf`, and pack's lengths of the corpus (when `packed_meta` exists)."""
    import json

    from llmops.models.inputs import token_counts

    sides = {
        name: (df["text"].str.len().to_numpy(), token_counts(clf.tokenizer, df["text"].tolist(), clf.template))
        for name, df in splits.items()
    }
    meta = json.loads(packed_meta.read_text()) if packed_meta.exists() else None
    return {"profile": profile(sides, meta), "cuts": cut_points(params, clf.max_length)}
