"""validate: the data-quality gate on data/raw/, with Great Expectations.

A failed critical expectation stops the pipeline (exit 1) before anything downstream runs. Rows
failing a quarantine warning move to data/validated/rejected.parquet with a `reason`; if their share
passes data.validation.max_rejected_share, that is critical too.
Outputs: reports/validation/ (GX JSON results, Data Docs, summary.md) and data/validated/."""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path

import pandas as pd

from llmops.config import load_stage_params, rerun_command
from llmops.data.dedup import text_fingerprints
from llmops.data.errors import limit_above
from llmops.io import atomic_dir, read_json, remove_outputs
from llmops.stages.runner import StageError, run_stage
from llmops.tracking.runs import log_stage_run
from llmops.validation import gate, suites

RAW = Path("data/raw")
OUT = Path("data/validated")
REPORT = Path("reports/validation")


def main() -> int:
    params = load_stage_params("validate")
    data, v = params.data, params.data.validation
    remove_outputs(OUT)  # never leave a previous run's validated data behind a failed gate
    manifest = read_json(RAW / "manifest.json")
    source = next(s["file"] for s in manifest["sources"] if s["role"] == "labeled")
    labeled = pd.read_parquet(RAW / "labeled.parquet")
    labeled.index = labeled["row"].to_numpy()  # GX reports rows by index: make it the source record number
    has_split = bool(labeled["split"].notna().any())
    held_out = labeled["text"][labeled["split"].isin(["val", "test"])] if has_split else labeled["text"][:0]
    corpus, corpus_hashes = suites.corpus_profile(RAW / "corpus.parquet", probe=text_fingerprints(held_out))
    header = (str(data.labeled.get("text_column", "text")), str(data.labeled.get("label_column", "label")))
    checked = suites.add_derived_columns(labeled, corpus_hashes, header=header, min_per_class=v.min_rows_per_class)
    labels = list(data.labels) if data.get("labels") else None
    expectations = suites.raw_labeled(v, labels, has_split) + [suites.class_balance(labeled, v.min_class_share)]
    tables = {
        "raw_labeled": (checked, source, expectations),
        "raw_corpus": (corpus, "corpus (one row per shard slice)", suites.raw_corpus(v)),
    }
    with atomic_dir(REPORT) as tmp:
        outcomes = gate.run_suites(tables, tmp / "data_docs")
        rejected = _rejected(labeled, outcomes[0])
        share = len(rejected) / max(1, len(labeled))
        extra = _rejected_lines(rejected, share, v.max_rejected_share)
        gate.write_results(outcomes, tmp, extra)

    columns = {"text": header[0], "label": header[1], "split": str(data.labeled.get("split_column") or "split")}
    critical = gate.print_failures("validate", outcomes, columns=columns)
    if share > v.max_rejected_share:
        print(
            f"validate: critical: {source}: {len(rejected)} of {len(labeled)} rows ({share:.1%}) fail quarantine "
            f"rules, above data.validation.max_rejected_share={v.max_rejected_share:.0%}: "
            f"{rejected['reason'].value_counts().to_dict()}; first rows {rejected['row'].head(5).tolist()}. "
            f"To keep them: {rerun_command(_keeping(rejected, v, share))}",
            file=sys.stderr,
        )
        critical = True
    counts = {
        "rejected_rows": len(rejected),
        "rejected_share": share,
        "labeled_rows": len(labeled),
        "warnings": sum(len(o.failures) for o in outcomes),
    }
    logged = {"keys": ["data.labels", "data.validation"], "metrics": counts}
    artifacts = (REPORT / "summary.md", REPORT / "raw_labeled.json")
    if critical:
        message = f"the data failed the gate; the pipeline stops here. Report: {REPORT}/summary.md"
        raise StageError(message, params=params, artifacts=artifacts, **logged)
    log_stage_run("validate", params, artifacts=artifacts, **logged)

    _write_validated(labeled, rejected)
    print(
        f"validate: all critical expectations met; {counts['warnings']} warnings; {len(rejected)} rows quarantined "
        f"({share:.2%}) -> {OUT}/"
    )
    return 0


def _write_validated(labeled: pd.DataFrame, rejected: pd.DataFrame) -> None:
    """The rows that passed, the quarantined ones beside them, and the corpus and manifest as read."""
    with atomic_dir(OUT) as tmp:
        labeled.drop(index=rejected.index).reset_index(drop=True).to_parquet(tmp / "labeled.parquet", index=False)
        rejected.reset_index(drop=True).to_parquet(tmp / "rejected.parquet", index=False)
        _link_or_copy(RAW / "corpus.parquet", tmp / "corpus.parquet")  # the corpus can be large
        shutil.copy2(RAW / "manifest.json", tmp / "manifest.json")


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link where the filesystem allows it (no second copy of a large corpus; every stage
    replaces its outputs rather than writing into them), else a copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _rejected(labeled: pd.DataFrame, outcome: gate.SuiteOutcome) -> pd.DataFrame:
    """Rows failing quarantine warnings, each with the reasons (expectation: why) joined."""
    reasons: dict[int, list[str]] = {}
    for f in outcome.failures:
        if f["severity"] == suites.WARNING and f["quarantine"]:
            for row in f["rows"]:
                reasons.setdefault(int(row), []).append(f["why"])
    rows = sorted(reasons)
    return labeled.loc[rows].assign(reason=["; ".join(reasons[r]) for r in rows])


def _keeping(rejected: pd.DataFrame, v, share: float) -> dict[str, float]:
    """The settings under which the quarantined rows would pass: the length and line limits they
    broke, raised past their longest, else a rejected share that admits them."""
    text = rejected["text"].fillna("")
    fixes: dict[str, float] = {}
    if v.get("max_chars") is not None and (text.str.len() > v.max_chars).any():
        fixes["data.validation.max_chars"] = limit_above(int(text.str.len().max()))
    lines = text.str.count("\n") + 1
    if (lines > v.max_text_lines).any():
        fixes["data.validation.max_text_lines"] = limit_above(int(lines.max()))
    return fixes or {"data.validation.max_rejected_share": math.ceil(share * 100) / 100}


def _rejected_lines(rejected: pd.DataFrame, share: float, bound: float) -> list[str]:
    lines = [
        f"**Quarantined rows:** {len(rejected)} ({share:.2%}; bound {bound:.0%}) -> "
        "`data/validated/rejected.parquet`, with a `reason` column.",
        "",
    ]
    for reason, n in rejected["reason"].value_counts().items():
        lines.append(f"- {n} rows: {reason}")
    return lines + [""]


if __name__ == "__main__":
    run_stage(main)
