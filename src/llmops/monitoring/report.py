"""The drift report: one self-contained HTML page (no script, no external file: it opens offline
and from a CI artifact), every text escaped."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}.over{background:#fdd}"
)


def _bars(values: np.ndarray, bins: int = 10, width: int = 300, height: int = 80) -> str:
    """An inline SVG histogram of values in [0, 1]."""
    counts, _ = np.histogram(values, bins=bins, range=(0, 1))
    top = max(int(counts.max()), 1)
    w = width / bins
    rects = "".join(
        f'<rect x="{i * w:.1f}" y="{height - c / top * height:.1f}" width="{w - 2:.1f}" '
        f'height="{c / top * height:.1f}" fill="#4878a8"/>'
        for i, c in enumerate(counts)
    )
    return f'<svg width="{width}" height="{height}" role="img" aria-label="histogram">{rects}</svg>'


def html(verdict: dict, sample: pd.DataFrame, conf: np.ndarray) -> str:
    rows = "".join(
        f'<tr class="{"over" if s["over"] else ""}"><td>{escape(k)}</td><td>{s["value"]:.4f}</td>'
        f"<td>{s['threshold']:.4f}</td><td>{s['floor']:.4f}</td><td>{'over' if s['over'] else ''}</td></tr>"
        for k, s in verdict["statistics"].items()
    )
    examples = "".join(
        f"<tr><td>{escape(str(t))}</td><td>{c:.3f}</td></tr>"
        for t, c in zip(sample["text"].head(10), conf[:10], strict=False)
    )
    words = lambda ws: ", ".join(escape(w) for w in ws)  # noqa: E731
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>drift: {escape(verdict['batch'])}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Drift: {escape(verdict['batch'])}</h1>"
        f"<p><b>{escape(verdict['status'])}</b> (kind {escape(verdict['kind'])}, action "
        f"{escape(verdict['action'])}): {verdict['n']} of {verdict['rows']} rows compared, "
        f"{'labeled' if verdict['labeled'] else 'unlabeled'}, seed {verdict['seed']}.</p>"
        "<h2>Statistics</h2><table><tr><th>statistic</th><th>value</th><th>threshold</th><th>floor</th><th></th></tr>"
        f"{rows}</table>"
        "<p>Each threshold is max(floor, the 99th percentile of the statistic between reference and "
        "validation samples of the same size): a batch like the training data stays under it.</p>"
        f"<h2>What tells the batch apart</h2><p>Words of the batch: {words(verdict['words_batch'])}</p>"
        f"<p>Words of the reference: {words(verdict['words_reference'])}</p>"
        f"<h2>Model confidence on the batch</h2>{_bars(conf)}"
        f"<h2>First texts compared</h2><table><tr><th>text</th><th>confidence</th></tr>{examples}</table>"
        "</body></html>\n"
    )
