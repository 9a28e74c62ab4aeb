"""ingest: read the labeled data and the unlabeled corpus -> data/raw/ (parquet + manifest).

Sources by configuration only: `data=default` (embedded tweets + Wikipedia), `data=files` (your
CSV/TSV/JSONL/Parquet file and extra corpus paths) or `data=hf` (a HF `datasets` split)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from llmops.config import load_stage_params
from llmops.corpus import sources as corpus_sources
from llmops.data import sources
from llmops.data.split import stratified_subsample
from llmops.io import atomic_dir, write_json
from llmops.stages.runner import StageError, run_stage
from llmops.tracking.runs import log_stage_run

OUT = Path("data/raw")


def main() -> int:
    params = load_stage_params("ingest")
    data, seed = params.data, int(params.seed)
    try:
        with atomic_dir(OUT) as tmp:  # on any error nothing is left behind for DVC to cache
            labeled_info, batch_info, corpus_info = _read_sources(data, tmp)
            labeled = _subsample(
                tmp / "labeled.parquet", data.subsample, lambda df, n: stratified_subsample(df, n, seed)
            )
            n_corpus = _subsample(
                tmp / "corpus.parquet",
                data.corpus_subsample,
                lambda df, n: df.sample(n=n, random_state=seed).sort_index(),
            )
            manifest = {
                "sources": [labeled_info, *batch_info, *corpus_info],
                "labeled_rows": labeled,
                "corpus_rows": n_corpus,
            }
            write_json(tmp / "manifest.json", manifest)
    except sources.DataSourceError as e:
        raise StageError(str(e)) from None
    log_stage_run(
        "ingest",
        params,
        keys=["data", "seed"],
        metrics={"labeled_rows": labeled, "corpus_rows": n_corpus},
        artifacts=(OUT / "manifest.json",),
        tags=_source_tags(manifest["sources"]),
    )
    if data.source == "files":
        _warn_if_git_would_commit(Path(data.labeled.path))
    enc = ""
    if "encoding" in labeled_info:
        enc = f", read as {labeled_info['encoding']} ({labeled_info['encoding_source']})"
    more = "".join(f" + batch {b['file']} ({b['rows']} rows)" for b in batch_info)
    source = f"{_records(labeled_info)}{enc}{more}"
    print(f"ingest: {labeled} labeled rows from {source}, {n_corpus} corpus documents -> {OUT}/")
    return 0


def _source_tags(records: list[dict]) -> dict[str, str]:
    """One sha256 tag per source, up to 20; past that (a corpus of many shards) the corpus's tag is
    the digest of its shards' digests, so the run stays readable in the MLflow UI."""
    if len(records) <= 20:
        return {f"llmops.data.{s['file']}.sha256": s["sha256"] for s in records}
    import hashlib

    shards = [s for s in records if s["role"] == "corpus"]
    digest = hashlib.sha256("".join(f"{s['file']}:{s['sha256']}\n" for s in shards).encode()).hexdigest()
    tags = {f"llmops.data.{s['file']}.sha256": s["sha256"] for s in records if s["role"] != "corpus"}
    return tags | {"llmops.data.corpus.sha256": digest, "llmops.data.corpus.shards": str(len(shards))}


def _records(info: dict) -> str:
    """The file, and how its records map to its lines when some text spans several."""
    spanning = info.get("multiline_texts")
    if not spanning:
        return info["file"]
    span = f"{spanning} of them span {info['line_breaks_in_texts'] + spanning} lines"
    if info.get("lines") is None:  # Parquet: no lines to account for
        return f"{info['file']} ({span})"
    return f"{info['file']} ({info['rows']} records over {info['lines']} lines; {span})"


def _warn_if_git_would_commit(path: Path) -> None:
    """A data file inside the repository that git does not ignore ends up in git history, and
    `dvc exp run` commits it into each experiment: say how DVC takes it over instead."""
    import subprocess

    try:
        inside = path.resolve().is_relative_to(Path.cwd().resolve())
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], capture_output=True).returncode == 0
    except OSError:  # no git: nothing to warn about
        return
    if inside and not ignored:
        print(
            f"ingest: warning: {path} is not ignored by git, so `dvc exp run` would commit it into the "
            f"experiment; run `dvc add {path}` (DVC versions it, git ignores it)",
            file=sys.stderr,
        )


def _read_sources(data, tmp: Path) -> tuple[dict, list[dict], list[dict]]:
    """The manifest records of the labeled source, its batches (data.labeled.batches) and the corpus."""
    batches: list[dict] = []
    if data.source == "hf":
        if data.labeled.get("batches"):
            raise sources.DataSourceError("data.labeled.batches: batches are read with data=default or data=files")
        labeled_info = sources.write_hf_labeled(data.hf, tmp / "labeled.parquet")
    else:
        path = (
            sources.package_file(data.labeled.package, data.labeled.file)
            if data.source == "default"
            else sources.inside_workspace(Path(data.labeled.path), "data.labeled.path", data.allow_outside_paths)
        )
        labeled_info = sources.write_labeled(path, data.labeled, tmp / "labeled.parquet")
        batches = sources.write_batches(list(data.labeled.get("batches") or []), data.labeled, tmp / "labeled.parquet")
    default = (
        sources.package_file(data.corpus.package, data.corpus.file)
        if data.corpus.get("include_default", True)
        else None
    )
    paths = list(data.corpus.get("paths") or [])
    for p in paths:  # a glob's folder stands for its matches here
        sources.inside_workspace(corpus_sources.static_part(p), "data.corpus.paths", data.allow_outside_paths)
    shards = corpus_sources.resolve(paths, Path("."))
    corpus = corpus_sources.write_corpus(default, shards, out=tmp / "corpus.parquet", options=data.corpus)
    return labeled_info, batches, corpus


def _subsample(path: Path, n: int | None, sample) -> int:
    """Only the tiny test setups subsample; the full data is never loaded whole otherwise."""
    from llmops.data.corpus import count_rows

    rows = count_rows(path)
    if not n or n >= rows:
        return rows
    df = sample(pd.read_parquet(path), int(n))
    df.to_parquet(path, index=False)
    return len(df)


if __name__ == "__main__":
    run_stage(main)
