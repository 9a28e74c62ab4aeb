"""Global batches: the same rows whatever the split into processes and accumulation steps."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from llmops.models.inputs import EncodedTexts, PadCollate
from llmops.training.data import (
    BatchPlan,
    PackedTokens,
    StepLoader,
    in_domain_share,
    in_domain_tokens,
    steps_per_epoch,
    text_batches,
    window_batches,
)


def cfg(**kw):
    return OmegaConf.create({"batch_size": 32, "batch_tokens": None, "micro_batch_size": None, **kw})


@pytest.mark.parametrize(("world", "micro", "accum"), [(1, None, 1), (2, None, 1), (1, 8, 4), (2, 4, 4), (4, 8, 1)])
def test_micro_batches_of_all_ranks_make_up_the_global_batch(world, micro, accum):
    plan = BatchPlan.from_config(cfg(micro_batch_size=micro), world, "pretrain")
    assert plan.accumulation == accum
    rows = np.arange(100, 132)
    parts = [plan.micro_rows(rows, k, r) for k in range(accum) for r in range(world)]
    assert all(len(p) == plan.micro_batch for p in parts)
    assert sorted(np.concatenate(parts)) == list(rows)


def test_batch_tokens_sets_the_global_batch_and_bad_splits_are_refused():
    assert BatchPlan.from_config(cfg(batch_tokens=8192), 1, "pretrain", context=128).global_batch == 64
    with pytest.raises(ValueError, match=r"pretrain: global batch 32 is not a multiple of micro_batch_size 6 x 2"):
        BatchPlan.from_config(cfg(micro_batch_size=6), 2, "pretrain")


class FakeTrainer:  # the two attributes StepLoader reads when iteration starts
    def __init__(self, global_step, global_rank):
        self.global_step, self.global_rank = global_step, global_rank


def tokens(tmp_path, n=5000):
    path = tmp_path / "train.bin"
    np.arange(n, dtype=np.uint16).tofile(path)
    return PackedTokens(path, "uint16", context=8)


def test_window_batches_are_the_same_over_one_or_two_ranks_and_resume_mid_run(tmp_path):
    packed = tokens(tmp_path)
    one = list(window_batches(packed, BatchPlan(8, 8, 1), total_steps=5, seed=3))
    two = [window_batches(packed, BatchPlan(8, 2, 2), total_steps=5, seed=3) for _ in range(2)]
    for rank, loader in enumerate(two):
        loader.trainer = FakeTrainer(0, rank)
    per_rank = [list(loader) for loader in two]
    assert len(per_rank[0]) == len(two[0]) == 10  # 5 steps x 2 accumulation steps
    for step in range(5):
        parts = [per_rank[r][step * 2 + k][0] for k in range(2) for r in range(2)]
        assert torch.equal(torch.cat(parts).sort(0).values, one[step][0].sort(0).values)
    x, y = one[0]
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are inputs shifted by one

    resumed = window_batches(packed, BatchPlan(8, 8, 1), total_steps=5, seed=3)
    resumed.trainer = FakeTrainer(3, 0)
    assert [b[0].tolist() for b in resumed] == [b[0].tolist() for b in one[3:]]


def test_text_batches_visit_every_example_once_per_epoch_in_a_new_order():
    texts = EncodedTexts([[i, 1] for i in range(10)], [i % 2 for i in range(10)])
    plan = BatchPlan(4, 4, 1)
    assert steps_per_epoch(len(texts), plan) == 2  # the partial last batch is dropped
    loader = text_batches(texts, plan, total_steps=4, seed=0, collate=PadCollate(0))
    batches = [b["input_ids"][:, 0].tolist() for b in loader]
    epoch0, epoch1 = batches[0] + batches[1], batches[2] + batches[3]
    assert len(set(epoch0)) == 8 and len(set(epoch1)) == 8 and epoch0 != epoch1


def test_a_checkpoint_from_another_global_batch_is_refused():
    loader = StepLoader(BatchPlan(8, 8, 1), 3, lambda s: np.arange(8), lambda r: r)
    loader.load_state_dict(StepLoader(BatchPlan(8, 4, 2), 3, None, None).state_dict())
    with pytest.raises(ValueError, match="global batch"):
        loader.load_state_dict(StepLoader(BatchPlan(16, 8, 2), 3, None, None).state_dict())


def test_in_domain_fraction_draws_that_share_of_windows_from_the_labeled_texts_and_the_users_corpus(tmp_path):
    packed = tokens(tmp_path, n=10_000)  # context 8: window starts in [0, 9991)
    segments = [["wikipedia", 0, 5000], ["corpus/notes.txt", 5000, 7000], ["labeled_train", 7000, 10_000]]
    draw = packed.random_offsets(seed=1, segments=segments, in_domain_fraction=0.75)
    rows = np.concatenate([draw(step, 64) for step in range(50)])
    assert (rows >= 5000).mean() == 0.75 and rows.min() >= 0 and rows.max() < 9991
    assert ((rows >= 5000) & (rows < 7000)).mean() > 0.2  # the user's corpus is in-domain (2/5 of that share)
    only_own = packed.random_offsets(seed=1, segments=segments, in_domain_fraction=1.0)
    assert np.concatenate([only_own(step, 64) for step in range(20)]).min() >= 5000
    assert np.array_equal(draw(3, 64), draw(3, 64))  # a function of (seed, step)
    uniform = packed.random_offsets(seed=1)
    assert np.array_equal(uniform(3, 64), packed.random_offsets(seed=1, segments=segments)(3, 64))


def test_the_in_domain_share_is_the_fraction_when_batches_mix_and_each_tokens_share_when_they_cannot():
    segments = [["wikipedia", 0, 6000], ["corpus/notes.txt", 6000, 7000], ["labeled_train", 7000, 10_000]]
    assert in_domain_tokens(segments) == 4000 and in_domain_tokens(None) == 0
    assert in_domain_share(segments, 10_000, 0.75) == 0.75
    assert in_domain_share(segments, 10_000, None) == 0.4  # uniform draws over every token
    own = [["labeled_train", 0, 10_000]]
    assert in_domain_share(own, 10_000, 0.5) == 1.0  # nothing general to mix in: every window is the task's


def test_bucketed_text_batches_group_similar_lengths_and_still_cover_the_epoch():
    rng = np.random.default_rng(0)
    texts = EncodedTexts([[i] * int(rng.integers(1, 40)) for i in range(64)], [0] * 64)
    plan = BatchPlan(4, 4, 1)
    plain = list(text_batches(texts, plan, total_steps=16, seed=0, collate=PadCollate(-1)))
    bucketed = list(text_batches(texts, plan, total_steps=16, seed=0, collate=PadCollate(-1), bucket_batches=8))
    assert sorted(i for b in bucketed for i in b["input_ids"][:, 0].tolist()) == list(range(64))

    def padded(batches):
        return sum(b["input_ids"].numel() for b in batches)

    assert padded(bucketed) < 0.7 * padded(plain)  # random batches of 1..39 tokens are mostly padding
    again = list(text_batches(texts, plan, total_steps=16, seed=0, collate=PadCollate(-1), bucket_batches=8))
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(bucketed, again, strict=True))


def test_a_folder_of_token_shards_reads_as_the_one_stream_they_were_cut_from(tmp_path):
    """Windows that span a shard boundary are stitched: the same batches as one flat file."""
    flat = tokens(tmp_path, n=5000)
    folder = tmp_path / "train"
    folder.mkdir()
    for i, (a, b) in enumerate([(0, 1000), (1000, 1000), (1000, 1003), (1003, 5000)]):  # an empty shard too
        np.arange(a, b, dtype=np.uint16).tofile(folder / f"{i:05d}.bin")
    sharded = PackedTokens(folder, "uint16", context=8, expected=5000)
    assert sharded.n_tokens == 5000
    boundary = np.array([995, 999, 1000, 1001, 1002, 4991])
    assert all(torch.equal(a, b) for a, b in zip(sharded.windows(boundary), flat.windows(boundary), strict=True))
    plan = BatchPlan(8, 8, 1)
    for a, b in zip(window_batches(sharded, plan, 5, seed=3), window_batches(flat, plan, 5, seed=3), strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match=r"train: 5,000 tokens in its shards, pack recorded 6,000; rerun pack"):
        PackedTokens(folder, "uint16", context=8, expected=6000)
