"""The gate, through the validate stage's entry point, on crafted raw data."""

import json
import shutil

import pandas as pd

from llmops.config import write_params

from ..conftest import ROOT, run


def _workspace(tmp_path, labeled: pd.DataFrame):
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    write_params(["experiment=ci"], tmp_path / "params.yaml", tmp_path / "conf")
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    labeled.to_parquet(raw / "labeled.parquet", index=False)
    pd.DataFrame({"text": ["A document about cars."] * 3, "source": "wikipedia"}).to_parquet(raw / "corpus.parquet")
    (raw / "manifest.json").write_text(json.dumps({"sources": [{"role": "labeled", "file": "tweets.csv"}]}))
    return tmp_path


def _labeled(n: int = 200, labels=("negative", "neutral", "positive")) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [f"tweet number {i} about driverless cars" for i in range(n)],
            "label": [labels[i % len(labels)] for i in range(n)],
            "source": "tweets.csv",
        }
    )


def test_clean_data_passes_the_gate(tmp_path):
    ws = _workspace(tmp_path, _labeled())
    proc = run(["python", "-m", "llmops.stages.validate"], cwd=ws)
    assert "all critical expectations met" in proc.stdout
    assert (ws / "data/validated/labeled.parquet").exists()
    assert (ws / "reports/validation/data_docs/index.html").exists()
    assert "raw_labeled (tweets.csv): passed" in (ws / "reports/validation/summary.md").read_text()


def test_unknown_label_stops_the_pipeline_naming_expectation_column_and_rows(tmp_path):
    df = _labeled()
    df.loc[17, "label"] = "furious"
    ws = _workspace(tmp_path, df)
    proc = run(["python", "-m", "llmops.stages.validate"], cwd=ws, check=False)
    assert proc.returncode == 1
    assert "tweets.csv" in proc.stderr
    assert "expect_column_values_to_be_in_set, column 'label'" in proc.stderr
    assert "example rows [17]" in proc.stderr and "furious" in proc.stderr
    assert not (ws / "data/validated").exists(), "nothing downstream may see data that failed the gate"
    summary = (ws / "reports/validation/summary.md").read_text()
    assert "FAILED" in summary and "expect_column_values_to_be_in_set" in summary
    json.loads((ws / "reports/validation/raw_labeled.json").read_text())


def test_single_class_is_critical(tmp_path):
    ws = _workspace(tmp_path, _labeled(labels=("positive",)))
    proc = run(["python", "-m", "llmops.stages.validate"], cwd=ws, check=False)
    assert proc.returncode == 1 and "expect_column_unique_value_count_to_be_between" in proc.stderr
