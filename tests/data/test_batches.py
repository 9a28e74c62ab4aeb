"""data.labeled.batches: labeled files appended to the labeled source at ingest, only from
data/batches/ (the folder DVC watches), each one recorded with its own sha256."""

import pandas as pd
import pytest
from omegaconf import OmegaConf

from llmops.data import sources
from llmops.data.errors import DataSourceError

LAB = OmegaConf.create({"text_column": "text", "label_column": "sentiment", "split_column": None, "format": "csv"})


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/batches").mkdir(parents=True)
    pd.DataFrame({"text": ["a good day", "a bad day"], "sentiment": ["positive", "negative"]}).to_csv(
        "main.csv", index=False
    )
    return tmp_path


def test_batches_are_appended_after_the_source_with_their_own_records(workspace):
    pd.DataFrame({"sentiment": ["neutral"], "text": ["a day"]}).to_json(
        "data/batches/w48.jsonl", orient="records", lines=True
    )
    pd.DataFrame({"text": ["b1", "b2"], "sentiment": ["negative", "positive"]}).to_parquet("data/batches/w49.parquet")
    out = workspace / "labeled.parquet"
    sources.write_labeled(workspace / "main.csv", LAB, out)
    records = sources.write_batches(["data/batches/w48.jsonl", "data/batches/w49.parquet"], LAB, out)
    got = pd.read_parquet(out)
    assert got["text"].tolist() == ["a good day", "a bad day", "a day", "b1", "b2"]
    assert got["source"].tolist() == ["main.csv"] * 2 + ["w48.jsonl", "w49.parquet", "w49.parquet"]
    assert [(r["role"], r["file"], r["rows"]) for r in records] == [
        ("labeled-batch", "w48.jsonl", 1),
        ("labeled-batch", "w49.parquet", 2),
    ]
    assert sorted(p.name for p in workspace.iterdir() if p.suffix == ".parquet") == ["labeled.parquet"]


def test_no_batches_leave_the_source_untouched(workspace):
    out = workspace / "labeled.parquet"
    sources.write_labeled(workspace / "main.csv", LAB, out)
    before = out.read_bytes()
    assert sources.write_batches([], LAB, out) == [] and out.read_bytes() == before


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("main.csv", "main.csv is outside data/batches/, the folder DVC watches"),
        ("data/batches/missing.csv", "data/batches/missing.csv: no such file"),
        ("data/batches/bad.csv", "label column 'sentiment' not found"),
    ],
)
def test_a_bad_batch_is_one_line_naming_it(workspace, entry, message):
    (workspace / "data/batches/bad.csv").write_text("text,label\nhi,positive\n")
    out = workspace / "labeled.parquet"
    sources.write_labeled(workspace / "main.csv", LAB, out)
    with pytest.raises(DataSourceError, match=message):
        sources.write_batches([entry], LAB, out)
