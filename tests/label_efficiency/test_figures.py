import numpy as np
import pytest

from llmops.evaluation.metrics import macro_f1, seeds_bootstrap_f1_diff
from llmops.label_efficiency.figures import learning_curve_rows, point_metrics


def _noisy(y: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(len(y)) < accuracy, y, rng.integers(0, 3, len(y)))


Y = np.random.default_rng(0).integers(0, 3, 2000)


def test_point_metrics_pair_models_by_seed_and_bracket_the_gain():
    preds = {
        "pretrained": [_noisy(Y, 0.8, s) for s in range(3)],
        "scratch": [_noisy(Y, 0.6, 10 + s) for s in range(3)],
        "tfidf": [_noisy(Y, 0.7, 20 + s) for s in range(3)],
    }
    m = point_metrics(Y, preds, point="100", n_classes=3, seed=0, rounds=300)
    f1 = [macro_f1(Y, p, 3) for p in preds["pretrained"]]
    assert m["f1_macro@100"] == pytest.approx(np.mean(f1))
    assert m["f1_macro@100_std"] == pytest.approx(np.std(f1, ddof=1))
    assert m["pretrain_gain_f1@100"] == pytest.approx(m["f1_macro@100"] - m["scratch_f1_macro@100"])
    low, high = m["pretrain_gain_f1@100_ci95"]
    assert 0 < low < m["pretrain_gain_f1@100"] < high
    low, high = m["tfidf_margin_f1@100_ci95"]
    assert low < m["tfidf_margin_f1@100"] < high
    rows = learning_curve_rows({**m, "n_labels@100": 100}, ["100"])
    assert rows == [
        {
            "labels": 100,
            "pretrained": round(m["f1_macro@100"], 4),
            "scratch": round(m["scratch_f1_macro@100"], 4),
            "tfidf": round(m["tfidf_f1_macro@100"], 4),
        }
    ]


def test_the_seed_spread_widens_the_interval():
    same_seed = [_noisy(Y, 0.75, 1)] * 3
    spread = [_noisy(Y, a, s) for s, a in enumerate((0.6, 0.75, 0.9))]
    base = [_noisy(Y, 0.7, 50 + s) for s in range(3)]
    narrow = seeds_bootstrap_f1_diff(Y, same_seed, preds_b=base, n_classes=3, seed=0, rounds=400)
    wide = seeds_bootstrap_f1_diff(Y, spread, preds_b=base, n_classes=3, seed=0, rounds=400)
    assert wide[1] - wide[0] > 2 * (narrow[1] - narrow[0])
