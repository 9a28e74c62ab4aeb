"""preprocess: the labeled texts: clean, dedup (exact and near), drop conflicting labels,
length-filter, split, then gate the processed splits (leakage, label set, empties) ->
data/processed/ and reports/validation_processed/.

The labeled file is read a batch at a time and repeated raw rows are dropped before cleaning, so
memory follows the number of distinct rows; the splits themselves are pandas frames (the size
limit: docs/data.md). The unlabeled corpus is the prepare_corpus stage's (datatrove)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from llmops.config import load_stage_params, rerun_command
from llmops.data.cleaning import cleaner
from llmops.data.dedup import SeenHashes, dedup_labeled, text_fingerprints
from llmops.data.encoding import is_latin1
from llmops.data.errors import limit_above
from llmops.data.neardup import near_duplicates
from llmops.data.split import stratified_split
from llmops.io import atomic_dir, read_json, remove_outputs, write_json
from llmops.stages.runner import StageError, run_stage
from llmops.tracking.runs import log_stage_run

IN = Path("data/validated")
OUT = Path("data/processed")
REPORT = Path("reports/validation_processed")
BATCH = 20_000


def main() -> int:
    params = load_stage_params("preprocess")
    data, pp, seed = params.data, params.data.preprocess, int(params.seed)
    remove_outputs(OUT)
    stats: dict[str, int] = {}
    labeled = _clean_labeled(pp, latin1=_latin1_sources(IN / "manifest.json"), stats=stats)
    too_many = _dropped_too_many(stats, kept=len(labeled), pp=pp, limit=float(data.validation.max_dropped_share))
    if too_many:
        raise StageError(too_many, params=params, keys=("data.preprocess", "seed"), metrics=stats)
    labels = list(data.labels) if data.get("labels") else _label_order(labeled["label"].unique().tolist())
    try:
        splits = _split(labeled, data, seed)
    except ValueError as e:
        raise StageError(str(e)) from None

    with atomic_dir(OUT) as tmp:  # a failed gate leaves no data/processed behind
        if not _gate(splits, labels):
            raise StageError(
                f"the processed splits failed the gate. Report: {REPORT}/summary.md",
                params=params,
                keys=("data.preprocess", "data.split", "seed"),
                metrics=stats,
                artifacts=(REPORT / "summary.md",),
            )
        for name, df in splits.items():
            df[["text", "label"]].to_parquet(tmp / f"{name}.parquet", index=False)
            stats[f"{name}_rows"] = len(df)
        write_json(tmp / "labels.json", labels)
        write_json(tmp / "stats.json", stats)
        shutil.copy2(IN / "manifest.json", tmp / "manifest.json")  # data lineage travels with the data
    log_stage_run(
        "preprocess",
        params,
        keys=["data.preprocess", "data.split", "data.labels", "seed"],
        metrics=stats,
        artifacts=(OUT / "stats.json", REPORT / "summary.md"),
    )
    print(f"preprocess: {stats} -> {OUT}/")
    return 0


def _latin1_sources(manifest: Path) -> set[str]:
    """The labeled sources read as a Latin-1 the user named (data.labeled.encoding), whose texts get
    `repair_latin1`. Per source: a batch appended later is decoded on its own (detected), and the
    repair would damage its genuine accented letters."""
    return {
        s["file"]
        for s in read_json(manifest)["sources"]
        if s.get("role", "").startswith("labeled")
        and s.get("encoding_source") == "configured"
        and is_latin1(s.get("encoding"))
    }


def _clean_labeled(pp, latin1: set[str], stats: dict[str, int]) -> pd.DataFrame:
    """Distinct labeled rows, cleaned (rows of a `latin1` source repaired first), within the length
    bounds, exact and (optionally) near duplicates removed; what each step dropped is counted in `stats`."""
    labeled = _distinct_labeled(IN / "labeled.parquet", stats)
    repaired = labeled.pop("source").isin(latin1)
    text = labeled["text"].copy()
    for rows, clean in ((repaired, cleaner(pp, latin1_source=True)), (~repaired, cleaner(pp))):
        text[rows] = _clean_each(labeled.loc[rows, "text"], clean)
    labeled = labeled.assign(text=text)
    chars = labeled["text"].str.len()
    short = chars < pp.min_chars
    long = chars > pp.max_chars if pp.get("max_chars") is not None else pd.Series(False, index=chars.index)
    stats.update(dropped_short=int(short.sum()), dropped_long=int(long.sum()))
    if long.any():  # what a refusal names: the limit that would have kept them
        stats["longest_dropped_chars"] = int(chars[long].max())
    labeled, dedup_stats = dedup_labeled(labeled[~(short | long)])
    stats.update(dedup_stats)
    if pp.get("near_dup_threshold"):
        near = near_duplicates(labeled["text"].tolist(), float(pp.near_dup_threshold))
        labeled = labeled.drop(index=labeled.index[near]).reset_index(drop=True)
        stats["near_duplicate_rows"] = len(near)
    return labeled


def _dropped_too_many(stats: dict[str, int], kept: int, pp, limit: float) -> str | None:
    """Rows are never dropped silently: every reason is counted in `stats` (and stats.json), and a
    share of validated rows above data.validation.max_dropped_share fails the stage with one line
    naming, per reason, the key that set it and the value that would have kept the rows, then the
    command that sets them."""
    total = stats["validated_rows"]
    share = (total - kept) / max(1, total)
    if share <= limit:
        return None
    reasons, fixes = [], {}
    if stats.get("dropped_long"):
        need = stats["longest_dropped_chars"]
        reasons.append(
            f"{stats['dropped_long']} longer than data.preprocess.max_chars={pp.max_chars} (keeping them needs "
            f"data.preprocess.max_chars >= {need:,}, or null for no limit)"
        )
        fixes["data.preprocess.max_chars"] = limit_above(need)
    if stats.get("dropped_short"):
        reasons.append(
            f"{stats['dropped_short']} shorter than data.preprocess.min_chars={pp.min_chars} "
            "(data.preprocess.min_chars=1 keeps every non-empty text)"
        )
        fixes["data.preprocess.min_chars"] = 1
    if stats.get("near_duplicate_rows"):
        reasons.append(
            f"{stats['near_duplicate_rows']} near duplicates at data.preprocess.near_dup_threshold="
            f"{pp.near_dup_threshold} (null keeps them)"
        )
    for reason in ("repeated_raw_rows", "conflicting_rows", "duplicate_rows"):  # no key keeps these
        if stats.get(reason):
            reasons.append(f"{stats[reason]} {reason}")
    if not fixes:
        fixes["data.validation.max_dropped_share"] = math.ceil(share * 100) / 100
    return (
        f"{IN / 'labeled.parquet'}: cleaning and dedup would drop {total - kept} of {total} rows "
        f"({share:.0%} > data.validation.max_dropped_share={limit:g}): {'; '.join(reasons)}. "
        f"To keep them: {rerun_command(fixes)}"
    )


def _distinct_labeled(path: Path, stats: dict[str, int]) -> pd.DataFrame:
    """Labeled rows with text and label, a (text, label) pair kept once: repeats cost no memory."""
    seen, parts, total = SeenHashes(), [], 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH, columns=["text", "label", "split", "source"]):
        df = batch.to_pandas().dropna(subset=["text", "label"])
        total += batch.num_rows
        keys = text_fingerprints(df["text"] + "\x00" + df["label"])
        parts.append(df[seen.first_seen(keys)])
    labeled = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["text", "label", "split", "source"])
    )
    stats.update(validated_rows=total, repeated_raw_rows=total - len(labeled))
    return labeled


def _clean_each(texts: pd.Series, clean: Callable[[str], str]) -> pd.Series:
    """Clean each distinct text once."""
    cache: dict[str, str] = {}
    return texts.map(lambda t: cache[t] if t in cache else cache.setdefault(t, clean(t)))


def _label_order(labels: list[str]) -> list[str]:
    """Numeric labels in numeric order ("2" before "10"), others alphabetically."""
    if all(s.lstrip("-").replace(".", "", 1).isdigit() for s in labels):
        return sorted(labels, key=float)
    return sorted(labels)


def _split(labeled: pd.DataFrame, data, seed: int) -> dict[str, pd.DataFrame]:
    """The file's own split column when it has one (validate gated its leakage), else ours."""
    if labeled["split"].notna().any():
        parts = {
            k: labeled[labeled["split"] == k][["text", "label"]].reset_index(drop=True)
            for k in ("train", "val", "test")
        }
        held = set(parts["val"]["text"]) | set(parts["test"]["text"])
        parts["train"] = parts["train"][~parts["train"]["text"].isin(held)].reset_index(drop=True)
        return parts
    return stratified_split(labeled[["text", "label"]], data.split.val, test=data.split.test, seed=seed)


def _gate(splits: dict[str, pd.DataFrame], labels: list[str]) -> bool:
    """GX suites on the processed splits; False (and the report) when a critical one fails. The
    pre-training corpus needs no check here: prepare_corpus drops every copy of a val/test text."""
    from llmops.validation import gate, suites

    forbidden = text_fingerprints(splits["train"]["text"])
    tables = {}
    for name, df in splits.items():
        held_out = name != "train"
        frame = df.assign(is_in_train=np.isin(text_fingerprints(df["text"]), forbidden)) if held_out else df
        tables[f"processed_{name}"] = (
            frame,
            f"data/processed/{name}.parquet",
            suites.processed_split(labels, held_out),
        )
    with atomic_dir(REPORT) as tmp:
        outcomes = gate.run_suites(tables, tmp / "data_docs")
        gate.write_results(outcomes, tmp)
    return not gate.print_failures("preprocess", outcomes)


if __name__ == "__main__":
    run_stage(main)
