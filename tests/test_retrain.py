"""The pieces of `llmops retrain --if-drift` that need no pipeline: which batches are pending, and
the override that lists a new one (the whole flow: tests/integration/test_retrain.py)."""

from llmops.retrain import pending_batches, with_batch


def test_pending_batches_are_the_unlisted_files_or_pointers_under_data_batches(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert pending_batches([]) == []
    folder = tmp_path / "data/batches"
    folder.mkdir(parents=True)
    for name in ("README.md", ".gitignore", "w47.csv", "w47.csv.dvc", "w48.jsonl.dvc", "w49.parquet"):
        (folder / name).write_text("")
    assert pending_batches([]) == ["data/batches/w47.csv", "data/batches/w48.jsonl", "data/batches/w49.parquet"]
    assert pending_batches(["data/batches/w47.csv", "./data/batches/w49.parquet"]) == ["data/batches/w48.jsonl"]


def test_the_batch_override_replaces_an_earlier_one_and_lists_each_batch_once():
    earlier = ["experiment=ci", "data.labeled.batches=['data/batches/a.csv']"]
    got = with_batch(earlier, ["data/batches/a.csv"], "data/batches/b.csv")
    assert got == ["experiment=ci", "data.labeled.batches=['data/batches/a.csv','data/batches/b.csv']"]
    assert with_batch(got, ["data/batches/a.csv", "data/batches/b.csv"], "data/batches/b.csv") == got
