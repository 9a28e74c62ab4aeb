"""Expectation suites. Each expectation carries its severity in meta:
- critical: the pipeline stops;
- warning with quarantine: the offending rows move to data/validated/rejected.parquet (with a
  reason) and the run goes on, unless the rejected share passes `max_rejected_share`;
- warning without quarantine: reported only (nothing row-level to remove, or preprocess repairs it).

Checks GX has no expectation for are computed as boolean columns named for the rule (for example
`is_repeated_header_row`) and expected to be False, so GX still reports the offending rows."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llmops.data.cleaning import MOJIBAKE_RE
from llmops.data.dedup import text_fingerprints

CRITICAL, WARNING = "critical", "warning"
SPLITS = ["train", "val", "test"]
Expectation = tuple[str, dict[str, Any]]


def _e(name: str, severity: str, why: str, quarantine: bool = False, **kwargs: Any) -> Expectation:
    return name, {**kwargs, "meta": {"severity": severity, "why": why, "quarantine": quarantine}}


def _lines_over(n: int) -> str:
    """A regex matching a text with more than `n` lines (at least `n` line breaks)."""
    return rf"(?:[^\n]*\n){{{int(n)}}}"


def _flag(column: str, severity: str, why: str, quarantine: bool = False, about: str | None = None) -> Expectation:
    """A derived flag column expected False; `about` is the data's own column the rule speaks of,
    which is what a message names (the flag's name stays in the reports)."""
    name, kwargs = _e("ExpectColumnValuesToBeInSet", severity, why, quarantine=quarantine, column=column)
    kwargs["value_set"] = [False]
    kwargs["meta"]["about"] = about
    return name, kwargs


def _holds_record_lines(text: pd.Series, labels: list[str]) -> pd.Series:
    """True where a line inside the text (not its last) ends like a delimited record, with a
    delimiter and one of the file's labels (`...,pos`): an unclosed quote swallowed the records
    after it. Catches the short swallows that `max_text_lines` lets through."""
    if not labels:
        return pd.Series(False, index=text.index)
    alternatives = "|".join(sorted((re.escape(label) for label in labels), key=len, reverse=True))
    pattern = rf"[,;\t|][ \t]*\"?(?:{alternatives})\"?[ \t]*\r?\n"
    return text.fillna("").astype(str).str.contains(pattern, regex=True)


def add_derived_columns(
    labeled: pd.DataFrame, corpus_hashes: np.ndarray, header: tuple[str, str], min_per_class: int
) -> pd.DataFrame:
    """Row-level flags for the rules GX has no built-in expectation for. `corpus_hashes` are the
    held-out texts' hashes found in the corpus (corpus_profile's probe), so the corpus is never
    held in memory whole."""
    text, label = labeled["text"], labeled["label"]
    counts = label.value_counts()
    out = labeled.assign(
        is_repeated_header_row=(text == header[0]) & (label == header[1]),
        is_in_too_small_class=label.map(counts).fillna(min_per_class) < min_per_class,
        is_swallowing_records=_holds_record_lines(text, labels=[str(x) for x in counts.index]),
    )
    if labeled["split"].notna().any():
        train = set(text[labeled["split"] == "train"].dropna())
        held_out = labeled["split"].isin(["val", "test"])
        in_corpus = np.isin(text_fingerprints(text), corpus_hashes)
        out["is_leaking_held_out_text"] = held_out & (text.isin(train) | in_corpus)
    return out


def raw_labeled(v: Any, labels: list[str] | None, has_split: bool) -> list[Expectation]:
    """The raw labeled table; thresholds from data.validation."""
    out = [
        _e("ExpectTableRowCountToBeBetween", CRITICAL, "enough rows to train and split", min_value=v.min_rows),
        _e("ExpectColumnToExist", CRITICAL, "schema: a text column", column="text"),
        _e("ExpectColumnToExist", CRITICAL, "schema: a label column", column="label"),
        _flag("is_repeated_header_row", CRITICAL, "a header row repeated inside the data (concatenated files?)"),
        _e("ExpectColumnUniqueValueCountToBeBetween", CRITICAL, "at least two classes", column="label", min_value=2),
        _flag(
            "is_in_too_small_class",
            CRITICAL,
            f"each class needs at least {v.min_rows_per_class} rows to be split into train/val/test",
            about="label",
        ),
        _e(
            "ExpectColumnValueLengthsToBeBetween",
            CRITICAL,
            "no text over the hard cap: one that long is a parse failure (an unclosed quote swallowing rows)",
            column="text",
            max_value=v.hard_max_chars,
        ),
        _e(
            "ExpectColumnProportionOfUniqueValuesToBeBetween",
            CRITICAL,
            f"share of distinct texts >= {1.0 - v.max_duplicate_share:g}, i.e. at most "
            f"{v.max_duplicate_share:.0%} duplicates",
            column="text",
            min_value=1.0 - v.max_duplicate_share,
        ),
        _e(
            "ExpectColumnValuesToNotMatchRegex",
            CRITICAL,
            "encoding damage (mojibake) within bounds",
            column="text",
            regex=MOJIBAKE_RE,
            mostly=1.0 - v.max_encoding_damage_share,
        ),
        _e(
            "ExpectColumnValuesToNotMatchRegex",
            CRITICAL,
            f"at most {v.max_multiline_share:.0%} of texts over {v.max_text_lines} lines (unclosed quotes "
            "swallowing the records after them)",
            column="text",
            regex=_lines_over(v.max_text_lines),
            mostly=1.0 - v.max_multiline_share,
        ),
        _e(
            "ExpectColumnValuesToNotMatchRegex",
            WARNING,
            f"no text over data.validation.max_text_lines={v.max_text_lines} lines: one quoted field that long is "
            "usually an unclosed quote that swallowed the records after it",
            quarantine=True,
            column="text",
            regex=_lines_over(v.max_text_lines),
        ),
        _flag(
            "is_swallowing_records",
            WARNING,
            "no line inside a text ends like a record (delimiter, then a label): an unclosed quote that "
            "swallowed the records after it",
            quarantine=True,
            about="text",
        ),
        _e("ExpectColumnValuesToNotBeNull", WARNING, why="every row has a text", quarantine=True, column="text"),
        _e("ExpectColumnValuesToNotBeNull", WARNING, why="every row has a label", quarantine=True, column="label"),
        _e(
            "ExpectColumnValuesToNotMatchRegex",
            WARNING,
            why="no empty or whitespace-only text",
            quarantine=True,
            column="text",
            regex=r"^\s*$",
        ),
        _e(
            "ExpectColumnValueLengthsToBeBetween",
            WARNING,
            why=f"text length within data.validation.min_chars={v.min_chars} and max_chars={v.max_chars}",
            quarantine=True,
            column="text",
            min_value=v.min_chars,
            max_value=v.max_chars,
        ),
        _e(
            "ExpectColumnValuesToNotMatchRegex",
            WARNING,
            "encoding damage (preprocess repairs what it can)",
            column="text",
            regex=MOJIBAKE_RE,
        ),
    ]
    if labels:
        out.append(
            _e(
                "ExpectColumnValuesToBeInSet",
                CRITICAL,
                f"labels within the configured label set (data.labels={list(labels)})",
                column="label",
                value_set=list(labels),
            )
        )
    if has_split:
        out += [
            _e(
                "ExpectColumnValuesToBeInSet",
                CRITICAL,
                "split values are train, val or test",
                column="split",
                value_set=SPLITS,
            ),
            _flag(
                "is_leaking_held_out_text",
                CRITICAL,
                "no val/test text may appear in the train split or the pre-training corpus (leakage)",
                about="text",
            ),
        ]
    return out


def class_balance(labeled: pd.DataFrame, min_share: float) -> Expectation:
    shares = labeled["label"].value_counts(normalize=True)
    return _e(
        "ExpectColumnValuesToBeInSet",
        WARNING,
        f"class balance: every class at least {min_share:.0%} of rows",
        column="label",
        value_set=sorted(shares[shares >= min_share].index.tolist()),
    )


def corpus_profile(path, probe: np.ndarray | None = None, name: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The corpus suite's table: one row per Parquet row group of the raw corpus (a slice of one
    source shard, named by source and rows, or by `name` and rows): documents, missing texts, the
    longest and the mean length, the share with encoding damage. And which of the `probe` hashes
    (held-out labeled texts) occur in the corpus. Read a row group at a time: the table and the
    memory follow the number of row groups, not of documents."""
    pf = pq.ParquetFile(path)
    rows, found, start = [], [], 0
    for group in range(pf.num_row_groups):
        table = pf.read_row_group(group, columns=["text", "source"])
        text, n = table.column("text"), table.num_rows
        lengths = pc.utf8_length(text)  # no Python strings
        damaged = pc.sum(pc.match_substring_regex(text, MOJIBAKE_RE)).as_py() or 0
        source = name or (table.column("source")[0].as_py() if n else "?")
        rows.append(
            {
                "shard": f"{source} rows {start + 1}-{start + n}",
                "documents": n,
                "missing_texts": text.null_count,
                "max_length": pc.max(lengths).as_py() or 0,
                "mean_length": pc.mean(lengths).as_py() or 0.0,
                "encoding_damage_share": damaged / max(1, n),
            }
        )
        if probe is not None and len(probe):
            hashes = text_fingerprints(text.to_pandas())
            found.append(hashes[np.isin(hashes, probe)])
        start += n
    profile = pd.DataFrame(rows, columns=[*PROFILE_COLUMNS])
    profile.index = profile["shard"].tolist()  # GX names failing rows by index: the shard slice
    return profile, (np.concatenate(found) if found else np.array([], np.uint64))


PROFILE_COLUMNS = ("shard", "documents", "missing_texts", "max_length", "mean_length", "encoding_damage_share")


def raw_corpus(v: Any) -> list[Expectation]:
    """On corpus_profile's table: one row per row group of a source shard."""
    return [
        _e(
            "ExpectColumnValuesToBeBetween",
            CRITICAL,
            "every document under the hard length cap (longer is a parse failure)",
            column="max_length",
            max_value=v.hard_max_chars,
        ),
        _e(
            "ExpectColumnValuesToBeBetween",
            WARNING,
            "every document has a text",
            column="missing_texts",
            max_value=0,
        ),
        _e(
            "ExpectColumnValuesToBeBetween",
            WARNING,
            "encoding damage within bounds (prepare_corpus repairs what it can)",
            column="encoding_damage_share",
            max_value=v.max_encoding_damage_share,
        ),
    ]


def prepared_corpus(max_chars: int, v: Any) -> list[Expectation]:
    """On corpus_profile's table of prepare_corpus's output shards (one row per row group)."""
    return [
        _e(
            "ExpectColumnValuesToBeBetween",
            CRITICAL,
            f"every kept document within data.corpus_prep.max_chars={max_chars} (the length filter held)",
            column="max_length",
            max_value=max_chars,
        ),
        _e(
            "ExpectColumnValuesToBeBetween",
            CRITICAL,
            "every kept document has a text",
            column="missing_texts",
            max_value=0,
        ),
        _e(
            "ExpectColumnValuesToBeBetween",
            WARNING,
            "encoding damage left after cleaning within bounds",
            column="encoding_damage_share",
            max_value=v.max_encoding_damage_share,
        ),
    ]


def corpus_accounting() -> list[Expectation]:
    """On the table of what prepare_corpus did with its input: one row per exclusion reason, and one
    per split kept, with the share of the input documents each took."""
    return [
        _e(
            "ExpectColumnSumToBeBetween",
            CRITICAL,
            "every input document is either kept or excluded with a reason",
            column="share_of_input",
            min_value=1 - 1e-9,
            max_value=1 + 1e-9,
        ),
    ]


def processed_split(labels: list[str], held_out: bool) -> list[Expectation]:
    """A processed split after cleaning, dedup and splitting. For val/test, the caller adds the
    flag `is_in_train` (the text also appears in the train split; the pre-training corpus is
    decontaminated by the prepare_corpus stage, which drops every copy of a val/test text)."""
    out = [
        _e("ExpectTableRowCountToBeBetween", CRITICAL, "a non-empty split", min_value=1),
        _e("ExpectColumnValuesToNotBeNull", CRITICAL, "every row has a text", column="text"),
        _e(
            "ExpectColumnValuesToBeInSet",
            CRITICAL,
            "labels within the label set",
            column="label",
            value_set=list(labels),
        ),
        _e("ExpectColumnValuesToBeUnique", CRITICAL, "no duplicate text after dedup", column="text"),
        _e(
            "ExpectColumnValuesToNotMatchRegex", CRITICAL, "no empty text after cleaning", column="text", regex=r"^\s*$"
        ),
    ]
    if held_out:
        out.append(
            _flag(
                "is_in_train",
                CRITICAL,
                "no val/test text shared with the train split (leakage)",
                about="text",
            )
        )
    return out
