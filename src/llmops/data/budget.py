"""Label budgets: a stratified subset of N train rows, nested across N for a given seed (the
300-row subset holds the 100-row one), so the points of a learning curve differ only by the
labels added, not by a fresh draw."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def stratified_order(labels: Sequence[str], seed: int) -> np.ndarray:
    """Row indices ordered so that every prefix is a stratified sample: each class's rows are
    shuffled (seeded), the r-th of a class of n rows gets the key (r + u) / n with u uniform in
    [0, 1), and rows are sorted by key. A prefix of length N then holds each class in proportion to
    its share, within one row, and a longer prefix contains a shorter one."""
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 7919])  # its own stream: independent of the training seed's uses
    keys = np.empty(len(labels))
    for label in np.unique(labels):  # sorted: the same order whatever the row order of the classes
        rows = np.flatnonzero(labels == label)
        rows = rows[rng.permutation(len(rows))]
        keys[rows] = (np.arange(len(rows)) + rng.random(len(rows))) / len(rows)
    return np.argsort(keys, kind="stable")


def budget_rows(labels: Sequence[str], budget: int | None, seed: int) -> np.ndarray:
    """The sorted row indices of the `budget`-row stratified subset (all rows when budget is None).
    Refuses a budget larger than the split or too small to hold one row of every class."""
    if budget is None:
        return np.arange(len(labels))
    n_classes = len(set(labels))
    if not n_classes <= budget <= len(labels):
        raise ValueError(
            f"finetune.label_budget={budget}: must be between the number of classes ({n_classes}) and "
            f"the train split's {len(labels)} rows"
        )
    return np.sort(stratified_order(labels, seed)[:budget])


def nested_subsets(
    labels: Sequence[str], seeds: Sequence[int], budgets: Sequence[int]
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(seed, budget, sorted rows) for every seed, then every budget: the subsets the learning
    curve's cells and its TF-IDF baseline both train on, drawn in one place."""
    for seed in seeds:
        order = stratified_order(labels, seed=int(seed))
        for budget in budgets:
            yield int(seed), int(budget), np.sort(order[:budget])
