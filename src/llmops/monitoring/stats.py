"""Drift statistics between a reference sample and a batch, following Evidently's methods and
defaults (docs.evidentlyai.com, "data drift" presets): Jensen-Shannon distance for categorical
columns (threshold 0.1), the two-sample Kolmogorov-Smirnov statistic for numerical ones, and a
domain classifier for text ("text content drift": a model that tells reference from batch texts,
judged by its ROC AUC). Written on the scipy and scikit-learn we already pin: Evidently 0.7 would
add litestar, statsmodels, plotly<6, a telemetry package and an NLTK download at run time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def js_distance(a: Sequence, b: Sequence, categories: Sequence) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between the category frequencies of a and b."""
    from scipy.spatial.distance import jensenshannon

    index = {c: i for i, c in enumerate(categories)}
    p = np.bincount([index[x] for x in a], minlength=len(categories)).astype(float)
    q = np.bincount([index[x] for x in b], minlength=len(categories)).astype(float)
    if not p.sum() or not q.sum():
        return 0.0
    return float(jensenshannon(p / p.sum(), q / q.sum(), base=2))


def ks(a: Sequence[float], b: Sequence[float]) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two CDFs."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(np.asarray(a, float), np.asarray(b, float)).statistic)


def domain_classifier(
    reference: Sequence[str], batch: Sequence[str], seed: int, folds: int = 5, top: int = 10
) -> tuple[float, list[str], list[str]]:
    """Cross-validated ROC AUC of TF-IDF + logistic regression telling batch texts (1) from
    reference texts (0): 0.5 when the two cannot be told apart. Also the words that most say
    "batch" and most say "reference", from the model fit on everything. Too few texts for two
    folds, or no word seen twice: 0.5 and no words (nothing can be told apart)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [*reference, *batch]
    if min(folds, len(reference), len(batch)) < 2:
        return 0.5, [], []
    try:
        x = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=20000).fit(texts)
    except ValueError:  # an empty vocabulary
        return 0.5, [], []
    features = x.transform(texts)
    auc = separability(features, len(reference), seed=seed, folds=folds)
    y = np.array([0] * len(reference) + [1] * len(batch))
    coef = LogisticRegression(max_iter=1000, C=1.0).fit(features, y).coef_[0]
    vocab = x.get_feature_names_out()
    order = np.argsort(coef)
    return auc, [str(vocab[i]) for i in order[::-1][:top]], [str(vocab[i]) for i in order[:top]]


def embedding_classifier(reference: np.ndarray, batch: np.ndarray, seed: int, folds: int = 5) -> float:
    """The same test on the classifier's pooled embeddings (standardised): does the model place
    the batch's texts somewhere else than the reference's, words aside?"""
    return separability(np.vstack([reference, batch]), len(reference), seed=seed, folds=folds, standardize=True)


def separability(features, n_reference: int, seed: int, folds: int = 5, standardize: bool = False) -> float:
    """Cross-validated ROC AUC of logistic regression telling the rows after the first
    `n_reference` (the batch) from those before; 0.5 with too few rows for two folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.array([0] * n_reference + [1] * (features.shape[0] - n_reference))
    folds = min(folds, n_reference, len(y) - n_reference)
    if folds < 2:
        return 0.5
    model = LogisticRegression(max_iter=1000, C=1.0)
    model = make_pipeline(StandardScaler(), model) if standardize else model
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(roc_auc_score(y, cross_val_predict(model, features, y, cv=cv, method="predict_proba")[:, 1]))


def match_priors(labels: Sequence[str], target: Sequence[str], n: int, seed: int) -> np.ndarray:
    """Row indices of a size-n sample of `labels` drawn with the class shares of `target`: a
    reference with the batch's priors, so that the domain classifier sees what changed within the
    classes (covariate shift), not the change of class shares itself (prior shift)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    classes, counts = np.unique(np.asarray(target), return_counts=True)
    want = np.floor(counts / counts.sum() * n).astype(int)
    want[np.argmax(counts)] += n - want.sum()
    rows = []
    for cls, k in zip(classes, want, strict=True):
        pool = np.flatnonzero(labels == cls)
        if len(pool) and k:
            rows.append(rng.choice(pool, size=k, replace=len(pool) < k))
    return np.sort(np.concatenate(rows)) if rows else np.arange(0)
