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


def test_the_corpus_is_profiled_per_shard_slice_and_a_broken_one_is_named(tmp_path):
    """No table of every corpus document: one row per row group, and the failing rule names the
    source shard and its rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from llmops.validation import gate, suites

    path = tmp_path / "corpus.parquet"
    with pq.ParquetWriter(path, pa.schema([("text", pa.string()), ("source", pa.string())])) as w:
        w.write_table(pa.table({"text": ["fine text"] * 4, "source": ["a.jsonl"] * 4}))
        w.write_table(pa.table({"text": ["x" * 50, "donÕ¢t", "ok", None], "source": ["b.jsonl"] * 4}))
    probe = suites.text_fingerprints(pd.Series(["ok", "never there"]))
    profile, found = suites.corpus_profile(path, probe=probe)
    assert profile["shard"].tolist() == ["a.jsonl rows 1-4", "b.jsonl rows 5-8"]
    assert profile["documents"].tolist() == [4, 4] and profile["missing_texts"].tolist() == [0, 1]
    assert profile["max_length"].tolist() == [9, 50] and profile["encoding_damage_share"].tolist() == [0, 0.25]
    assert found.tolist() == probe[:1].tolist()

    limits = type("V", (), {"hard_max_chars": 40, "max_encoding_damage_share": 0.2})()
    outcomes = gate.run_suites({"raw_corpus": (profile, "corpus", suites.raw_corpus(limits))}, tmp_path / "docs")
    failed = {f["why"]: list(f["rows"]) for f in outcomes[0].failures}
    assert failed["every document under the hard length cap (longer is a parse failure)"] == ["b.jsonl rows 5-8"]
    assert failed["every document has a text"] == ["b.jsonl rows 5-8"]
    assert failed["encoding damage within bounds (prepare_corpus repairs what it can)"] == ["b.jsonl rows 5-8"]
