"""Baselines on the same split: majority class, and TF-IDF + logistic regression."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline


def majority(train_y: np.ndarray, n_test: int) -> np.ndarray:
    return np.full(n_test, np.bincount(train_y).argmax())


def tfidf_logreg(train_x: list[str], train_y: np.ndarray, test_x: list[str], seed: int) -> np.ndarray:
    """A standard, untuned text-classification baseline: word 1-2 grams, sublinear tf, L2 logreg.
    BLAS runs on one thread: lbfgs's result moved with the thread count (test macro-F1 0.7363 with
    the machine's threads, 0.7369 with one, on the tweets), and a baseline must not depend on it."""
    from threadpoolctl import threadpool_limits

    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(max_iter=2000, random_state=seed),
    )
    with threadpool_limits(limits=1, user_api="blas"):
        model.fit(train_x, train_y)
        return model.predict(test_x)
