"""The bad-input battery: every broken file stops at ingest or validate, before any training,
with a message naming the file, the row or column, and the rule; the source file is unchanged and
no output is left for DVC to cache. The stages run in-process (GX imports once)."""

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from llmops.config import write_params
from llmops.stages import ingest, validate
from llmops.stages.runner import run_main

from ..conftest import ROOT

GOOD = [
    (f"review number {i}: the {'ride was great' if i % 2 else 'traffic was awful'}", "pos" if i % 2 else "neg")
    for i in range(200)
]


def _csv(rows, header=("text", "label")) -> str:
    return pd.DataFrame(rows, columns=list(header)).to_csv(index=False)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copy2(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")  # each stage reads its declared params from it
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)

    def setup(name: str, content: str | bytes | None, *overrides: str):
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        write_params(
            ["data=files", f"data.labeled.path={name}", "data.corpus.include_default=false", *overrides],
            tmp_path / "params.yaml",
            tmp_path / "conf",
        )
        return path

    return setup


def run_gate(capsys, path):
    """ingest then validate; returns (failing stage or None, stderr)."""
    before = path.read_bytes() if path.exists() else None
    failed = None
    for stage, out in ((ingest, "data/raw"), (validate, "data/validated")):
        if run_main(stage.main) != 0:
            failed = stage.__name__.rsplit(".", 1)[-1]
            from pathlib import Path

            assert not Path(out).exists(), f"{stage.__name__} left {out} behind after failing"
            break
    if before is not None:
        assert path.read_bytes() == before, "the source file must be byte-for-byte unchanged"
    return failed, capsys.readouterr().err


CASES = {
    "missing_file": (None, [], "ingest", ["data.csv: file not found"]),
    "empty_file": (b"", [], "ingest", ["data.csv: file is empty"]),
    "unparseable": (
        '{"text": "ok", "label": "pos"}\n{"text": "broken\n',
        ["data.labeled.format=jsonl"],
        "ingest",
        ["line 2: not valid JSON"],
    ),
    "wrong_delimiter": (
        _csv(GOOD).replace(",", ";"),
        [],
        "ingest",
        ["text column 'text' not found", "separated by semicolons"],
    ),
    "text_column_missing": (
        _csv(GOOD, ("review", "label")),
        [],
        "ingest",
        ["text column 'text' not found", "columns are ['review', 'label']"],
    ),
    "label_column_missing": (_csv(GOOD, ("text", "stars")), [], "ingest", ["label column 'label' not found"]),
    "unknown_label": (
        _csv(GOOD[:150] + [("an odd one", "furious")] + GOOD[150:]),
        ["data.labels=[neg,pos]"],
        "validate",
        ["data.csv: column 'label': labels within the configured label set", "example rows [151]", "furious"],
    ),
    "single_class": (
        _csv([(t, "pos") for t, _ in GOOD]),
        [],
        "validate",
        ["data.csv: column 'label': at least two classes", "observed 1"],
    ),
    "null_texts": (
        _csv([(None if i % 10 == 0 else t, lab) for i, (t, lab) in enumerate(GOOD)]),
        [],
        "validate",
        [
            "column 'text': every row has a text",
            "above data.validation.max_rejected_share",
            "first rows [1, 11, 21",
        ],
    ),
    "empty_texts": (
        _csv([("   " if i % 10 == 0 else t, lab) for i, (t, lab) in enumerate(GOOD)]),
        [],
        "validate",
        ["no empty or whitespace-only text", "max_rejected_share"],
    ),
    "huge_text": (
        _csv(GOOD[:5] + [("x" * 1_000_001, "pos")] + GOOD[5:]),
        [],
        "validate",
        ["column 'text': no text over the hard cap", "example rows [6]"],
    ),
    "nul_bytes": (
        _csv(GOOD).encode().replace(b"review number 7:", b"review\x00number 7:"),
        [],
        "ingest",
        ["NUL byte at line 9", "binary"],
    ),
    "latin1_read_as_utf8": (
        _csv(GOOD[:3] + [("café crème", "pos")] + GOOD[3:]).encode("latin-1"),
        ["data.labeled.encoding=utf-8"],
        "ingest",
        ["not valid utf-8 at byte", "(line 5)", "encoding=auto"],
    ),
    "utf16_read_as_utf8": (
        _csv(GOOD).encode("utf-16"),
        ["data.labeled.encoding=utf-8"],
        "ingest",
        ["not valid utf-8 at byte 0 (line 1)", "utf-16 byte-order mark"],
    ),
    "repeated_header_row": (
        _csv(GOOD[:50] + [("text", "label")] + GOOD[50:]),
        [],
        "validate",
        ["a header row repeated inside the data", "example rows [51]"],
    ),
    "mixed_label_types": (
        _csv([(t, "1" if i == 0 else lab) for i, (t, lab) in enumerate(GOOD)]),
        [],
        "ingest",
        ["column 'label' mixes numeric and text labels", "row 1: '1'", "row 2: 'pos'"],
    ),
    "too_few_rows_per_class": (
        _csv(GOOD + [("a rare one", "meh"), ("another rare one", "meh")]),
        [],
        "validate",
        ["column 'label': each class needs at least 10 rows", "example rows [201, 202]"],
    ),
    "held_out_text_in_train": (
        _csv(
            [(t, lab, "test" if i < 20 else ("val" if i < 40 else "train")) for i, (t, lab) in enumerate(GOOD)]
            + [(GOOD[3][0], GOOD[3][1], "train")],
            ("text", "label", "split"),
        ),
        ["data.labeled.split_column=split"],
        "validate",
        ["column 'text': no val/test text may appear in the train split", "example rows [4]"],
    ),
    "mostly_duplicates": (
        _csv(GOOD[:20] * 10),
        [],
        "validate",
        ["share of distinct texts >= 0.9, i.e. at most 10% duplicates", "observed 0.1"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_stops_before_training_with_a_clear_message(case, workspace, capsys):
    content, overrides, stage, fragments = CASES[case]
    path = workspace("data.csv", content, *overrides)
    failed, err = run_gate(capsys, path)
    assert failed == stage, err
    assert "data.csv" in err, err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in:\n{err}"


def _parquet(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        (  # fractional labels: neither class names nor class ids
            "data.parquet",
            _parquet(
                pd.DataFrame({"text": [t for t, _ in GOOD], "label": [0.1 if i % 2 else 1.5 for i in range(200)]})
            ),
            "row 1: label column 'label' holds 1.5, a fraction",
        ),
        (  # a numeric text column (the wrong column picked): cleaning would drop rows without a gate
            "data.parquet",
            _parquet(pd.DataFrame({"text": list(range(200)), "label": [lab for _, lab in GOOD]})),
            "row 1: text column 'text' holds 0 (int), not text",
        ),
        (  # one number among the texts
            "data.jsonl",
            _jsonl([{"text": t if i != 7 else 1234, "label": lab} for i, (t, lab) in enumerate(GOOD)]),
            "row 8: text column 'text' holds 1234 (int), not text",
        ),
    ],
    ids=["parquet_float_labels", "parquet_integer_texts", "jsonl_one_integer_text"],
)
def test_typed_files_with_numbers_where_text_belongs_stop_at_ingest(name, content, fragment, workspace, capsys):
    path = workspace(name, content)
    failed, err = run_gate(capsys, path)
    assert failed == "ingest", err
    assert name in err and fragment in err, err


def test_val_test_text_in_the_corpus_is_leakage(workspace, capsys, tmp_path):
    rows = [(t, lab, "test" if i < 20 else "train") for i, (t, lab) in enumerate(GOOD)]
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"text": GOOD[5][0]}) + "\n")
    path = workspace(
        "data.csv",
        _csv(rows, ("text", "label", "split")),
        "data.labeled.split_column=split",
        "data.corpus.paths=[corpus.jsonl]",
    )
    failed, err = run_gate(capsys, path)
    assert failed == "validate" and "column 'text': no val/test text may appear" in err and "example rows [6]" in err


@pytest.mark.parametrize(
    "case", ["quoted_newlines", "utf8_bom", "latin1_auto", "utf16_auto", "tsv", "jsonl_ints", "bare_cr", "crlf"]
)
def test_awkward_but_valid_input_parses(case, workspace, capsys, tmp_path):
    rows = list(GOOD)
    rows[4] = ('she said "stop",\nthen "go"', "pos")
    name, overrides = "data.csv", []
    content: str | bytes = _csv(rows)
    if case == "utf8_bom":
        content = "\ufeff" + _csv(rows)
    elif case == "latin1_auto":
        rows[2] = ("café crème brûlée", "pos")
        content = _csv(rows).encode("latin-1")
    elif case == "utf16_auto":
        content = _csv(rows).encode("utf-16")
    elif case == "tsv":
        name, content = "data.tsv", pd.DataFrame(rows, columns=["text", "label"]).to_csv(sep="\t", index=False)
    elif case == "bare_cr":  # pandas writes a bare \r unquoted; it is text, not a line break
        rows[6] = ("first half\rsecond half", "neg")
        content = _csv(rows)
    elif case == "crlf":
        content = pd.DataFrame(rows, columns=["text", "label"]).to_csv(index=False, lineterminator="\r\n")
    elif case == "jsonl_ints":
        name = "data.jsonl"
        content = "".join(json.dumps({"text": t, "label": int(lab == "pos")}) + "\n" for t, lab in rows)
    path = workspace(name, content, *overrides)
    failed, err = run_gate(capsys, path)
    assert failed is None, err
    raw = pd.read_parquet(tmp_path / "data/raw/labeled.parquet")
    assert len(raw) == 200 and list(raw.columns) == ["row", "text", "label", "split", "source"]
    assert raw.loc[4, "text"] == 'she said "stop",\nthen "go"'
    if case == "latin1_auto":
        assert raw.loc[2, "text"] == "café crème brûlée"
    if case == "bare_cr":
        assert raw.loc[6, "text"] == "first half\rsecond half"
    if case == "crlf":
        assert raw.loc[7, "label"] == GOOD[7][1] and not raw["label"].str.endswith("\r").any()
    if case == "jsonl_ints":
        assert set(raw["label"]) == {"0", "1"}
    manifest = json.loads((tmp_path / "data/raw/manifest.json").read_text())
    assert manifest["sources"][0]["encoding"] in ("utf-8", "utf-8-sig", "utf-16", "binary") or case == "latin1_auto"


def test_a_batch_beside_a_latin1_source_keeps_its_accents_while_the_source_is_repaired(workspace, capsys, tmp_path):
    """data.labeled.encoding=latin-1 names the source's encoding: its UTF-8 read as Latin-1 is
    repaired in preprocess. A labeled batch is decoded on its own (here UTF-8), and the same
    repair would turn its "é" into a space, so it gets none."""
    from llmops.stages import preprocess

    rows = list(GOOD)
    rows[2] = ("café crème brûlée, number two", "pos")
    batch = tmp_path / "data/batches/w49.csv"
    batch.parent.mkdir(parents=True)
    visits = [f"naïve café {' '.join(str(i * 7919 + k * 104729) for k in range(5))}" for i in range(20)]
    batch.write_text(_csv([(text, "pos" if i % 2 else "neg") for i, text in enumerate(visits)]))
    path = workspace(
        "data.csv",
        _csv(rows).encode("utf-8"),
        "data.labeled.encoding=latin-1",
        "data.labeled.batches=[data/batches/w49.csv]",
    )
    failed, err = run_gate(capsys, path)
    assert failed is None, err
    assert run_main(preprocess.main) == 0, capsys.readouterr().err
    texts = set(
        pd.concat(pd.read_parquet(tmp_path / f"data/processed/{s}.parquet") for s in ("train", "val", "test"))["text"]
    )
    assert "café crème brûlée, number two" in texts  # the source: "cafÃ©" repaired
    assert set(visits) <= texts  # the batch: untouched


def test_a_few_bad_rows_are_quarantined_with_a_reason(workspace, capsys, tmp_path):
    rows = [(None if i in (3, 77) else ("  " if i == 120 else t), lab) for i, (t, lab) in enumerate(GOOD)]
    path = workspace("data.csv", _csv(rows))
    failed, err = run_gate(capsys, path)
    assert failed is None, err
    rejected = pd.read_parquet(tmp_path / "data/validated/rejected.parquet")
    assert rejected["row"].tolist() == [4, 78, 121]
    assert "every row has a text" in rejected["reason"].iloc[0] and "whitespace" in rejected["reason"].iloc[2]
    assert len(pd.read_parquet(tmp_path / "data/validated/labeled.parquet")) == 197
    assert "Quarantined rows:** 3" in (tmp_path / "reports/validation/summary.md").read_text()


def _unclosed_quotes(n_rows: int, opened_at: list[int], spans: int) -> str:
    """A CSV of n_rows distinct records where a quote opened at each record in `opened_at` closes
    `spans` lines later: every record in between is swallowed into one text."""
    lines = ["text,label"]
    closing = {start + spans for start in opened_at}
    for i in range(1, n_rows + 1):
        text = f"review number {i}: the {'ride was great' if i % 2 else 'traffic was awful'}"
        lines.append(
            f'"{text} opens a quote,{"pos" if i % 2 else "neg"}'
            if i in opened_at
            else (f'{text} closes it",pos' if i in closing else f"{text},{'pos' if i % 2 else 'neg'}")
        )
    return "\n".join(lines) + "\n"


def test_an_unclosed_quote_that_swallows_records_is_reported_and_quarantined(workspace, capsys, tmp_path):
    path = workspace("data.csv", _unclosed_quotes(600, opened_at=[200], spans=51))
    failed, err = run_gate(capsys, path)
    assert failed is None, err  # one such row of 549: a warning, the row quarantined
    assert len(pd.read_parquet(tmp_path / "data/raw/labeled.parquet")) == 549  # what the parser made of 600
    source = json.loads((tmp_path / "data/raw/manifest.json").read_text())["sources"][0]  # the labeled file
    assert (source["rows"], source["lines"], source["multiline_texts"], source["line_breaks_in_texts"]) == (
        549,
        601,
        1,
        51,
    )
    rejected = pd.read_parquet(tmp_path / "data/validated/rejected.parquet")
    assert rejected["row"].tolist() == [200] and "max_text_lines=20 lines" in rejected["reason"].iloc[0]
    summary = (tmp_path / "reports/validation/summary.md").read_text()
    assert "max_text_lines=20 lines" in summary and "200" in summary
    assert (
        run_main(ingest.main) == 0 and "549 records over 601 lines; 1 of them span 52 lines" in capsys.readouterr().out
    )


def test_a_short_unclosed_quote_is_caught_by_the_records_inside_the_text(workspace, capsys, tmp_path):
    # 4 lines: under max_text_lines, but the swallowed lines still end like records (",neg")
    path = workspace("data.csv", _unclosed_quotes(600, opened_at=[300], spans=4))
    failed, err = run_gate(capsys, path)
    assert failed is None, err
    assert len(pd.read_parquet(tmp_path / "data/raw/labeled.parquet")) == 596
    rejected = pd.read_parquet(tmp_path / "data/validated/rejected.parquet")
    assert rejected["row"].tolist() == [300] and "ends like a record" in rejected["reason"].iloc[0]


def test_a_multi_line_text_that_holds_no_record_passes(workspace, capsys, tmp_path):
    rows = [(f"line one of review {i},\nline two, pos or neg?\nend", "pos" if i % 2 else "neg") for i in range(200)]
    failed, err = run_gate(capsys, workspace("data.csv", _csv(rows)))
    assert failed is None, err
    assert (
        not (tmp_path / "data/validated/rejected.parquet").exists()
        or pd.read_parquet(tmp_path / "data/validated/rejected.parquet").empty
    )


def test_many_swallowed_records_stop_at_validate(workspace, capsys):
    path = workspace("data.csv", _unclosed_quotes(600, opened_at=[100, 200, 300, 400, 500], spans=30))
    failed, err = run_gate(capsys, path)
    assert failed == "validate" and "of texts over 20 lines" in err, err


def test_preprocess_refusal_names_each_key_and_the_value_that_keeps_the_rows(workspace, capsys, tmp_path):
    from llmops.stages import preprocess

    # 60 distinct two-letter texts (shorter than data.preprocess.min_chars, 3) and 40 of 600
    # characters (longer than the max_chars set here): valid rows the length rules drop
    short = [
        (a + b, "pos" if i % 2 else "neg")
        for i, (a, b) in enumerate(zip("abcdefghij" * 6, ("klmnopqrstuvwxyz" * 4)[:60], strict=True))
    ]
    long = [(f"{i:03d} " + "word " * (119 + i % 3), "pos" if i % 2 else "neg") for i in range(40)]
    overrides = ("data.validation.max_dropped_share=0.2", "data.preprocess.max_chars=500")
    path = workspace("data.csv", _csv(GOOD + short + long), *overrides)
    failed, err = run_gate(capsys, path)
    assert failed is None, err
    assert run_main(preprocess.main) == 1
    err = capsys.readouterr().err
    golden = (
        "preprocess: error: data/validated/labeled.parquet: cleaning and dedup would drop 100 of 300 rows "
        "(33% > data.validation.max_dropped_share=0.2): 40 longer than data.preprocess.max_chars=500 "
        "(keeping them needs data.preprocess.max_chars >= 608, or null for no limit); 60 shorter than "
        "data.preprocess.min_chars=3 (data.preprocess.min_chars=1 keeps every non-empty text). To keep them: "
        'make repro OVERRIDES="data=files data.labeled.path=data.csv data.corpus.include_default=false '
        'data.validation.max_dropped_share=0.2 data.preprocess.max_chars=700 data.preprocess.min_chars=1"\n'
    )
    assert err == golden, err
    assert not (tmp_path / "data/processed").exists()


def test_validate_refusal_names_the_length_limit_that_keeps_the_rows(workspace, capsys):
    long = [(f"{i:03d} " + "word " * 130, "pos" if i % 2 else "neg") for i in range(30)]  # 654 characters
    path = workspace("data.csv", _csv(GOOD + long), "data.validation.max_chars=500")
    failed, err = run_gate(capsys, path)
    assert failed == "validate", err
    assert "above data.validation.max_rejected_share=5%" in err, err
    assert "text length within data.validation.min_chars=1 and max_chars=500" in err, err
    assert 'To keep them: make repro OVERRIDES="data=files data.labeled.path=data.csv' in err, err
    assert 'data.validation.max_chars=700"' in err, err


def test_own_data_keeps_long_texts_through_preprocess_and_reads_them_whole(workspace, capsys, tmp_path):
    """data=files: 2,000+ character texts are not dropped for their length, and fine-tuning's
    max_length follows their token lengths (up to the model's context)."""
    from llmops.stages import preprocess

    long = [
        (
            f"review {i}: " + ("the ride was great " if i % 2 else "the traffic was awful ") * 110,
            "pos" if i % 2 else "neg",
        )
        for i in range(150)
    ]
    path = workspace("data.csv", _csv(GOOD + long))
    failed, err = run_gate(capsys, path)
    assert failed is None, err
    assert run_main(preprocess.main) == 0, capsys.readouterr().err
    stats = json.loads((tmp_path / "data/processed/stats.json").read_text())
    assert stats["dropped_long"] == 0 and stats["dropped_short"] == 0, stats
    kept = pd.concat(pd.read_parquet(tmp_path / f"data/processed/{s}.parquet") for s in ("train", "val", "test"))
    assert (kept["text"].str.len() >= 2000).sum() > 100, kept["text"].str.len().describe()


def test_hf_source_offline_fails_at_once(workspace, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    write_params(
        ["data=hf", "data.hf.name=llmops-test/no-such-dataset", "data.corpus.include_default=false"],
        tmp_path / "params.yaml",
        tmp_path / "conf",
    )
    start = time.perf_counter()
    assert run_main(ingest.main) == 1
    err = capsys.readouterr().err
    assert time.perf_counter() - start < 60
    assert "hf dataset 'llmops-test/no-such-dataset'" in err and "HF_HUB_OFFLINE=1" in err


@pytest.mark.parametrize(
    "content",
    [b"x" * 5_000_000, _csv(GOOD[:5] + [("y" * 2_000_000, "pos")] + GOOD[5:]).encode()],
    ids=["one_5MB_line", "one_2MB_text"],
)
def test_an_error_quotes_at_most_200_characters_of_user_data(content, workspace, capsys):
    path = workspace("data.csv", content)
    failed, err = run_gate(capsys, path)
    assert failed in ("ingest", "validate") and "data.csv" in err, err[:2000]
    assert max(len(line) for line in err.splitlines()) < 1500, "a line of the error quotes too much data"


def test_a_script_in_the_data_is_text_in_every_report(workspace, capsys, tmp_path):
    """A label `<script>` (stored XSS): the Data Docs page of the failed suite and summary.md show it
    escaped; the console message quotes it as it is."""
    payload = "<script>alert(2)</script>"
    path = workspace("data.csv", _csv(GOOD[:150] + [("an odd one", payload)] + GOOD[150:]), "data.labels=[neg,pos]")
    failed, err = run_gate(capsys, path)
    assert failed == "validate" and payload in err
    pages = list((tmp_path / "reports").rglob("*.html"))
    assert pages and not [p for p in pages if payload in p.read_text()]
    assert any("&lt;script&gt;alert(2)" in p.read_text() for p in pages), "the value is shown, escaped"
    summary = (tmp_path / "reports/validation/summary.md").read_text()
    assert payload not in summary and "&lt;script&gt;alert(2)&lt;/script&gt;" in summary


def test_a_data_path_outside_the_workspace_is_refused_unless_allowed(workspace, capsys, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.csv"
    outside.write_text(_csv(GOOD))
    link = tmp_path / "inside-link.csv"  # a symlink inside that points outside is outside too
    link.symlink_to(outside)
    for given in (f"../{outside.name}", link.name):
        workspace(given, None)
        assert run_main(ingest.main) != 0
        err = capsys.readouterr().err
        assert f"data.labeled.path={given}: resolves to {outside}, outside the workspace" in err, err
        assert "data.allow_outside_paths=true" in err and not (tmp_path / "data/raw").exists()
    workspace(f"../{outside.name}", None, "data.allow_outside_paths=true")
    assert run_main(ingest.main) == 0, capsys.readouterr().err


def test_a_renamed_label_column_is_named_as_the_user_named_it(workspace, capsys):
    """One class in a label column called `sentiment`: the message names `sentiment` and the rule in
    plain words; the expectation's name stays in the reports."""
    content = _csv([(t, "pos") for t, _ in GOOD], ("review", "sentiment"))
    path = workspace("data.csv", content, "data.labeled.text_column=review", "data.labeled.label_column=sentiment")
    failed, err = run_gate(capsys, path)
    assert failed == "validate", err
    assert "data.csv: column 'sentiment': at least two classes; observed 1" in err, err
    assert "expect_" not in err and "Expect" not in err and "'label'" not in err, err
    assert "expect_column_unique_value_count_to_be_between" in Path("reports/validation/summary.md").read_text()
