"""The gate's report on clean data, through the validate stage's entry point."""

import json
import shutil

import pandas as pd

from llmops.config import write_params

from ..conftest import ROOT, run


def test_clean_data_passes_the_gate_with_a_readable_report(tmp_path):
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copy2(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")  # each stage reads its declared params from it
    write_params(["experiment=ci"], tmp_path / "params.yaml", tmp_path / "conf")
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    labels = ("negative", "neutral", "positive")
    pd.DataFrame(
        {
            "row": range(1, 201),
            "text": [f"tweet number {i} about driverless cars" for i in range(200)],
            "label": [labels[i % 3] for i in range(200)],
            "split": None,
            "source": "tweets.csv",
        }
    ).to_parquet(raw / "labeled.parquet", index=False)
    pd.DataFrame({"text": ["A document about cars."] * 3, "source": "wikipedia"}).to_parquet(raw / "corpus.parquet")
    (raw / "manifest.json").write_text(json.dumps({"sources": [{"role": "labeled", "file": "tweets.csv"}]}))

    proc = run(["python", "-m", "llmops.stages.validate"], cwd=tmp_path)
    assert "all critical expectations met" in proc.stdout and "0 rows quarantined" in proc.stdout
    assert len(pd.read_parquet(tmp_path / "data/validated/labeled.parquet")) == 200
    assert len(pd.read_parquet(tmp_path / "data/validated/rejected.parquet")) == 0
    assert (tmp_path / "reports/validation/data_docs/index.html").exists()
    summary = (tmp_path / "reports/validation/summary.md").read_text()
    assert "raw_labeled (tweets.csv): passed" in summary and "Quarantined rows:** 0" in summary
    result = json.loads((tmp_path / "reports/validation/raw_labeled.json").read_text())
    assert result["success"] and result["statistics"]["evaluated_expectations"] >= 12
