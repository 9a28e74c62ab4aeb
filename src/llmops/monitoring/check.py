"""`llmops drift BATCH`: read a batch, clean it the way the training data was cleaned, score it
with the workspace's classifier, compare it with the workspace's reference, write verdict.json,
report.html (and label_sample.csv when labels are needed) into one folder, all or nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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


def stored_settings(stored: Path, **given: int | None) -> Settings:
    """The drift_reference stage's settings (monitoring.* when it ran), else the defaults above;
    each `given` value that is not None wins (a command-line flag)."""
    path = stored / "reference.json"
    base = json.loads(path.read_text())["settings"] if path.is_file() else {}
    known = {k: v for k, v in base.items() if k in Settings.__dataclass_fields__}
    return Settings(**{**known, **{k: v for k, v in given.items() if v is not None}})


def model_labels(model_dir: Path) -> list[str]:
    """The classifier's labels in class-id order, from its config.json (no model loaded)."""
    id2label = json.loads((Path(model_dir) / "config.json").read_text())["id2label"]
    return [id2label[k] for k in sorted(id2label, key=int)]


def read_batch(
    path: Path, text_column: str, label_column: str | None, labels: list[str], encoding: str = "auto"
) -> pd.DataFrame:
    """The batch's text (and label) columns; a user error is one StageError naming the file, the
    column or the row. `encoding` means what `data.labeled.encoding` means: auto detects it, and a
    named Latin-1 also gets preprocess's repair of UTF-8 read as Latin-1 (`repair_latin1`). The
    model's own cleaner does not carry that step (a served text is already a string), so a batch
    drawn from a Latin-1 source, read with --encoding latin-1, reaches the cleaner as its training
    texts did and the difference never counts as drift."""
    from llmops.data.cleaning import repair_latin1
    from llmops.data.encoding import bom_encoding, is_latin1
    from llmops.data.errors import DataSourceError
    from llmops.data.sources import iter_table

    if not path.is_file():
        raise StageError(f"{path}: no such file")
    if is_latin1(encoding) and bom_encoding(path):  # a byte-order mark names the encoding itself
        encoding = "auto"
    repair = is_latin1(encoding)
    try:
        df = pd.concat(list(iter_table(path, encoding=encoding)), ignore_index=True)
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
    if repair:
        out["text"] = out["text"].map(repair_latin1)
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


def language_model(model_dir: Path):
    """The pre-trained LM beside the classifier (models/pretrained, written by the pretrain stage)
    and its weights' sha256, or (None, None) where there is none."""
    from llmops.models.signals import LanguageModel

    lm_dir = Path(model_dir).parent / "pretrained"
    if not (lm_dir / "config.json").is_file():
        return None, None
    return LanguageModel(lm_dir), drift.weights_sha(lm_dir)


def _side(clf, batch: pd.DataFrame, labels: list[str] | None, lm=None) -> drift.Side:
    """The model's view of a sample: its cleaned texts scored now (and their NLL under the LM,
    when given), or, for requests logged as sha256 only, the probabilities logged when they were
    served (no texts, so no text statistics)."""
    from llmops.models.inputs import encode_texts, token_counts
    from llmops.models.signals import pooled_embeddings

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
        lengths=token_counts(clf.tokenizer, cleaned, clf.template),
        nll=lm.mean_nll(cleaned) if lm is not None else None,
        emb=pooled_embeddings(
            clf.model,
            encode_texts(clf.tokenizer, cleaned, clf.max_length, template=clf.template, truncation=clf.truncation),
            pad_id=clf.tokenizer.pad_token_id,
        ),
    )


@dataclass
class Reference:
    """What a batch is compared with: the model's view of a train sample (texts and labels) and of
    a validation sample (its predictions on texts it never trained on), drawn for batches of up to
    n rows, and the thresholds calibrated at n ("labeled", "unlabeled"), when they were."""

    reference: drift.Side
    validation: drift.Side
    classes: list[str]
    max_length: int
    n: int
    seed: int
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)

    def calibrate(self, n: int, labeled: bool) -> dict[str, float]:
        return drift.calibrate(
            self.reference,
            self.validation,
            classes=self.classes,
            n=n,
            max_length=self.max_length,
            seed=self.seed,
            labeled=labeled,
        )


def build_reference(clf, data_dir: Path, n: int, seed: int, calibrated: bool = True, lm=None) -> Reference:
    """Score 4n seeded train and validation rows (all of a smaller split; their NLL under `lm`
    too) and, when `calibrated`, calibrate the thresholds for batches of n, labeled or not."""
    rng = np.random.default_rng(seed)
    train, val = (pd.read_parquet(data_dir / f"{split}.parquet") for split in ("train", "val"))
    train = train.iloc[np.sort(rng.permutation(len(train))[: 4 * n])]
    val = val.iloc[np.sort(rng.permutation(len(val))[: 4 * n])]
    sides = (_side(clf, split, split["label"].tolist(), lm=lm) for split in (train, val))
    ref = Reference(*sides, classes=clf.labels, max_length=clf.max_length, n=n, seed=seed)
    if calibrated:
        ref.thresholds = {kind: ref.calibrate(n, labeled=kind == "labeled") for kind in ("labeled", "unlabeled")}
    return ref


def save_reference(ref: Reference, folder: Path, weights: dict[str, str | None], settings: dict) -> dict:
    """reference.parquet, validation.parquet and reference.json (the settings, thresholds, the
    classifier's and the LM's weights (`weights`: {"model": sha256, "lm": sha256 or None}) and a
    summary of the reference) into `folder`; returns the JSON's content."""
    for name, side in (("reference", ref.reference), ("validation", ref.validation)):
        columns = {"text": side.texts, "label": side.labels, "pred": side.pred, "conf": side.conf}
        table = pd.DataFrame({**columns, "length": side.lengths, **({"nll": side.nll} if side.nll is not None else {})})
        table.to_parquet(folder / f"{name}.parquet", index=False)
        np.save(folder / f"{name}_embeddings.npy", side.emb)
    val, train = ref.validation, ref.reference
    summary = {
        "label_shares": {c: float(np.mean(np.asarray(train.labels) == c)) for c in ref.classes},
        "predicted_shares_validation": {c: float(np.mean(val.pred == i)) for i, c in enumerate(ref.classes)},
        "confidence_validation_quartiles": [float(q) for q in np.percentile(val.conf, [25, 50, 75])],
        "tokens_quartiles": [float(q) for q in np.percentile(train.lengths, [25, 50, 75])],
        "tokens_per_word": float(train.lengths.sum() / max(1, sum(len(t.split()) for t in train.texts))),
        "truncation_share": float(np.mean(train.lengths > ref.max_length)),
        "lm_nll_per_token_mean": float(train.nll.mean()) if train.nll is not None else None,
    }
    content = {
        "schema_version": drift.SCHEMA_VERSION,
        "model_weights_sha256": weights["model"],
        "lm_weights_sha256": weights["lm"],
        "settings": settings,
        "rows": {"reference": len(train.pred), "validation": len(val.pred)},
        "thresholds": ref.thresholds,
        "floors": dict(drift.FLOORS),
        "summary": summary,
    }
    (folder / "reference.json").write_text(json.dumps(drift.rounded(content), indent=2, sort_keys=True) + "\n")
    return content


def load_reference(folder: Path, clf, weights: dict[str, str | None], seed: int) -> tuple[Reference, dict] | None:
    """The stored reference and its settings, when `folder` holds one built for these weights
    (the classifier's and the LM's) and this seed; else None."""
    path = folder / "reference.json"
    if not path.is_file():
        return None
    meta = json.loads(path.read_text())
    built_for = {"model": meta["model_weights_sha256"], "lm": meta.get("lm_weights_sha256")}
    complete = all((folder / f"{name}_embeddings.npy").is_file() for name in ("reference", "validation"))
    if built_for != weights or meta["settings"]["seed"] != seed or not complete:
        return None
    sides = []
    for name in ("reference", "validation"):
        t = pd.read_parquet(folder / f"{name}.parquet")
        columns = t["text"].tolist(), t["label"].tolist(), t["pred"].to_numpy(), t["conf"].to_numpy()
        nll = t["nll"].to_numpy() if "nll" in t else None
        emb = np.load(folder / f"{name}_embeddings.npy")
        sides.append(drift.Side(*columns, lengths=t["length"].to_numpy(), nll=nll, emb=emb))
    n, thresholds = int(meta["settings"]["n"]), meta["thresholds"]
    ref = Reference(*sides, classes=clf.labels, max_length=clf.max_length, n=n, seed=seed, thresholds=thresholds)
    return ref, meta["settings"]


def _thresholds(ref: Reference, n: int, labeled: bool, min_n: int) -> dict[str, float]:
    """The stored thresholds at n, calibrated on the reference at another n, the floors below min_n."""
    kind = "labeled" if labeled else "unlabeled"
    if n < min_n:
        return dict(drift.FLOORS)
    if ref.n == n and kind in ref.thresholds:
        return ref.thresholds[kind]
    return ref.calibrate(n, labeled=labeled)


def check(
    batch: pd.DataFrame,
    name: str,
    labeled: bool,
    model_dir: Path,
    data_dir: Path,
    s: Settings,
    stored: Path | None = None,
):
    """(verdict dict, the batch sample, its confidences) for a batch read by read_batch or
    from_requests; `name` is what the verdict calls it. `stored`: the drift_reference stage's
    folder, used when it was built for this model and seed (else the reference is built here)."""
    from llmops.evaluation.predict import TextClassifier

    clf = TextClassifier(model_dir)
    lm, lm_sha = language_model(model_dir)
    weights = {"model": drift.weights_sha(model_dir), "lm": lm_sha}
    rng = np.random.default_rng(s.seed)
    sample = batch.iloc[np.sort(rng.permutation(len(batch))[: s.n])].reset_index(drop=True)
    n = len(sample)
    found = load_reference(stored, clf, weights, seed=s.seed) if stored else None
    if found and n <= found[0].n:
        ref = found[0]
    else:
        ref = build_reference(clf, data_dir, n=n, seed=s.seed, calibrated=False, lm=lm)
    side = _side(clf, sample, sample["label"].tolist() if labeled else None, lm=lm)
    thresholds = _thresholds(ref, n=n, labeled=labeled, min_n=s.min_n)
    predicted = ref.validation.take(np.arange(min(n, len(ref.validation.pred))))
    result = drift.statistics(
        ref.reference, predicted, side, classes=clf.labels, max_length=clf.max_length, seed=s.seed
    )
    values = result["values"]
    decision = drift.verdict(
        values, thresholds, n=n, n_labels=n if labeled else 0, settings={"min_n": s.min_n, "min_labels": s.min_labels}
    )
    verdict = {
        "schema_version": drift.SCHEMA_VERSION,
        "batch": name,
        "rows": len(batch),
        "n": n,
        "labeled": labeled,
        "texts": side.texts is not None,
        "seed": s.seed,
        "model_weights_sha256": weights["model"],
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
