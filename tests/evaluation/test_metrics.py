import numpy as np
import pytest

from llmops.evaluation.metrics import classification_metrics, macro_f1


def test_metrics_match_hand_computation():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    m = classification_metrics(y, p, 3, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    # class a: P=1/2 R=1/2; b: P=2/3 R=1; c: P=1 R=1/2
    assert m["precision_macro"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert m["recall_macro"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert m["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert m["per_class"]["c"]["support"] == 2
    assert macro_f1(y, p, 3) == pytest.approx(classification_metrics(y, p, 3)["f1_macro"])


def test_absent_class_counts_as_zero_not_error():
    m = classification_metrics(np.array([0, 0]), np.array([0, 0]), 2)
    assert m["f1_macro"] == pytest.approx(0.5)


def test_paired_bootstrap_interval_covers_the_observed_difference_and_shrinks_with_more_rows():
    from llmops.evaluation.metrics import macro_f1, paired_bootstrap_f1_diff

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 3000)
    better = np.where(rng.random(3000) < 0.8, y, rng.integers(0, 3, 3000))
    worse = np.where(rng.random(3000) < 0.6, y, rng.integers(0, 3, 3000))
    observed = macro_f1(y, better, 3) - macro_f1(y, worse, 3)
    assert abs(macro_f1(y, better, 3) - classification_metrics(y, better, 3)["f1_macro"]) < 1e-12
    low, high = paired_bootstrap_f1_diff(y, better, worse, 3, seed=0)
    assert 0 < low < observed < high
    small_low, small_high = paired_bootstrap_f1_diff(y[:300], better[:300], worse[:300], 3, seed=0)
    assert small_high - small_low > 2 * (high - low)
    same = paired_bootstrap_f1_diff(y, better, better, 3, seed=0)
    assert same == (0.0, 0.0)
