import pandas as pd

from llmops.data.dedup import dedup_labeled


def test_exact_duplicates_kept_once_and_conflicts_dropped():
    df = pd.DataFrame(
        {
            "text": ["a", "a", "b", "b", "c"],
            "label": ["pos", "pos", "pos", "neg", "neg"],
        }
    )
    out, stats = dedup_labeled(df)
    assert sorted(out["text"]) == ["a", "c"]
    assert stats == {"conflicting_texts": 1, "conflicting_rows": 2, "duplicate_rows": 1}
