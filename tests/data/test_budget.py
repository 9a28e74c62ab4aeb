from collections import Counter

import numpy as np
import pytest

from llmops.data.budget import budget_rows, stratified_order

# an imbalanced three-class train split: 60% / 30% / 10%
LABELS = ["pos"] * 600 + ["neg"] * 300 + ["neu"] * 100


@pytest.mark.parametrize("seed", [0, 1, 1337])
def test_budgets_are_nested_and_stratified(seed):
    rng = np.random.default_rng(seed)
    labels = list(rng.permutation(LABELS))
    previous: set[int] = set()
    for budget in (10, 30, 100, 300, 1000):
        rows = budget_rows(labels, budget, seed=seed)
        assert len(rows) == len(set(rows)) == budget
        assert previous <= set(rows), "a larger budget must contain the smaller one"
        counts = Counter(labels[i] for i in rows)
        for label, share in (("pos", 0.6), ("neg", 0.3), ("neu", 0.1)):
            assert abs(counts[label] - share * budget) <= 1.5, (budget, counts)
        previous = set(rows)


def test_the_draw_depends_on_the_seed_only():
    assert np.array_equal(stratified_order(LABELS, seed=3), stratified_order(LABELS, seed=3))
    assert set(budget_rows(LABELS, 100, seed=3)) != set(budget_rows(LABELS, 100, seed=4))
    assert np.array_equal(budget_rows(LABELS, None, seed=3), np.arange(len(LABELS)))


@pytest.mark.parametrize("budget", [2, 1001])
def test_a_budget_outside_the_split_is_refused_with_the_key_named(budget):
    with pytest.raises(ValueError, match=r"finetune.label_budget=\d+: must be between the number of classes \(3\)"):
        budget_rows(LABELS, budget, seed=0)
