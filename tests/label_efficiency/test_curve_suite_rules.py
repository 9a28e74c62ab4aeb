"""The development suite's candidate rules (benchmarks/curve_suite.py) read pack's token counts
and params.yaml, and must give the pre-training they were measured with."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "curve_suite.py"


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("curve_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _workspace(tmp_path: Path, set_tokens: int, wiki_tokens: int = 1_000_000) -> Path:
    """A workspace as pack leaves it: the labeled texts' and Wikipedia's token ranges, the defaults."""
    (tmp_path / "data" / "packed").mkdir(parents=True)
    segments = [["wikipedia", 0, wiki_tokens], ["labeled", wiki_tokens, wiki_tokens + set_tokens]]
    (tmp_path / "data" / "packed" / "meta.json").write_text(json.dumps({"train_segments": segments}))
    params = {
        "model": {"context_length": 128},
        "pretrain": {"batch_size": 32, "batch_tokens": None, "max_steps": 400, "warmup_steps": 40},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def test_pretrain_epochs_rule_stops_a_small_sets_lm_after_reading_its_text_e_times(suite, tmp_path):
    # amazon's 76,454 in-domain tokens, 4 epochs of 32 x 128-token windows: 75 steps, 10% warm-up
    assert suite.capped_steps(_workspace(tmp_path, 76_454), epochs=4) == (75, 8)


def test_pretrain_epochs_rule_keeps_the_default_steps_for_a_large_set(suite, tmp_path):
    # the tweets' 787,702 tokens would allow 769 steps: the default's 400 stay
    assert suite.capped_steps(_workspace(tmp_path, 787_702), epochs=4) == (400, 40)


def test_in_domain_epochs_rule_counts_only_the_sets_own_tokens(suite, tmp_path):
    # 4 x 76,454 of the 1,638,400 tokens 400 steps read; Wikipedia's million is not in-domain
    assert suite.in_domain_fraction(_workspace(tmp_path, 76_454), epochs=4) == 0.187
