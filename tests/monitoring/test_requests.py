"""The request log of `llmops serve`: whole lines for a reader in another process, rotation by size
and day, the --since window, and sha256-only logging."""

import hashlib
import json
import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest

from llmops.errors import StageError
from llmops.monitoring import requests

PROBS = {"negative": 0.2, "neutral": 0.3, "positive": 0.5}
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_records_come_back_in_order_across_rotated_files(tmp_path):
    log = requests.RequestLog(tmp_path, model="m/3", max_bytes=400)
    for i in range(10):
        log.write([f"text {i}", f"more {i}"], [PROBS, PROBS], now=NOW + timedelta(seconds=i))
    log.close()
    assert len(list(tmp_path.glob("requests-20261202-*.jsonl"))) > 3  # rotated by size, none renamed
    got = requests.read(tmp_path, since=timedelta(hours=1), now=NOW + timedelta(minutes=1))
    assert got["text"].tolist() == [t for i in range(10) for t in (f"text {i}", f"more {i}")]
    assert set(got["model"]) == {"m/3"} and got["prob_positive"].tolist() == [0.5] * 20


def test_since_keeps_the_window_and_a_new_day_starts_a_new_file(tmp_path):
    log = requests.RequestLog(tmp_path, model="m/1")
    log.write(["old"], [PROBS], now=NOW - timedelta(days=8))
    log.write(["recent"], [PROBS], now=NOW - timedelta(days=2))
    log.write(["today"], [PROBS], now=NOW)
    assert len(list(tmp_path.glob("requests-*.jsonl"))) == 3
    assert requests.read(tmp_path, requests.parse_since("7d"), now=NOW)["text"].tolist() == ["recent", "today"]
    assert requests.read(tmp_path, requests.parse_since("1h"), now=NOW)["text"].tolist() == ["today"]
    with pytest.raises(StageError, match="no requests logged since"):
        requests.read(tmp_path, requests.parse_since("30m"), now=NOW + timedelta(hours=2))


def test_hash_only_logging_keeps_no_text(tmp_path):
    requests.RequestLog(tmp_path, model="m/1", log_text=False).write(["secret text"], [PROBS], now=NOW)
    raw = next(tmp_path.glob("*.jsonl")).read_text()
    assert "secret" not in raw
    got = requests.read(tmp_path, timedelta(days=1), now=NOW)
    assert got["text"].isna().all() and got["text_sha256"][0] == hashlib.sha256(b"secret text").hexdigest()


def test_a_line_still_being_written_is_skipped_and_a_broken_one_is_named(tmp_path):
    requests.RequestLog(tmp_path, model="m/1").write(["whole"], [PROBS], now=NOW)
    path = next(tmp_path.glob("*.jsonl"))
    with open(path, "a") as f:
        f.write('{"time": "2026-12-02T12:00:00')  # a writer mid-record
    assert requests.read(tmp_path, timedelta(days=1), now=NOW)["text"].tolist() == ["whole"]
    with open(path, "a") as f:
        f.write("\n")
    with pytest.raises(StageError, match=r"requests-20261202-0000.jsonl: line 2 is not a JSON record"):
        requests.read(tmp_path, timedelta(days=1), now=NOW)


@pytest.mark.parametrize("bad", ["7", "7x", "d", "-1d"])
def test_since_must_be_a_number_and_a_unit(bad):
    with pytest.raises(StageError, match="expected a number and a unit"):
        requests.parse_since(bad)


def _serve_many(folder, n):
    log = requests.RequestLog(folder, model="m/1", max_bytes=20_000)
    for i in range(n):
        log.write([f"request {i} " + "x" * (i % 97)] * 3, [PROBS] * 3)


def test_a_reader_in_another_process_never_sees_half_a_record(tmp_path):
    writer = multiprocessing.get_context("spawn").Process(target=_serve_many, args=(tmp_path, 3000))
    writer.start()
    seen = 0
    while writer.is_alive() or not seen:
        if list(tmp_path.glob("*.jsonl")):
            try:
                got = requests.read(tmp_path, timedelta(days=1))
            except StageError as err:  # only "nothing logged yet" is allowed
                assert "no requests logged" in str(err)
                continue
            assert got["text"].str.startswith("request ").all()  # whole records only
            seen = max(seen, len(got))
    writer.join()
    assert writer.exitcode == 0 and len(requests.read(tmp_path, timedelta(days=1))) == 9000 >= seen
    assert all(json.loads(line) for p in tmp_path.glob("*.jsonl") for line in p.read_text().splitlines())


def test_serve_logs_where_params_yaml_says_unless_the_command_line_names_a_folder(tmp_path, monkeypatch):
    """monitoring.request_log and monitoring.log_text are config keys no stage reads: the params
    check accepts them and `llmops serve` (and `llmops drift --requests` without DIR) reads them."""
    from pathlib import Path

    import yaml

    from llmops import cli
    from llmops.config import compose, is_read
    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)
    assert cli._request_log(None) is None  # outside a workspace: no log unless asked
    default = compose([], ROOT / "conf")["monitoring"]
    assert default["request_log"] is None and default["log_text"] is True  # opt-in
    params = compose(["monitoring.request_log=logs/requests", "monitoring.log_text=false"], ROOT / "conf")
    Path("params.yaml").write_text(yaml.safe_dump(params))
    assert cli._request_log(None) == Path("logs/requests") and cli._monitoring("log_text", True) is False
    assert cli._request_log("elsewhere") == Path("elsewhere")
    assert is_read("monitoring.request_log", ROOT / "dvc.yaml") and is_read("monitoring.log_text", ROOT / "dvc.yaml")
