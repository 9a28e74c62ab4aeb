import pandas as pd
import pytest

from llmops.data.split import holdout_mask, stratified_split


def _frame(n: int = 300) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"text {i}" for i in range(n)], "label": [["a", "b", "c"][i % 3] for i in range(n)]})


def test_split_is_deterministic_disjoint_and_stratified():
    df = _frame()
    s1 = stratified_split(df, 0.1, 0.1, seed=0)
    s2 = stratified_split(df.sample(frac=1, random_state=3), 0.1, 0.1, seed=0)  # row order must not matter
    for k in s1:
        pd.testing.assert_frame_equal(s1[k], s2[k])
    sets = {k: set(v["text"]) for k, v in s1.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert sum(map(len, sets.values())) == len(df)
    assert s1["test"]["label"].value_counts().to_dict() == {"a": 10, "b": 10, "c": 10}


def test_seed_changes_the_split():
    df = _frame()
    assert set(stratified_split(df, 0.1, 0.1, 0)["test"]["text"]) != set(
        stratified_split(df, 0.1, 0.1, 1)["test"]["text"]
    )


def test_adding_rows_keeps_existing_test_texts_out_of_train():
    df = _frame(300)
    before = stratified_split(df, 0.1, 0.1, 0)
    after = stratified_split(_frame(330), 0.1, 0.1, 0)
    assert not set(before["test"]["text"]) & set(after["train"]["text"])


def test_too_few_rows_per_class_is_a_clear_error():
    df = pd.DataFrame({"text": ["x", "y", "z", "w"], "label": ["a", "a", "a", "b"]})
    with pytest.raises(ValueError, match="label 'b' has 1 rows"):
        stratified_split(df, 0.1, 0.1, 0)


def test_holdout_mask_fraction_and_independence_from_split():
    df = _frame(3000)
    train = stratified_split(df, 0.1, 0.1, 0)["train"]
    share = holdout_mask(train["text"], 0.1, 0).mean()
    assert 0.07 < share < 0.13
