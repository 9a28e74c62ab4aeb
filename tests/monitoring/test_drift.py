"""`llmops drift`: the statistics on their own, then the command on the ci pipeline's model and
reference (the workspace is only read; every verdict goes to the test's temp folder)."""

import json

import numpy as np
import pandas as pd
import pytest

from llmops.monitoring import drift, stats

CLASSES = ["negative", "neutral", "positive"]


def test_the_statistics_measure_what_they_say():
    assert stats.js_distance(["a", "b"] * 50, ["b", "a"] * 50, ["a", "b"]) == 0
    assert stats.js_distance(["a"] * 10, ["b"] * 10, ["a", "b"]) == pytest.approx(1)
    assert stats.ks([0.1, 0.2, 0.3], [0.7, 0.8, 0.9]) == 1
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(200)]
    same = lambda n: [" ".join(rng.choice(words, 8)) for _ in range(n)]  # noqa: E731
    assert stats.domain_classifier(same(200), same(200), seed=0)[0] < 0.62
    other = [" ".join(rng.choice(["lava", "rock", "magma", "crater"], 8)) for _ in range(200)]
    auc, batch_words, _ = stats.domain_classifier(same(200), other, seed=0)
    assert auc > 0.95 and set(batch_words[:4]) <= {"lava", "rock", "magma", "crater"}
    here, there = rng.normal(0, 1, (200, 8)), rng.normal(0, 1, (200, 8))
    assert stats.embedding_classifier(here, there, seed=0) < 0.62
    assert stats.embedding_classifier(here, there + 1.5, seed=0) > 0.95
    rows = stats.match_priors(["a"] * 500 + ["b"] * 500, ["a"] * 70 + ["b"] * 30, n=100, seed=0)
    picked = np.array(["a"] * 500 + ["b"] * 500)[rows]
    assert len(rows) == 100 and (picked == "a").sum() == 70


def test_a_batch_read_as_latin1_reaches_the_models_cleaner_as_the_training_texts_did(tmp_path):
    """The model's cleaner has no Latin-1 repair (a served text is already a string), so
    `--encoding latin-1` repairs at read time, as preprocess does for a source named Latin-1."""
    from llmops.data.cleaning import clean_text
    from llmops.monitoring.check import read_batch

    texts = ["I’ve flown to the café".encode(), b"I don\xd5\xa2_\x8a\xce_\x86\xa2t want either"]
    path = tmp_path / "batch.csv"
    path.write_bytes(b"text\n" + b"\n".join(texts) + b"\n")
    trained = [clean_text(t.decode("latin-1"), latin1_source=True) for t in texts]  # preprocess's view
    read = read_batch(path, "text", None, labels=[], encoding="latin-1")["text"]
    assert [clean_text(t) for t in read] == trained == ["I've flown to the café", "I don't want either"]
    detected = read_batch(path, "text", None, labels=[])["text"]  # auto: no repair
    assert [clean_text(t) for t in detected] != trained
    bom = tmp_path / "bom.csv"  # a byte-order mark names the encoding itself: UTF-8, nothing to repair
    bom.write_bytes(b"\xef\xbb\xbftext\n" + texts[0] + b"\n")
    assert read_batch(bom, "text", None, labels=[], encoding="latin-1")["text"].tolist() == ["I’ve flown to the café"]


def test_the_nll_ratio_compares_the_lm_surprise_with_class_matched_train_texts():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(50)]
    texts = [" ".join(rng.choice(words, 6)) for _ in range(400)]
    labels = [CLASSES[i % 3] for i in range(400)]
    pred, conf, lengths = np.arange(400) % 3, np.full(400, 0.6), np.full(400, 8)
    reference = drift.Side(texts, labels, pred, conf, lengths, nll=np.full(400, 4.0))
    batch = reference.take(np.arange(100))
    same = drift.statistics(reference, batch, batch, classes=CLASSES, max_length=48, seed=0)["values"]
    assert same["nll_ratio"] == pytest.approx(1.0)
    batch.nll = np.full(100, 6.0)  # texts half again as surprising to the LM
    values = drift.statistics(reference, batch, batch, classes=CLASSES, max_length=48, seed=0)["values"]
    assert values["nll_ratio"] == pytest.approx(1.5)
    got = drift.verdict(values, dict(drift.FLOORS), 100, 0, {"min_n": 50, "min_labels": 200})
    assert (got["status"], got["kind"]) == ("warn", "none") and "nll_ratio" in got["over"]  # watched, for now
    assert set(drift.WATCH) == {"nll_ratio", "embedding_auc"} and not set(drift.WATCH) & set(drift.COVARIATE)
    batch.nll = None  # no LM beside the model: the statistic is left out
    assert (
        "nll_ratio" not in drift.statistics(reference, batch, batch, classes=CLASSES, max_length=48, seed=0)["values"]
    )


def test_tiny_data_gives_floors_and_no_crash():
    """A user's small labeled file makes a small validation split: the drift_reference stage must
    still run (no 5-fold split of 3 texts, no empty vocabulary)."""
    assert stats.domain_classifier(["a b", "c d"], ["e f"], seed=0) == (0.5, [], [])
    assert stats.domain_classifier(["x"] * 10, ["y"] * 10, seed=0)[0] == 0.5  # one-letter texts: no token at all
    side = drift.Side(["t one", "t two", "t three"], CLASSES, np.array([0, 1, 2]), np.full(3, 0.5), np.array([2, 2, 3]))
    assert drift.calibrate(side, side, classes=CLASSES, n=500, max_length=48, seed=0) == drift.FLOORS


@pytest.mark.parametrize(
    ("over", "n", "labels", "expected"),
    [
        ([], 500, 0, ("ok", "none", "none")),
        (["confidence_ks"], 500, 0, ("warn", "none", "none")),
        (["label_js"], 500, 500, ("drift", "prior", "retrain")),
        (["domain_auc", "label_js"], 500, 500, ("drift", "covariate", "retrain")),
        (["domain_auc"], 500, 0, ("drift", "covariate", "label-sample")),
        (["domain_auc"], 50, 0, ("insufficient", "none", "none")),
    ],
)
def test_the_verdict(over, n, labels, expected):
    values = {k: (1.0 if k in over else 0.0) for k in drift.FLOORS}
    got = drift.verdict(values, dict(drift.FLOORS), n, labels, {"min_n": 100, "min_labels": 200})
    assert (got["status"], got["kind"], got["action"]) == expected


def test_the_label_sample_spans_every_confidence_band():
    conf = np.linspace(0.34, 1.0, 1000)
    sample = drift.label_sample(pd.DataFrame({"text": [str(i) for i in range(1000)]}), conf, k=50, seed=0)
    assert len(sample) == 50 and np.histogram(sample["confidence"], bins=5, range=(0.34, 1.0))[0].tolist() == [10] * 5


def test_the_settings_come_from_the_stored_reference_and_flags_win(tmp_path):
    from llmops.monitoring.check import Settings, stored_settings

    assert stored_settings(tmp_path) == Settings()
    settings = {"n": 300, "seed": 7, "min_n": 50, "min_labels": 120, "label_sample": 60}
    (tmp_path / "reference.json").write_text(json.dumps({"settings": settings}))
    assert stored_settings(tmp_path) == Settings(**settings)
    assert stored_settings(tmp_path, n=None, min_labels=10) == Settings(**{**settings, "min_labels": 10})


def _drift(ws, tmp_path, batch, *args, track=False):
    from llmops.cli import main

    out = tmp_path / "out"
    code = main(
        [
            "drift",
            *([str(batch)] if batch else []),
            *([] if track else ["--no-track"]),
            "--out",
            str(out),
            "--model",
            str(ws / "models/classifier"),
            "--data",
            str(ws / "data/processed"),
            *args,
        ]
    )
    verdict = json.loads((out / "verdict.json").read_text()) if (out / "verdict.json").exists() else None
    return code, verdict, out


@pytest.mark.integration
def test_drift_on_the_ci_model(ci_pipeline, tmp_path, capsys):
    """The test split passes; Wikipedia summaries scored as tweets are covariate drift (AUC > 0.9);
    the test split with 70% of one class is prior drift, not covariate; 50 rows are insufficient;
    the same input gives the same bytes; a text with markup is escaped in the report."""
    ws = ci_pipeline[0]
    reference = json.loads((ws / "models/drift_reference/reference.json").read_text())  # the stage's
    assert set(reference["thresholds"]) == {"labeled", "unlabeled"} and reference["settings"]["n"] == 500
    assert "### Drift thresholds" in (ws / "reports/model_card.md").read_text()
    test = pd.read_parquet(ws / "data/processed/test.parquet")
    code, verdict, out = _drift(ws, tmp_path / "a", ws / "data/processed/test.parquet", "--label-column", "label")
    assert code == 0 and verdict["status"] in ("ok", "warn"), verdict
    first = (out / "verdict.json").read_bytes()
    code, _, out = _drift(ws, tmp_path / "b", ws / "data/processed/test.parquet", "--label-column", "label")
    assert (out / "verdict.json").read_bytes() == first

    code, verdict, _ = _drift(ws, tmp_path / "c", ws / "data/raw/corpus.parquet")
    assert code == 3 and (verdict["status"], verdict["kind"]) == ("drift", "covariate")
    assert verdict["statistics"]["domain_auc"]["value"] > 0.9

    both = pd.concat([test, pd.read_parquet(ws / "data/processed/val.parquet")])
    neg = both[both["label"] == "negative"]
    prior = pd.concat([neg, both[both["label"] != "negative"].sample(n=len(neg) * 3 // 7, random_state=0)])
    prior = prior.sample(frac=1, random_state=0).assign(
        text=lambda d: d["text"].where(d.index != d.index[0], "<script>alert(1)</script>")
    )
    prior[["text", "label"]].to_csv(tmp_path / "prior.csv", index=False)
    code, verdict, out = _drift(ws, tmp_path / "d", tmp_path / "prior.csv", "--label-column", "label")
    assert code == 3 and (verdict["kind"], verdict["action"]) == ("prior", "label-sample"), verdict
    assert (out / "label_sample.csv").exists()
    report = (out / "report.html").read_text()
    assert "<script>" not in report and "&lt;script&gt;" in report

    code, verdict, _ = _drift(ws, tmp_path / "e", ws / "data/processed/test.parquet", "--n", "50")
    assert code == 0 and verdict["status"] == "insufficient"


@pytest.mark.integration
def test_bad_batches_are_one_line_exit_2_and_write_nothing(ci_pipeline, tmp_path, capsys):
    ws = ci_pipeline[0]
    (tmp_path / "unknown.csv").write_text("text,sentiment\nhello,happy\n")
    (tmp_path / "empty.csv").write_text("text,sentiment\n")
    cases = [
        ("missing.csv", "no such file", []),
        ("empty.csv", "no rows with a text in column 'text'", []),
        ("unknown.csv", "no column 'label'", ["--label-column", "label"]),
        ("unknown.csv", "row 1: label 'happy' is not one the model knows", ["--label-column", "sentiment"]),
    ]
    for i, (name, message, args) in enumerate(cases):
        batch = tmp_path / name
        code, _, out = _drift(ws, tmp_path / str(i), batch, *args)
        err = capsys.readouterr().err
        assert code == 2 and message in err and str(batch) in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()


@pytest.mark.integration
def test_drift_on_the_request_log_with_texts_or_only_their_hashes(ci_pipeline, tmp_path, capsys, monkeypatch):
    """The request log of `llmops serve` as the batch: with texts, every statistic; with sha256
    only, the prediction statistics from the logged probabilities. The check is an MLflow run."""
    from mlflow.tracking import MlflowClient

    from llmops.evaluation.predict import TextClassifier
    from llmops.monitoring.requests import RequestLog

    ws = ci_pipeline[0]
    texts = pd.read_parquet(ws / "data/processed/test.parquet")["text"].tolist()
    clf = TextClassifier(ws / "models/classifier")
    probs = [dict(zip(clf.labels, p, strict=True)) for p in clf.predict_proba([clf.clean(t) for t in texts]).tolist()]
    for log_text in (True, False):
        RequestLog(tmp_path / f"log-{log_text}", model="m/1", log_text=log_text).write(texts, probs)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(uri).search_experiments()  # the store exists, as after `make repro`
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)

    code, verdict, _ = _drift(
        ws, tmp_path / "a", None, "--requests", str(tmp_path / "log-True"), "--since", "1h", track=True
    )
    assert code == 0 and verdict["status"] in ("ok", "warn") and verdict["texts"], verdict
    assert "domain_auc" in verdict["statistics"] and not verdict["labeled"]
    runs = MlflowClient(uri).search_runs([MlflowClient(uri).get_experiment_by_name("llmops-drift").experiment_id])
    assert [r.data.tags["llmops.drift_status"].split()[0] for r in runs] == [verdict["status"]]

    code, verdict, out = _drift(ws, tmp_path / "b", None, "--requests", str(tmp_path / "log-False"))
    assert code == 0 and not verdict["texts"], verdict
    assert set(verdict["statistics"]) == {"prediction_js", "confidence_ks", "confidence_drop"}
    assert "sha256:" in (out / "report.html").read_text()

    RequestLog(tmp_path / "other", model="m/9").write(["hi"], [{"yes": 0.9, "no": 0.1}])
    code, _, out = _drift(ws, tmp_path / "c", None, "--requests", str(tmp_path / "other"))
    err = capsys.readouterr().err
    assert code == 2 and "answered with labels ['no', 'yes']" in err and not out.exists(), err
