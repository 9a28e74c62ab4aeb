"""Corpus sources: files, folders and globs of .txt, .jsonl(.gz), .parquet and .csv/.tsv(.gz)
shards, or a local Hugging Face dataset folder (`save_to_disk`), read as batches of documents.

Hand-written rather than datatrove's readers: those log a malformed JSON line or a gzip stream cut
short as a warning and go on without the rest of the file, and a corpus that silently loses a shard
is the failure this module exists to prevent. Here every such problem is one DataSourceError naming
the file, the line and the rule. Nothing is read whole: lines, Arrow batches and CSV chunks."""

from __future__ import annotations

import glob
import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from llmops import schema
from llmops.data import encoding as enc
from llmops.data.errors import DataSourceError, clip

BATCH = 10_000  # documents per batch: memory stays flat in shard size
T = TypeVar("T")
SUFFIXES = (".txt", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".parquet", ".csv", ".csv.gz", ".tsv", ".tsv.gz")
TXT_SPLITS = ("blank_line", "line")


def shard_kind(path: Path) -> str | None:
    """txt | jsonl | parquet | csv | tsv for a supported shard name, else None."""
    name = path.name.lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            kind = suffix.removesuffix(".gz").lstrip(".")
            return "jsonl" if kind == "ndjson" else kind
    return None


def is_hf_dataset(path: Path) -> bool:
    """A folder written by `datasets.Dataset.save_to_disk`."""
    return path.is_dir() and (path / "state.json").is_file() and (path / "dataset_info.json").is_file()


def resolve(paths: list[str], root: Path) -> list[Path]:
    """Each entry of data.corpus.paths as the shards it names, in a stable (sorted) order: a file, a
    folder (its supported files, recursively), a glob, or a Hugging Face dataset folder. An entry
    naming no shard is an error, never 0 documents."""
    out: list[Path] = []
    for entry in paths:
        if schema.GLOB_CHARS & set(entry):
            found = sorted(Path(p) for p in glob.glob(str(root / entry), recursive=True))
            shards = [p for p in found if p.is_file() and shard_kind(p)]
            if not shards:
                raise DataSourceError(f"{entry}: the glob matches no corpus shard ({_supported()}) (data.corpus.paths)")
            out += shards
            continue
        path = root / entry
        if is_hf_dataset(path):
            out.append(path)
        elif path.is_dir():
            shards = sorted(p for p in path.rglob("*") if p.is_file() and shard_kind(p))
            if not shards:
                raise DataSourceError(f"{path}: folder holds no corpus shard ({_supported()}) (data.corpus.paths)")
            out += shards
        elif not path.exists():
            raise DataSourceError(f"{path}: corpus path not found (data.corpus.paths)")
        elif not shard_kind(path):
            raise DataSourceError(f"{path}: not a corpus shard; supported: {_supported()} (data.corpus.paths)")
        else:
            out.append(path)
    return out


def static_part(entry: str) -> Path:
    """The folder a glob searches, as a Path (the rule is the params schema's, which also checks
    that data.corpus.dep holds it)."""
    return Path(schema.static_part(entry))


def _supported() -> str:
    return ", ".join(SUFFIXES)


def iter_documents(path: Path, text_key: str = "text", txt_split: str = "blank_line") -> Iterator[list[str]]:
    """Batches of a shard's non-empty documents."""
    if is_hf_dataset(path):
        yield from _hf_dataset(path, text_key)
        return
    if path.stat().st_size == 0:
        raise DataSourceError(f"{path}: file is empty (0 bytes)")
    kind = shard_kind(path)
    if kind == "txt":
        yield from batched(_txt_documents(path, txt_split))
    elif kind == "jsonl":
        yield from batched(_jsonl_documents(path, text_key))
    elif kind == "parquet":
        yield from _parquet(path, text_key)
    else:
        yield from _csv(path, text_key, "\t" if kind == "tsv" else ",")


def batched(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    """Lists of `size` items, the last one shorter (itertools.batched is Python 3.12+)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _txt_documents(path: Path, split: str) -> Iterator[str]:
    """Documents of a plain-text file: paragraphs (split=blank_line) or lines (split=line)."""
    if split not in TXT_SPLITS:
        raise DataSourceError(f"data.corpus.txt_split={split!r}: must be one of {list(TXT_SPLITS)}")
    encoding, _ = enc.resolve(path, "auto")
    enc.check_not_binary(path, encoding)
    paragraph: list[str] = []
    with open(path, encoding=encoding) as f:
        for line in f:
            line = line.rstrip("\r\n")
            if split == "line":
                if line.strip():
                    yield line
            elif line.strip():
                paragraph.append(line)
            elif paragraph:
                yield "\n".join(paragraph)
                paragraph = []
    if paragraph:
        yield "\n".join(paragraph)


def _open_lines(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _jsonl_documents(path: Path, text_key: str) -> Iterator[str]:
    lineno = 0
    try:
        with _open_lines(path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                yield _json_text(path, lineno, line=line, text_key=text_key)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataSourceError(
            f"{path}: gzip stream broken after line {lineno} ({type(e).__name__}: {e}); the shard was cut short "
            "or is not gzip: re-copy it"
        ) from None
    except UnicodeDecodeError as e:
        raise DataSourceError(f"{path}: line {lineno + 1}: not UTF-8 ({e.reason}); JSON lines are UTF-8") from None


def _json_text(path: Path, lineno: int, line: str, text_key: str) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataSourceError(f"{path}: line {lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(record, dict):
        raise DataSourceError(f"{path}: line {lineno}: a JSON object is expected on each line, got {clip(record, 60)}")
    if text_key not in record:
        raise DataSourceError(
            f"{path}: line {lineno}: no {text_key!r} field (fields: {clip(sorted(record), 120)}); "
            "set data.corpus.text_key"
        )
    text = record[text_key]
    if text is not None and not isinstance(text, str):
        raise DataSourceError(f"{path}: line {lineno}: field {text_key!r} holds {type(text).__name__}, not text")
    return text or ""


def _parquet(path: Path, text_key: str) -> Iterator[list[str]]:
    try:
        pf = pq.ParquetFile(path)
        if text_key not in pf.schema_arrow.names:
            raise DataSourceError(
                f"{path}: no {text_key!r} column (columns: {clip(pf.schema_arrow.names, 120)}); "
                "set data.corpus.text_key"
            )
        for batch in pf.iter_batches(batch_size=BATCH, columns=[text_key]):
            yield [t for t in batch.column(0).to_pylist() if t]
    except (pa.ArrowInvalid, OSError) as e:
        raise DataSourceError(f"{path}: cannot read as Parquet ({e})") from None


def _csv(path: Path, text_key: str, sep: str) -> Iterator[list[str]]:
    import pandas as pd

    try:
        reader = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, chunksize=BATCH, encoding="utf-8", compression="infer"
        )
        for chunk in reader:
            if text_key not in chunk.columns:
                raise DataSourceError(
                    f"{path}: no {text_key!r} column (columns: {clip(list(chunk.columns), 120)}); "
                    "set data.corpus.text_key"
                )
            yield [t for t in chunk[text_key].tolist() if t]
    except pd.errors.EmptyDataError:
        raise DataSourceError(f"{path}: no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataSourceError(f"{path}: cannot read as {'TSV' if sep == chr(9) else 'CSV'} ({e})") from None


def _hf_dataset(path: Path, text_key: str) -> Iterator[list[str]]:
    """A saved dataset is memory-mapped Arrow: batches cost their own size only."""
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:  # datasets raises many types for an unreadable folder
        raise DataSourceError(
            f"{path}: cannot load as a saved Hugging Face dataset ({type(e).__name__}: {e})"
        ) from None
    if isinstance(ds, datasets.DatasetDict):
        raise DataSourceError(f"{path}: a DatasetDict ({sorted(ds)}); point data.corpus.paths at one split's folder")
    if text_key not in ds.column_names:
        raise DataSourceError(
            f"{path}: no {text_key!r} column (columns: {clip(ds.column_names, 120)}); set data.corpus.text_key"
        )
    for start in range(0, len(ds), BATCH):
        yield [t for t in ds[start : start + BATCH][text_key] if t]


def default_texts(path: Path) -> list[str]:
    """The embedded Wikipedia lead summaries ({title: {"extract": ...}}): a 6 MB file shipped in a
    package, the one source read whole."""
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data.values() if isinstance(data, dict) else data
    return [v if isinstance(v, str) else (v.get("extract") or v.get("summary") or v.get("text") or "") for v in items]


def describe(path: Path, root: Path) -> str:
    """A shard's name as manifests and the `source` column show it: relative to the root when inside."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def record(path: Path, source: str, rows: int) -> dict[str, Any]:
    from llmops.io import sha256

    digest = sha256(path) if path.is_file() else _folder_digest(path)
    return {"role": "corpus", "file": source, "sha256": digest, "rows": rows}


def _folder_digest(path: Path) -> str:
    import hashlib

    from llmops.io import sha256

    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(path)}:{sha256(p)}\n".encode())
    return h.hexdigest()


CORPUS_SCHEMA = pa.schema([("text", pa.string()), ("source", pa.string())])


def write_corpus(default: Path | None, shards: list[Path], out: Path, options: Any) -> list[dict[str, Any]]:
    """Stream the embedded default corpus (when given) and every shard into `out` (parquet, a
    batch at a time); returns one manifest record per source. `options` carries data.corpus's
    text_key and txt_split."""
    info = []
    root = Path.cwd()
    with pq.ParquetWriter(out, CORPUS_SCHEMA) as writer:
        if default is not None:
            texts = default_texts(default)
            writer.write_table(_table(texts, "wikipedia"))
            info.append(record(default, default.name, len(texts)))
        for shard in shards:
            name, n = describe(shard, root), 0
            for batch in iter_documents(shard, options.get("text_key", "text"), options.get("txt_split", "blank_line")):
                writer.write_table(_table(batch, name))
                n += len(batch)
            if n == 0:
                raise DataSourceError(f"{shard}: no documents (every text is empty) (data.corpus.paths)")
            info.append(record(shard, name, n))
    return info


def _table(texts: list[str], source: str) -> pa.Table:
    return pa.table({"text": pa.array(texts, pa.string()), "source": pa.array([source] * len(texts), pa.string())})
