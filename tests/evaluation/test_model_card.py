"""The model card rendered from fixture facts with sentinel values: every number comes from the
facts, none from the template, and nothing is left unfilled."""

import copy

import numpy as np
import pytest

from llmops.evaluation.model_card import SUMMARY_CHARS, bootstrap_intervals, pretraining_advice, render, summary

LABELS = ["negative", "neutral", "positive"]
PER_CLASS = {
    "negative": {"precision": 0.8111, "recall": 0.8222, "f1": 0.8166, "support": 50},
    "neutral": {"precision": 0.7111, "recall": 0.7222, "f1": 0.7166, "support": 40},
    "positive": {"precision": 0.5111, "recall": 0.5222, "f1": 0.5166, "support": 10},
}
CI = {"precision": [0.4001, 0.6002], "recall": [0.4003, 0.6004], "f1": [0.4005, 0.6006]}


@pytest.fixture
def facts():
    metrics = {
        "accuracy": 0.6789,
        "f1_macro": 0.4321,
        "precision_macro": 0.5555,
        "recall_macro": 0.5556,
        "per_class": PER_CLASS,
        "baseline_majority_accuracy": 0.5,
        "baseline_majority_f1_macro": 0.2222,
        "baseline_tfidf_accuracy": 0.6,
        "baseline_tfidf_f1_macro": 0.4111,
        "tfidf_margin_f1": 0.021,
        "tfidf_margin_f1_ci95": [-0.0123, 0.0456],
        "scratch_accuracy": 0.55,
        "scratch_f1_macro": 0.3333,
        "pretrain_gain_f1": 0.0988,
        "pretrain_gain_f1_ci95": [0.0511, 0.1466],
        "n_test": 100,
        "init": "pretrained",
    }
    return copy.deepcopy(
        {
            "model_name": "reviews-classifier",
            "task": "data/reviews.csv",
            "labels": LABELS,
            "metrics": metrics,
            "intervals": {
                "accuracy": [0.6001, 0.7501],
                "f1_macro": [0.3777, 0.4888],
                "per_class": {lab: CI for lab in LABELS},
                "rounds": 1000,
            },
            "confusion": [[41, 5, 4], [6, 29, 5], [2, 3, 5]],
            "data": {
                "sources": [{"file": "reviews.csv", "role": "labeled", "rows": 120, "sha256": "ab" * 32}],
                "fingerprint": "cd" * 32,
                "split_sizes": {"train": 800, "val": 100, "test": 100},
                "class_balance": {"negative": 400, "neutral": 320, "positive": 80},
                "dropped": {"duplicate_rows": 17, "conflicting_rows": 3},
            },
            "params": {
                "hyperparameters": {
                    "model.n_layers": 2,
                    "model.d_model": 64,
                    "model.context_length": 64,
                    "pretrain.max_steps": 30,
                    "finetune.lr": 0.001,
                    "finetune.checkpoint": None,
                },
                "seed": 1337,
                "precision": "32-true",
            },
            "learning_curve": {
                "budgets": [40],
                "f1_macro@40": 0.3131,
                "scratch_f1_macro@40": 0.2929,
                "pretrain_gain_f1@40": 0.0202,
                "pretrain_gain_f1@40_ci95": [-0.0303, 0.0707],
            },
            "drift": {
                "settings": {"n": 432, "seed": 0, "min_n": 100, "min_labels": 234, "label_sample": 100},
                "rows": {"reference": 1728, "validation": 1728},
                "thresholds": {
                    "labeled": {"domain_auc": 0.5678, "label_js": 0.1},
                    "unlabeled": {"domain_auc": 0.5789, "label_js": 0.1},
                },
                "floors": {"domain_auc": 0.55, "label_js": 0.1},
            },
            "pretraining": {"in_domain_tokens": 76543, "in_domain_epochs": 21.4},
            "reading": {
                "max_length": 128,
                "rule": "auto: train texts' 99th percentile 231 tokens, model context 128",
                "truncation": "head_tail",
                "cut_share": 0.0371,
                "read_share": 0.8766,
                "median_tokens": 97.0,
            },
            "non_ascii_share": 0.0123,
            "lineage": {"evaluate MLflow run": "run0123456789", "git commit": "f" * 40},
            "registry": {"registered": True, "version": 3, "decision": "challenger", "reason": "below the champion"},
        }
    )


def test_every_number_comes_from_the_facts_and_nothing_is_left_unfilled(facts):
    from huggingface_hub import ModelCard

    card = render(facts)
    assert "{{" not in card and "[More Information Needed]" not in card
    for sentinel in ("0.4321", "[-0.0123, +0.0456]", "0.6789", "[0.3777, 0.4888]", "3.7%", "reviews-classifier v3"):
        assert sentinel in card, sentinel
    # the interval holds 0: the limitation says so, from the numbers
    assert "not measurably better than TF-IDF" in card
    assert "The weakest class is `positive`" in card and "80" in card
    assert "| 40 | 0.3131 | 0.2929 | +0.0202 | [-0.0303, +0.0707] |" in card  # the learning curve row
    assert "| `negative` | 41 | 5 | 4 |" in card  # the confusion matrix
    assert "| `domain_auc` | 0.5678 | 0.5789 | 0.5500 |" in card and "432 rows" in card and "234 labels" in card
    assert "up to 128 tokens" in card and "99th percentile 231 tokens" in card and "87.7% of a test text" in card
    assert "their first 31 and last 96 tokens" in card
    # the model-index the Hub reads: the same figures in the YAML front matter
    parsed = {r.metric_type: r.metric_value for r in ModelCard(card).data.eval_results}
    assert parsed == {"accuracy": 0.6789, "f1": 0.4321}


def test_a_changed_fact_changes_the_card(facts):
    before = render(facts)
    facts["metrics"]["tfidf_margin_f1_ci95"] = [0.0101, 0.0456]
    facts["metrics"]["per_class"]["neutral"]["f1"] = 0.1234
    after = render(facts)
    assert after != before
    assert "better than TF-IDF: macro-F1 margin +0.0210" in after and "not measurably better than TF-IDF" not in after
    assert "The weakest class is `neutral`" in after


def test_a_model_without_a_drift_reference_says_so(facts):
    facts["drift"] = None
    assert "No drift reference was built for this model" in render(facts)


def test_an_unregistered_model_and_the_copy_logged_before_the_gate_say_so(facts):
    facts["registry"] = {"registered": False, "reason": "tracking.register=false"}
    assert "not registered (tracking.register=false)" in render(facts)
    facts["registry"] = None
    assert "the version's gate_decision tag" in render(facts)


def test_the_summary_fits_a_registry_description(facts):
    assert summary(facts).startswith("reviews-classifier: test macro-F1 0.4321 [0.3777, 0.4888]")
    facts["lineage"] = {f"key{i}": "x" * 100 for i in range(100)}
    assert len(summary(facts)) == SUMMARY_CHARS


def test_bootstrap_intervals_hold_the_point_estimate_and_repeat_with_the_seed():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 3, 300))
    a = bootstrap_intervals(y, pred, LABELS, seed=1, rounds=300)
    assert a == bootstrap_intervals(y, pred, LABELS, seed=1, rounds=300)
    low, high = a["f1_macro"]
    from sklearn.metrics import f1_score

    assert low < f1_score(y, pred, average="macro") < high
    assert bootstrap_intervals(y, y, LABELS, seed=1, rounds=50)["per_class"]["neutral"]["f1"] == [1.0, 1.0]


def test_a_gain_that_holds_zero_at_the_fewest_labels_says_how_much_own_text_the_lm_read(facts):
    card = render(facts)  # the fixture's curve: +0.0202 [-0.0303, +0.0707] at 40 labels
    assert "At 40 labels the pre-trained init is not measurably better than random init" in card
    assert "76,543 tokens of the task's own text, each read 21.4 times" in card and "data.corpus.paths" in card
    curve = facts["learning_curve"]
    assert pretraining_advice({**curve, "pretrain_gain_f1@40_ci95": [0.01, 0.07]}, facts["pretraining"]) is None
    below = pretraining_advice({**curve, "pretrain_gain_f1@40_ci95": [-0.09, -0.01]}, None)
    assert below.startswith("At 40 labels the pre-trained init is below random init") and "own text" not in below
    assert pretraining_advice(None, facts["pretraining"]) is None  # no curve: nothing measured, nothing said
    assert "under the 400 k tokens" not in pretraining_advice(curve, {"in_domain_tokens": 785_000})


def test_labels_are_code_in_the_card_and_a_pipe_in_one_does_not_split_a_table(facts):
    odd = ["<b>neg</b>", "a|b", "it`s"]
    facts["labels"] = odd
    for old, new in zip(LABELS, odd, strict=True):
        facts["metrics"]["per_class"][new] = facts["metrics"]["per_class"].pop(old)
        facts["intervals"]["per_class"][new] = facts["intervals"]["per_class"].pop(old)
        facts["data"]["class_balance"][new] = facts["data"]["class_balance"].pop(old)
    card = render(facts)
    assert "| `<b>neg</b>` | 41 | 5 | 4 |" in card  # in a code span: shown as typed, never rendered
    assert "| `a\\|b` | 6 | 29 | 5 |" in card and "| `` it`s `` | 2 | 3 | 5 |" in card
    matrix = card.split("Confusion matrix")[1].split("\n\n")[1].splitlines()
    assert {line.replace("\\|", "").count("|") for line in matrix} == {5}  # 4 cells per row, all rows
