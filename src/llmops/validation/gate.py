"""Run expectation suites with Great Expectations, write the JSON result, Data Docs and a
readable summary, and say which critical expectations failed with example rows."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from llmops.data.errors import clip, md_escape

DOCS_SITE = "llmops_data_docs"  # the ephemeral context already has a site called local_site


@dataclass
class SuiteOutcome:
    name: str
    source: str
    result: dict[str, Any]
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def critical(self) -> list[dict[str, Any]]:
        return [f for f in self.failures if f["severity"] == "critical"]


def _context(docs_dir: Path):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        DOCS_SITE,
        {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return context


def run_suites(tables: dict[str, tuple[pd.DataFrame, str, list]], docs_dir: Path) -> list[SuiteOutcome]:
    """tables: suite name -> (dataframe, source file name, [(expectation class, kwargs)])."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = _context(docs_dir)
    source = context.data_sources.add_pandas("llmops")
    outcomes = []
    for name, (df, src, expectations) in tables.items():
        batch_def = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add_or_update(gx.ExpectationSuite(name=name))
        for cls, kwargs in expectations:
            suite.add_expectation(getattr(gxe, cls)(**kwargs))
        vd = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch_def, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{name}_checkpoint",
                validation_definitions=[vd],
                # COMPLETE: quarantine needs every offending row's index, not a sample
                result_format={"result_format": "COMPLETE", "partial_unexpected_count": 5},
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": df})
        ((identifier, validation),) = run.run_results.items()
        result = validation.to_json_dict()
        outcomes.append(SuiteOutcome(name, src, result=result, failures=_failures(result)))
        context.validation_results_store.set(identifier, _html_escaped(validation))
    context.build_data_docs(site_names=[DOCS_SITE])
    return outcomes


def _html_escaped(validation: Any) -> Any:
    """A copy of a suite's results whose observed values (data: texts, labels) are HTML-escaped.
    GX escapes the parameters of its sentence templates but writes table cells (the unexpected
    values) raw into the Data Docs, so a label `<script>...` would run in the reader's browser."""
    import copy
    import html

    def escaped(value: Any) -> Any:
        if isinstance(value, str):
            return html.escape(value)
        if isinstance(value, list):
            return [escaped(v) for v in value]
        if isinstance(value, dict):
            return {k: escaped(v) for k, v in value.items()}
        return value

    safe = copy.deepcopy(validation)
    for expectation in safe.results:
        expectation.result = escaped(expectation.result)
    return safe


def _failures(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for r in result["results"]:
        if r["success"]:
            continue
        cfg = r["expectation_config"]
        meta = cfg.get("meta") or {}
        res = r.get("result") or {}
        out.append(
            {
                "expectation": cfg["type"],
                "column": cfg["kwargs"].get("column"),
                # the data column a message names: a derived flag's own column is ours, not the user's
                "about": meta["about"] if "about" in meta else cfg["kwargs"].get("column"),
                "severity": meta.get("severity", "critical"),
                "quarantine": bool(meta.get("quarantine", False)),
                "why": meta.get("why", ""),
                "rows": [_row(i) for i in res.get("unexpected_index_list") or []],
                "observed": res.get("observed_value", res.get("unexpected_percent")),
                "unexpected_count": res.get("unexpected_count"),
                "example_rows": [_row(i) for i in (res.get("partial_unexpected_index_list") or [])[:5]],
                "example_values": [str(v)[:120] for v in (res.get("partial_unexpected_list") or [])],
                "exception": (r.get("exception_info") or {}).get("exception_message"),
            }
        )
    return out


def _row(i: Any) -> Any:
    return next(iter(i.values())) if isinstance(i, dict) else i


def _compact(result: dict[str, Any]) -> dict[str, Any]:
    """The result without the full unexpected lists (they can be as long as the data)."""
    out = json.loads(json.dumps(result, default=str))
    for r in out["results"]:
        for key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            (r.get("result") or {}).pop(key, None)
    return out


def describe(outcome: SuiteOutcome, failure: dict[str, Any], columns: dict[str, str] | None = None) -> str:
    """One line in the user's words: the file, the column under the user's own name (`columns`
    maps ours, `text`/`label`, to theirs), the rule in plain words and what broke it. The
    expectation's name stays in the reports (summary.md, the Data Docs)."""
    column = failure["about"]
    col = f" column {(columns or {}).get(column, column)!r}:" if column else ""
    parts = [f"{outcome.source}:{col} {failure['why']}"]
    if failure["unexpected_count"] is not None:
        parts.append(f"{failure['unexpected_count']} rows unexpected")
    elif failure["observed"] is not None:
        parts.append(f"observed {failure['observed']}")
    if failure["example_rows"]:
        parts.append(f"example rows {failure['example_rows']} (record numbers in the source file)")
    if failure["example_values"]:
        parts.append(f"example values [{', '.join(clip(v, 80) for v in failure['example_values'])}]")
    if failure["exception"]:
        parts.append(failure["exception"])
    return "; ".join(parts)


def summary_markdown(outcomes: list[SuiteOutcome], extra: list[str] | None = None) -> str:
    lines = ["# Data validation", "", *(extra or [])]
    for o in outcomes:
        stats = o.result["statistics"]
        status = "FAILED" if o.critical else "passed"
        lines += [
            f"## {o.name} ({o.source}): {status}",
            "",
            f"{stats['successful_expectations']} of {stats['evaluated_expectations']} expectations met.",
            "",
        ]
        if o.failures:
            lines += ["| severity | expectation | column | detail |", "|---|---|---|---|"]
            for f in o.failures:
                detail = md_escape(describe(o, f).split("; ", 1)[-1])
                lines.append(f"| {f['severity']} | {f['expectation']} | {f['column'] or ''} | {detail} |")
            lines.append("")
    lines.append(
        "Full results: the JSON files beside this one; Great Expectations Data Docs: `data_docs/index.html` "
        "(they load their styles from a CDN; this file reads offline)."
    )
    return "\n".join(lines) + "\n"


def write_results(outcomes: list[SuiteOutcome], out_dir: Path, extra: list[str] | None = None) -> None:
    for o in outcomes:
        (out_dir / f"{o.name}.json").write_text(json.dumps(_compact(o.result), indent=2))
    (out_dir / "summary.md").write_text(summary_markdown(outcomes, extra))


def print_failures(stage: str, outcomes: list[SuiteOutcome], columns: dict[str, str] | None = None) -> bool:
    """Print every failure to stderr in the user's words (see describe); True when any is critical."""
    import sys

    for o in outcomes:
        for f in o.failures:
            print(f"{stage}: {f['severity']}: {describe(o, f, columns)}", file=sys.stderr)
    return any(o.critical for o in outcomes)
