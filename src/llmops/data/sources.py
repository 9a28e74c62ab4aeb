"""Read the labeled data and the unlabeled corpus, a chunk at a time, into parquet files.

Labeled rows become (row, text, label, split, source): `row` is the record's 1-based number in its
source file, so every later message can point at it. Every problem raises DataSourceError with a
message naming the file, the row or column, and the rule broken. Source files are only read."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from llmops.data import encoding as enc
from llmops.data.errors import DataSourceError, clip
from llmops.io import sha256_and_lines

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "txt",
}
CHUNK_ROWS = 10_000  # rows per chunk: memory stays flat in file size
LABELED_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("text", pa.string()),
        ("label", pa.string()),
        ("split", pa.string()),
        ("source", pa.string()),
    ]
)
NUMBER_RE = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")

__all__ = ["DataSourceError", "package_file", "iter_table", "write_labeled", "write_hf_labeled"]


def package_file(package: str, relative: str) -> Path:
    """A data file shipped inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataSourceError(f"package {package!r} is not installed (it ships the default data); run `make install`")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise DataSourceError(f"{path}: file missing from package {package!r}")
    return path


def _format(path: Path, fmt: str | None) -> str:
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt not in set(FORMATS.values()):
        raise DataSourceError(
            f"{path}: unknown format {fmt or path.suffix!r}; set data.labeled.format to one of "
            f"{sorted(set(FORMATS.values()) - {'txt'})}"
        )
    return fmt


def iter_table(path: Path, fmt: str | None = None, encoding: str | None = "auto") -> Iterator[pd.DataFrame]:
    """Chunks of a CSV/TSV/JSONL/Parquet file, each with a `row` column (1-based record number).
    Text files are checked for encoding and NUL bytes first; strings stay strings."""
    if not path.is_file():
        raise DataSourceError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DataSourceError(f"{path}: file is empty (0 bytes)")
    fmt = _format(path, fmt)
    if fmt == "parquet":
        yield from _iter_parquet(path)
        return
    encoding, _ = enc.resolve(path, encoding)
    enc.check_not_binary(path, encoding)
    if fmt in ("csv", "tsv"):
        yield from _iter_csv(path, "\t" if fmt == "tsv" else ",", encoding)
    else:
        yield from _iter_jsonl(path, encoding)


def _iter_csv(path: Path, sep: str, encoding: str) -> Iterator[pd.DataFrame]:
    start = 1
    # A bare \r inside an unquoted field (pandas itself writes them so) is text, not a line break,
    # unless the file's lines end in \r\n: the header line's ending decides.
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    eol = head.find(b"\n")
    lf_only = "\n".encode(encoding) == b"\n" and eol > 0 and head[eol - 1 : eol] != b"\r"
    newline = {"lineterminator": "\n"} if lf_only else {}
    try:
        reader = pd.read_csv(
            path,
            sep=sep,
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            chunksize=CHUNK_ROWS,
            **newline,
            skip_blank_lines=True,
        )
        for chunk in reader:
            chunk.insert(0, "row", range(start, start + len(chunk)))
            start += len(chunk)
            yield chunk
    except pd.errors.EmptyDataError as e:
        raise DataSourceError(f"{path}: no header and no rows ({e})") from e
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataSourceError(f"{path}: cannot parse as {'TSV' if sep == chr(9) else 'CSV'}: {e}") from e


def _iter_jsonl(path: Path, encoding: str) -> Iterator[pd.DataFrame]:
    with open(path, encoding=encoding) as f:
        first = f.read(1024).lstrip()
    if first.startswith("["):  # a JSON array rather than JSON lines
        try:
            records = json.loads(path.read_text(encoding=encoding))
        except json.JSONDecodeError as e:
            raise DataSourceError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from e
        yield _records_frame(path, list(enumerate(records, 1)))
        return
    batch: list[tuple[int, Any]] = []
    with open(path, encoding=encoding) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                batch.append((lineno, json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataSourceError(f"{path}: line {lineno}: not valid JSON ({e.msg} at column {e.colno})") from e
            if len(batch) >= CHUNK_ROWS:
                yield _records_frame(path, batch)
                batch = []
    if batch:
        yield _records_frame(path, batch)


def _records_frame(path: Path, records: list[tuple[int, Any]]) -> pd.DataFrame:
    bad = next((n for n, r in records if not isinstance(r, dict)), None)
    if bad is not None:
        raise DataSourceError(f"{path}: row {bad}: a JSON object is expected on each line")
    df = pd.DataFrame([r for _, r in records])
    df.insert(0, "row", [n for n, _ in records])
    return df


def _iter_parquet(path: Path) -> Iterator[pd.DataFrame]:
    try:
        pf = pq.ParquetFile(path)
        start = 1
        for batch in pf.iter_batches(batch_size=CHUNK_ROWS):
            df = batch.to_pandas()
            df.insert(0, "row", range(start, start + len(df)))
            start += len(df)
            yield df
    except (pa.ArrowInvalid, OSError) as e:
        raise DataSourceError(f"{path}: cannot parse as Parquet: {e}") from e


def _delimiter_hint(columns: list[str]) -> str:
    header = ",".join(map(str, columns))
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if sep in header:
            return f"; the header looks separated by {name}: set data.labeled.format (tsv) or convert the file"
    return ""


def _label_str(v: Any) -> Any:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class _LabelKinds:
    """Tracks numeric vs text labels across chunks: a mix means a broken column."""

    def __init__(self, header: str):
        self.header = header
        self.example: dict[str, tuple[int, Any]] = {}

    def update(self, rows: pd.Series, labels: pd.Series) -> None:
        for row, v in zip(rows, labels, strict=True):
            if v is None or (isinstance(v, float) and pd.isna(v)) or v == self.header:
                continue  # nulls and repeated header rows are the gate's to report
            kind = (
                "number"
                if isinstance(v, int | float) and not isinstance(v, bool) or (isinstance(v, str) and NUMBER_RE.match(v))
                else "text"
            )
            self.example.setdefault(kind, (int(row), v))
            if len(self.example) == 2:
                return

    def check(self, path: Path, column: str) -> None:
        if len(self.example) == 2:
            (r1, v1), (r2, v2) = self.example["number"], self.example["text"]
            raise DataSourceError(
                f"{path}: column {column!r} mixes numeric and text labels (row {r1}: {clip(v1)}, "
                f"row {r2}: {clip(v2)}); use one kind of label"
            )


def _check_value_types(path: Path, chunk: pd.DataFrame, text_col: str, label_col: str) -> None:
    """Typed sources (Parquet, JSONL) can hold numbers where text is expected: a numeric text column
    (which cleaning would turn into short digit strings and drop without a gate), or fractional
    labels (0.1, 1.5: neither a class name nor a class id). CSV cells are always text."""

    def first(column: str, wrong: Any) -> tuple[int, Any] | None:
        for row, v in zip(chunk["row"], chunk[column], strict=True):
            if v is not None and not (isinstance(v, float) and pd.isna(v)) and wrong(v):
                return int(row), v
        return None

    number = first(text_col, lambda v: not isinstance(v, str))
    if number:
        raise DataSourceError(
            f"{path}: row {number[0]}: text column {clip(text_col)} holds {clip(number[1])} "
            f"({type(number[1]).__name__}), not text; point data.labeled.text_column at the text"
        )
    fraction = first(label_col, lambda v: isinstance(v, float) and not v.is_integer())
    if fraction:
        raise DataSourceError(
            f"{path}: row {fraction[0]}: label column {clip(label_col)} holds {fraction[1]!r}, a fraction: "
            "labels must be class names or integer class ids"
        )


def write_labeled(path: Path, lab: Any, out: Path) -> dict[str, Any]:
    """Stream the labeled file into `out` (parquet); returns what the manifest records."""
    text_col, label_col, split_col = lab.text_column, lab.label_column, lab.get("split_column")
    encoding = lab.get("encoding") or "auto"
    fmt = lab.get("format")
    kinds = _LabelKinds(str(label_col))
    rows = spanning = line_breaks = 0
    writer = None
    try:
        for chunk in iter_table(path, fmt, encoding):
            if writer is None:
                columns = [c for c in chunk.columns if c != "row"]
                for role, col in (("text", text_col), ("label", label_col), ("split", split_col)):
                    if col is not None and col not in chunk.columns:
                        raise DataSourceError(
                            f"{path}: {role} column {clip(col)} not found; columns are {clip(columns)} "
                            f"(set data.labeled.{role}_column){_delimiter_hint(columns)}"
                        )
                writer = pq.ParquetWriter(out, LABELED_SCHEMA)
            _check_value_types(path, chunk, text_col=text_col, label_col=label_col)
            kinds.update(chunk["row"], chunk[label_col])
            frame = pd.DataFrame(
                {
                    "row": chunk["row"].astype("int64"),
                    "text": chunk[text_col].map(
                        lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
                    ),
                    "label": chunk[label_col].map(_label_str),
                    "split": chunk[split_col].map(lambda v: None if pd.isna(v) else str(v).strip().lower())
                    if split_col
                    else None,
                    "source": path.name,
                }
            )
            writer.write_table(pa.Table.from_pandas(frame, schema=LABELED_SCHEMA, preserve_index=False))
            rows += len(frame)
            breaks = frame["text"].str.count("\n").fillna(0)
            spanning, line_breaks = spanning + int((breaks > 0).sum()), line_breaks + int(breaks.sum())
        if writer is None:
            raise DataSourceError(f"{path}: no rows")
        kinds.check(path, label_col)
    finally:
        if writer is not None:
            writer.close()
    text_file = _format(path, fmt) != "parquet"
    detected, how = enc.resolve(path, encoding) if text_file else ("binary", "parquet")
    digest, lines = sha256_and_lines(path)
    return {
        "role": "labeled",
        "file": path.name,
        "sha256": digest,
        "rows": rows,
        "encoding": detected,
        "encoding_source": how,
        # records vs lines: a quoted field over several lines shows here as lines the records do
        # not account for one by one (validate then names the rows: data.validation.max_text_lines)
        "lines": lines if text_file else None,
        "multiline_texts": spanning,
        "line_breaks_in_texts": line_breaks,
    }


BATCHES_DIR = Path("data/batches")  # ingest's DVC dep for data.labeled.batches: a batch elsewhere would change unseen


def write_batches(batches: list[str], lab: Any, out: Path) -> list[dict[str, Any]]:
    """Append the labeled batches (data.labeled.batches: files under data/batches/, with the labeled
    source's text and label columns, any format, encoding detected) to `out`, the labeled parquet
    written by write_labeled; returns their manifest records (role "labeled-batch")."""
    from omegaconf import OmegaConf

    if not batches:
        return []
    if lab.get("split_column"):
        raise DataSourceError("data.labeled.batches: a batch has no split column; unset data.labeled.split_column")
    options = OmegaConf.create(
        {"text_column": lab.text_column, "label_column": lab.label_column, "split_column": None, "format": None}
    )
    records, parts = [], []
    for i, entry in enumerate(batches):
        path = Path(entry)
        if not path.resolve().is_relative_to(BATCHES_DIR.resolve()):
            raise DataSourceError(
                f"data.labeled.batches: {entry} is outside {BATCHES_DIR}/, the folder DVC watches for batches; "
                "move it there"
            )
        if not path.is_file():
            raise DataSourceError(f"data.labeled.batches: {entry}: no such file (dvc pull, or dvc add it)")
        parts.append(out.with_name(f"batch-{i}.parquet"))
        records.append({**write_labeled(path, options, parts[-1]), "role": "labeled-batch"})
    merged = out.with_name("labeled-merged.parquet")
    with pq.ParquetWriter(merged, LABELED_SCHEMA) as writer:
        for part in (out, *parts):
            for batch in pq.ParquetFile(part).iter_batches():
                writer.write_batch(batch)
            if part != out:
                part.unlink()
    merged.replace(out)
    return records


def inside_workspace(path: Path, key: str, allow_outside: bool = False) -> Path:
    """`path` if it resolves (symlinks followed) inside the workspace; else a DataSourceError, unless
    data.allow_outside_paths: a typo such as `../../etc/passwd` must not be read, copied into
    data/raw/ and logged."""
    root = Path.cwd().resolve()
    if not allow_outside and not path.resolve().is_relative_to(root):
        raise DataSourceError(
            f"{key}={path}: resolves to {path.resolve()}, outside the workspace {root}; keep data inside the "
            "repository (dvc add it there), or set data.allow_outside_paths=true"
        )
    return path


def write_hf_labeled(hf: Any, out: Path) -> dict[str, Any]:
    """A labeled split from HF `datasets`. Offline (HF_HUB_OFFLINE=1, our default) only a locally
    cached dataset loads; anything else fails at once with this message, never a hang."""
    import os

    try:
        import datasets

        ds = datasets.load_dataset(hf.name, hf.get("config"), split=hf.split)
    except Exception as e:  # datasets raises many types for "not reachable / not cached"
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
        why = (
            "the hub is off (HF_HUB_OFFLINE=1 / HF_DATASETS_OFFLINE=1) and it is not in the local cache; "
            "set both to 0 where a hub is reachable"
            if offline
            else "could not be loaded"
        )
        raise DataSourceError(f"hf dataset {hf.name!r} (split {hf.split!r}): {why}: {type(e).__name__}: {e}") from e
    for role, col in (("text", hf.text_column), ("label", hf.label_column)):
        if col not in ds.column_names:
            raise DataSourceError(
                f"hf dataset {hf.name!r}: {role} column {col!r} not found; columns are {clip(ds.column_names)}"
            )
    names = getattr(ds.features[hf.label_column], "names", None)
    with pq.ParquetWriter(out, LABELED_SCHEMA) as writer:
        for start in range(0, len(ds), CHUNK_ROWS):
            part = ds[start : start + CHUNK_ROWS]
            labels = [names[v] if names and isinstance(v, int) else _label_str(v) for v in part[hf.label_column]]
            frame = pd.DataFrame(
                {
                    "row": range(start + 1, start + 1 + len(labels)),
                    "text": part[hf.text_column],
                    "label": labels,
                    "split": None,
                    "source": f"hf:{hf.name}",
                }
            )
            writer.write_table(pa.Table.from_pandas(frame, schema=LABELED_SCHEMA, preserve_index=False))
    return {"role": "labeled", "file": f"hf:{hf.name}/{hf.split}", "sha256": ds._fingerprint, "rows": len(ds)}
