"""Read the labeled data and the unlabeled corpus into plain DataFrames (text, label, source)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pandas as pd

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


class DataSourceError(ValueError):
    """Bad input: the message names the file, the row or column, and the rule broken."""


def package_file(package: str, relative: str) -> Path:
    """Path to a data file shipped inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataSourceError(f"package {package!r} is not installed (it ships the default data); run `make install`")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise DataSourceError(f"{path}: file missing from package {package!r}")
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_table(path: Path, fmt: str | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a CSV/TSV/JSONL/Parquet file with every column as read (strings stay strings)."""
    if not path.is_file():
        raise DataSourceError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataSourceError(f"{path}: file is empty")
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataSourceError(
            f"{path}: unknown format {path.suffix!r}; set data.labeled.format to one of {sorted(set(FORMATS.values()))}"
        )
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(
                path,
                sep="\t" if fmt == "tsv" else ",",
                encoding=encoding,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
            )
        if fmt == "jsonl":
            return pd.read_json(path, lines=True, encoding=encoding, dtype=False)
        if fmt == "parquet":
            return pd.read_parquet(path)
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as e:
        raise DataSourceError(f"{path}: cannot parse as {fmt} ({encoding}): {e}") from e
    raise DataSourceError(f"{path}: unsupported format {fmt!r}")


def read_labeled(cfg: Any, root: Path = Path(".")) -> tuple[pd.DataFrame, Path]:
    """The labeled data as columns text, label, source (plus any others the file has)."""
    lab = cfg.labeled
    path = package_file(lab.package, lab.file) if cfg.source == "default" else root / lab.path
    df = read_table(path, lab.get("format"), lab.get("encoding") or "utf-8")
    for role, col in (("text", lab.text_column), ("label", lab.label_column)):
        if col not in df.columns:
            raise DataSourceError(
                f"{path}: {role} column {col!r} not found; columns are {list(df.columns)} "
                f"(set data.labeled.{role}_column)"
            )
    df = df.rename(columns={lab.text_column: "text", lab.label_column: "label"})
    df["label"] = df["label"].map(lambda v: v if pd.isna(v) else str(v))
    df["source"] = path.name
    return df, path


def read_default_corpus(cfg: Any) -> tuple[pd.DataFrame, Path]:
    """The embedded Wikipedia lead summaries as columns text, source."""
    path = package_file(cfg.corpus.package, cfg.corpus.file)
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data.items() if isinstance(data, dict) else enumerate(data)
    texts = [
        v if isinstance(v, str) else (v.get("extract") or v.get("summary") or v.get("text") or "") for _, v in items
    ]
    return pd.DataFrame({"text": texts, "source": "wikipedia"}), path


def read_extra_corpus(paths: list[str], root: Path = Path(".")) -> list[tuple[pd.DataFrame, Path]]:
    """User corpora: .txt files (one document per file) or folders of them, JSONL/Parquet with `text`."""
    out = []
    for p in map(lambda s: root / s, paths):
        files = sorted(p.rglob("*.txt")) if p.is_dir() else [p]
        for f in files:
            if f.suffix == ".txt":
                if not f.is_file():
                    raise DataSourceError(f"{f}: corpus file not found")
                df = pd.DataFrame({"text": [f.read_text(encoding="utf-8")]})
            else:
                df = read_table(f)
                if "text" not in df.columns:
                    raise DataSourceError(f"{f}: corpus column 'text' not found; columns are {list(df.columns)}")
            df = df[["text"]].assign(source=f.name)
            out.append((df, f))
    return out
