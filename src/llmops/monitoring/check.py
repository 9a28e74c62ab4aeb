"""`llmops drift BATCH`: read a batch, clean it the way the training data was cleaned, score it
with the workspace's classifier, compare it with the workspace's reference, write verdict.json,
report.html (and label_sample.csv when labels are needed) into one folder, all or nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from llmops.errors import StageError
from llmops.monitoring import drift


@dataclass
class Settings:
    n: int = 500  # rows compared (a seeded sample of the batch)
    seed: int = 0
    min_n: int = 100  # fewer rows: insufficient
    min_labels: int = 200  # a drifted batch with this many labels is enough to retrain on
    label_sample: int = 100  # rows to label when it is not


def read_batch(path: Path, text_column: str, label_column: str | None, labels: list[str]) -> pd.DataFrame:
    """The batch's text (and label) columns; a user error is one StageError naming the file, the
    column or the row."""
    from llmops.data.errors import DataSourceError
    from llmops.data.sources import iter_table

    if not path.is_file():
        raise StageError(f"{path}: no such file")
    try:
        df = pd.concat(list(iter_table(path)), ignore_index=True)
    except DataSourceError as err:  # its message names the file
        raise StageError(str(err)) from None
    except ValueError as err:
        raise StageError(f"{path}: cannot be read ({err})") from None
    for col in filter(None, (text_column, label_column)):
        if col not in df.columns:
            columns = ", ".join(str(c) for c in df.columns if c != "row")  # row: our record number
            raise StageError(f"{path}: no column '{col}' (columns: {columns})")
    df = df.dropna(subset=[text_column])
    if df.empty:
        raise StageError(f"{path}: no rows with a text in column '{text_column}'")
    out = pd.DataFrame({"text": df[text_column].astype(str)})
    if label_column:
        out["label"] = df[label_column].astype(str)
        unknown = sorted(set(out["label"]) - set(labels))
        if unknown:
            first = out.index[out["label"] == unknown[0]][0]
            row = int(df.loc[first, "row"]) if "row" in df.columns else int(first) + 1  # the source's record number
            raise StageError(
                f"{path}: column '{label_column}' row {row}: label '{unknown[0]}' is not one the model knows "
                f"({', '.join(labels)})"
            )
    return out.reset_index(drop=True)


def from_requests(records: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """A batch from the request log (llmops.monitoring.requests.read): its texts, or where only
    their sha256 was logged, the probabilities the served model gave."""
    logged = sorted(c.removeprefix("prob_") for c in records.columns if c.startswith("prob_"))
    if logged != sorted(labels):
        raise StageError(f"the requests were answered with labels {logged}, the workspace's model has {labels}")
    if records["text"].notna().all():
        return pd.DataFrame({"text": records["text"].astype(str)})
    return records[["text_sha256", *[f"prob_{lab}" for lab in labels]]].assign(text=None)


def _side(clf, batch: pd.DataFrame, labels: list[str] | None) -> drift.Side:
    """The model's view of a sample: its cleaned texts scored now, or, for requests logged as
    sha256 only, the probabilities logged when they were served (no texts, so no text statistics)."""
    from llmops.evaluation.predict import token_counts

    if batch["text"].isna().any():
        probs = batch[[f"prob_{lab}" for lab in clf.labels]].to_numpy(float)
        return drift.Side(texts=None, labels=labels, pred=probs.argmax(-1), conf=probs.max(-1), lengths=None)
    cleaned = [clf.clean(t) for t in batch["text"]]
    probs = clf.predict_proba(cleaned)
    return drift.Side(
        texts=cleaned,
        labels=labels,
        pred=probs.argmax(-1),
        conf=probs.max(-1),
        lengths=token_counts(clf.tokenizer, cleaned),
    )


def check(batch: pd.DataFrame, name: str, labeled: bool, model_dir: Path, data_dir: Path, s: Settings):
    """(verdict dict, the batch sample, its confidences) for a batch read by read_batch or
    from_requests; `name` is what the verdict calls it."""
    from llmops.evaluation.predict import TextClassifier

    clf = TextClassifier(model_dir)
    rng = np.random.default_rng(s.seed)
    sample = batch.iloc[np.sort(rng.permutation(len(batch))[: s.n])].reset_index(drop=True)
    n = len(sample)
    train, val = (pd.read_parquet(data_dir / f"{split}.parquet") for split in ("train", "val"))
    train = train.iloc[np.sort(rng.permutation(len(train))[: 4 * n])]
    val = val.iloc[np.sort(rng.permutation(len(val))[: 4 * n])]
    reference = _side(clf, train, train["label"].tolist())
    validation = _side(clf, val, val["label"].tolist())
    side = _side(clf, sample, sample["label"].tolist() if labeled else None)
    thresholds = (
        drift.calibrate(
            reference, validation, classes=clf.labels, n=n, max_length=clf.max_length, seed=s.seed, labeled=labeled
        )
        if n >= s.min_n
        else dict(drift.FLOORS)
    )
    predicted = validation.take(np.arange(min(n, len(val.index))))
    result = drift.statistics(reference, predicted, side, classes=clf.labels, max_length=clf.max_length, seed=s.seed)
    values = result["values"]
    n_labels = n if labeled else 0
    decision = drift.verdict(
        values, thresholds, n=n, n_labels=n_labels, settings={"min_n": s.min_n, "min_labels": s.min_labels}
    )
    verdict = {
        "schema_version": drift.SCHEMA_VERSION,
        "batch": name,
        "rows": len(batch),
        "n": n,
        "labeled": labeled,
        "texts": side.texts is not None,
        "seed": s.seed,
        "model_weights_sha256": drift.weights_sha(model_dir),
        **{k: decision[k] for k in ("status", "kind", "action")},
        "statistics": {
            k: {"value": values[k], "threshold": thresholds[k], "floor": drift.FLOORS[k], "over": k in decision["over"]}
            for k in sorted(values)
        },
        "words_batch": result["batch_words"],
        "words_reference": result["reference_words"],
    }
    if "text_sha256" in sample:  # what the report and the label sample can show of a hashed request
        sample = sample.assign(text=sample["text"].fillna("sha256:" + sample["text_sha256"]))
    return drift.rounded(verdict), sample, side.conf


def write(out: Path, verdict: dict, sample: pd.DataFrame, conf: np.ndarray, s: Settings) -> None:
    """verdict.json, report.html and, when the action is label-sample, label_sample.csv: written
    into a temporary folder that replaces `out` whole."""
    from llmops.io import atomic_dir
    from llmops.monitoring.report import html

    with atomic_dir(out) as tmp:
        (tmp / "verdict.json").write_text(json.dumps(verdict, indent=2, sort_keys=True) + "\n")
        (tmp / "report.html").write_text(html(verdict, sample, conf))
        if verdict["action"] == "label-sample":
            drift.label_sample(sample, conf, k=s.label_sample, seed=s.seed).to_csv(
                tmp / "label_sample.csv", index=False
            )


def summary_line(verdict: dict, out: Path) -> str:
    over = [k for k, v in verdict["statistics"].items() if v["over"]]
    auc = verdict["statistics"].get("domain_auc")
    return (
        f"drift: {verdict['batch']}: {verdict['status']} (kind {verdict['kind']}, action {verdict['action']}; "
        f"n {verdict['n']}, "
        + (f"domain AUC {auc['value']:.3f} vs {auc['threshold']:.3f}" if auc else "no texts logged: predictions only")
        + (f"; over: {', '.join(over)}" if over else "")
        + f") -> {out}/"
    )
