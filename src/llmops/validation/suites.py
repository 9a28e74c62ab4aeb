"""Expectation suites for the raw data. Each expectation carries a severity in its meta:
critical failures stop the pipeline; warnings are reported and the run goes on."""

from __future__ import annotations

from typing import Any

from llmops.data.cleaning import MOJIBAKE_RE

CRITICAL, WARNING = "critical", "warning"


def _e(name: str, severity: str, why: str, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    return name, {**kwargs, "meta": {"severity": severity, "why": why}}


def raw_labeled_expectations(v: Any, labels: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    """(GX expectation class name, kwargs) for the raw labeled table; thresholds from data.validation."""
    out = [
        _e("ExpectTableRowCountToBeBetween", CRITICAL, "enough rows to train and split", min_value=v.min_rows),
        _e("ExpectColumnToExist", CRITICAL, "schema: a text column", column="text"),
        _e("ExpectColumnToExist", CRITICAL, "schema: a label column", column="label"),
        _e("ExpectColumnValuesToNotBeNull", CRITICAL, "every row has a text", column="text"),
        _e("ExpectColumnValuesToNotBeNull", CRITICAL, "every row has a label", column="label"),
        _e(
            "ExpectColumnValueLengthsToBeBetween",
            CRITICAL,
            "text length within bounds",
            column="text",
            min_value=v.min_chars,
            max_value=v.max_chars,
        ),
        _e("ExpectColumnUniqueValueCountToBeBetween", CRITICAL, "at least two classes", column="label", min_value=2),
        _e(
            "ExpectColumnProportionOfUniqueValuesToBeBetween",
            CRITICAL,
            "duplicate rate within bounds",
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
            WARNING,
            "no encoding damage at all (preprocess repairs it)",
            column="text",
            regex=MOJIBAKE_RE,
        ),
    ]
    if labels:
        out.append(
            _e(
                "ExpectColumnValuesToBeInSet",
                CRITICAL,
                "labels within the configured label set",
                column="label",
                value_set=list(labels),
            )
        )
    return out


def raw_corpus_expectations(v: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        _e("ExpectTableRowCountToBeBetween", CRITICAL, "a non-empty corpus", min_value=1),
        _e("ExpectColumnToExist", CRITICAL, "schema: a text column", column="text"),
        _e("ExpectColumnValuesToNotBeNull", CRITICAL, "every document has a text", column="text"),
        _e(
            "ExpectColumnValueLengthsToBeBetween",
            CRITICAL,
            "document length within bounds",
            column="text",
            min_value=1,
            max_value=1_000_000,
        ),
    ]
