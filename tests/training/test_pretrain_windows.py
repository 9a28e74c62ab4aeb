"""pretrain refuses a packed split shorter than one window, in one line that says what to add."""

import pytest

from llmops.errors import StageError
from llmops.stages.pretrain import check_windows


def test_a_split_shorter_than_one_window_is_a_user_error_that_names_it_and_the_fix():
    check_windows({"train_tokens": 913, "val_tokens": 66}, context=64)  # one window of 65 and a next token
    with pytest.raises(StageError, match=r"data/packed/val holds 16 tokens, fewer than one window of 65 .*corpus"):
        check_windows({"train_tokens": 913, "val_tokens": 16}, context=64)
    with pytest.raises(StageError, match=r"data/packed/train holds 65 tokens"):
        check_windows({"train_tokens": 65, "val_tokens": 500}, context=64)
