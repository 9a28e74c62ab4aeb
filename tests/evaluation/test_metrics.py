import numpy as np
import pytest

from llmops.evaluation.metrics import classification_metrics, confusion


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
    assert confusion(y, p, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_absent_class_counts_as_zero_not_error():
    m = classification_metrics(np.array([0, 0]), np.array([0, 0]), 2)
    assert m["f1_macro"] == pytest.approx(0.5)
