"""The datatrove corpus pipeline on a small corpus planted with one case of every exclusion: each
lands in its step's exclusion folder with its reason, the output does not depend on the number of
workers, and a run stopped after some passes resumes from datatrove's completion markers."""

import json
import random
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from llmops.cluster import ClusterUnavailable
from llmops.corpus import pipeline
from llmops.data.cleaning import clean_text
from llmops.stages.prepare_corpus import DOCS_PER_WORKER, _HoldOut, summarize, usable_workers

WORDS = [
    f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ro", "su", "ti") for b in ("ba", "de", "fo", "gu", "hi", "ja")
]
PREP = {
    "min_chars": 20,
    "max_chars": 5000,
    "repetition_min_words": 50,
    "decontaminate_ngram": 8,
    "near_dup_threshold": 0.92,
    "minhash": {"n_grams": 5, "num_buckets": 10, "hashes_per_bucket": 8},
}


def _doc(i: int) -> str:
    rng = random.Random(i)
    return f"document {i} talks about " + " ".join(rng.choice(WORDS) for _ in range(30))


def _similar(i: int) -> str:
    """Document i with its 11th word reversed: character 5-gram Jaccard 0.89, close but under 0.92."""
    words = _doc(i).split()
    return " ".join([*words[:10], words[10][::-1], *words[11:]])


@pytest.fixture
def planted(tmp_path):
    docs = [_doc(i) for i in range(120)]
    held_out = "the secret evaluation sentence that must never be seen in pre training data at all"
    docs += [
        "too short",  # length
        " ".join(["buy now"] * 40),  # repetition (60+ words, one 2-gram)
        f"intro words then {held_out} and more",  # decontamination: an 8-word run of a test text
        docs[3],  # exact duplicate
        docs[5].replace("document 5", "document 5b"),  # near duplicate (Jaccard 0.94)
        _similar(8),  # similar, not near: MinHash proposes the pair, the exact check keeps both
    ]
    corpus = tmp_path / "corpus.parquet"
    pd.DataFrame({"text": docs, "source": "web"}).to_parquet(corpus, row_group_size=30)
    pd.DataFrame({"text": ["a labeled train text about pi and rho"], "label": "x"}).to_parquet(
        tmp_path / "train.parquet"
    )
    pd.DataFrame({"text": [held_out], "label": "x"}).to_parquet(tmp_path / "test.parquet")
    return tmp_path


def _job(base: Path, work: str, workers: int, tasks: int = 3) -> pipeline.Job:
    return pipeline.Job(
        inputs=[(str(base / "corpus.parquet"), None), (str(base / "train.parquet"), "labeled_train")],
        held_out=[str(base / "test.parquet")],
        work=base / work,
        prep=PREP,
        clean=clean_text,
        is_val=_HoldOut(0.1, 7),
        tasks=tasks,
        workers=workers,
    )


def _excluded(out: Path, step: str) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "excluded" / step).glob("*.jsonl")) for line in open(f)]


def test_every_planted_document_is_excluded_by_its_step_with_its_reason(planted):
    stats = summarize(pipeline.run(_job(planted, "w", workers=1)))
    out = planted / "w" / "out"
    assert [d["text"] for d in _excluded(out, "length")] == ["too short"]
    assert _excluded(out, "length")[0]["metadata"]["filter_reason"] == "too_short"
    assert [d["metadata"]["filter_reason"] for d in _excluded(out, "repetition")] == ["top_2_gram"]
    assert [d["metadata"]["filter_reason"] for d in _excluded(out, "decontamination")] == ["held_out_8gram"]
    assert [d["text"] for d in _excluded(out, "exact_duplicate")] == [_doc(3)]
    assert [d["text"] for d in _excluded(out, "near_duplicate")] == [_doc(5).replace("document 5", "document 5b")]
    assert stats["near_dup_pairs"] == 1 < stats["near_dup_candidate_pairs"]  # proposed, checked, kept
    assert stats["documents_in"] == 127
    assert stats["train_documents"] + stats["val_documents"] == 127 - 5
    kept = pd.concat([pd.read_parquet(out / s) for s in ("train", "val")])
    assert "labeled_train" in set(kept["source"]) and kept["text"].is_unique
    assert {_doc(8), _similar(8)} <= set(kept["text"])


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_workers_change_no_output_byte_and_tasks_fix_the_shards(planted):
    pipeline.run(_job(planted, "one", workers=1))
    pipeline.run(_job(planted, "two", workers=2))
    one, two = _files(planted / "one" / "out"), _files(planted / "two" / "out")
    assert one == two
    assert sorted(p for p in one if p.startswith("train/")) == [f"train/{r:05d}.parquet" for r in range(3)]


def test_a_run_stopped_after_some_passes_resumes_where_it_stopped(planted):
    job = _job(planted, "w", workers=1)
    fresh = _files_after(job, planted / "fresh")
    first = pipeline.passes(job)[:2]
    for name, steps, tasks in first:  # the filter and exact_find passes finish, then the stage is "killed"
        pipeline.LocalPipelineExecutor(steps, tasks=tasks, workers=1, logging_dir=str(job.work / "logs" / name)).run()
    done = sorted(p.name for p in (job.work / "logs" / "filter" / "completions").iterdir())
    assert done == ["00000", "00001", "00002"]
    (job.work / "filtered" / "00001.parquet").write_bytes(b"not read again")  # a completed task is skipped
    with pytest.raises(pa.ArrowInvalid):
        pipeline.run(job)  # the next pass reads the shard it finds, proving the first was not redone
    shutil.rmtree(job.work)
    assert _files_after(job, planted / "again") == fresh


def _files_after(job: pipeline.Job, copy: Path) -> dict[str, bytes]:
    pipeline.run(job)
    shutil.copytree(job.work / "out", copy)
    shutil.rmtree(job.work)
    return _files(copy)


def test_the_prepared_corpus_gate_reports_every_exclusion_share_and_refuses_a_lost_document(
    planted, monkeypatch, capsys
):
    from omegaconf import OmegaConf

    from llmops.stages.prepare_corpus import REPORT, gate_result

    job = _job(planted, "w", workers=1)
    stats = summarize(pipeline.run(job))
    params = OmegaConf.create({"data": {"corpus_prep": PREP, "validation": {"max_encoding_damage_share": 0.25}}})
    monkeypatch.chdir(planted)
    assert gate_result(job, stats, params)
    summary = (REPORT / "summary.md").read_text()
    assert "| excluded: decontaminate | 1 | 0.79% |" in summary  # 1 of 126
    assert "## prepared_corpus" in summary and (REPORT / "data_docs" / "index.html").exists()
    lost = {**stats, "documents_in": stats["documents_in"] + 1}  # a document neither kept nor excluded
    assert not gate_result(job, lost, params)
    assert "every input document is either kept or excluded with a reason" in capsys.readouterr().err


@pytest.mark.slow
def test_a_two_node_ray_cluster_makes_the_shards_one_local_worker_makes(planted, two_node_ray):
    """data.executor.kind=ray: the same output bytes (so the same dedup decisions and token counts)
    as `local` with 1 worker, and the task logs name both nodes."""
    import dataclasses
    import re

    stats_local = summarize(pipeline.run(_job(planted, "local", workers=1)))
    ray_job = dataclasses.replace(_job(planted, "ray", workers=2), kind="ray", address=two_node_ray)
    stats_ray = summarize(pipeline.run(ray_job))
    assert stats_ray == stats_local
    assert _files(planted / "ray" / "out") == _files(planted / "local" / "out")
    logs = "".join(p.read_text() for p in (planted / "ray" / "logs").rglob("*.log"))
    assert len(set(re.findall(r"ray node ([0-9a-f]+)", logs))) == 2, "tasks ran on both nodes"


def test_a_ray_address_that_does_not_answer_is_one_line_within_seconds(planted):
    import dataclasses
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    job = dataclasses.replace(_job(planted, "w", workers=1), kind="ray", address=f"127.0.0.1:{port}")
    with pytest.raises(ClusterUnavailable, match=rf"data.executor.address=127.0.0.1:{port}: no Ray cluster"):
        pipeline.run(job)
    assert not (planted / "w" / "out").exists()


def test_auto_tasks_follow_the_input_documents_from_the_parquet_footers(planted):
    inputs = [str(planted / "corpus.parquet"), str(planted / "train.parquet")]  # 126 + 1 documents
    assert pipeline.task_count("auto", inputs, docs_per_task=1000) == pipeline.MIN_TASKS  # the floor
    assert pipeline.task_count("auto", inputs, docs_per_task=20) == 7  # ceil(127 / 20)
    assert pipeline.task_count("auto", inputs, docs_per_task=127) == pipeline.MIN_TASKS
    assert pipeline.task_count(3, inputs, docs_per_task=20) == 3  # a number is kept as given


def test_auto_workers_start_one_process_for_a_small_corpus_and_at_most_the_usable_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2})
    assert usable_workers("auto", documents=1_468) == 1  # the ci corpus: process start-up would cost more
    assert usable_workers("auto", documents=2 * DOCS_PER_WORKER) == 2
    assert usable_workers("auto", documents=1_000_000) == 3  # the cores this process may run on
    assert usable_workers(2, documents=10) == 2 and usable_workers(0, documents=10) == 1  # a number is kept
