"""Near duplicates by exact Jaccard of character 5-gram sets: the indexed search finds exactly the
pairs that comparing every pair finds, and dropping keeps the first text of a group."""

import itertools
import random

import numpy as np
import pytest
import xxhash

from llmops.data.neardup import char_shingles, jaccard, near_duplicates, similar_pairs


def _hashed(strings: set[str]) -> np.ndarray:
    return np.unique(np.fromiter((xxhash.xxh64_intdigest(g.encode()) for g in strings), np.uint64))


def _all_pairs(sets, threshold):
    return [(i, j) for i, j in itertools.combinations(range(len(sets)), 2) if jaccard(sets[i], sets[j]) >= threshold]


def _edited(rng: random.Random, tokens: list[str], edits: int) -> set[str]:
    out = list(tokens)
    for k in rng.sample(range(len(out)), edits):
        out[k] = f"new{rng.random()}"
    return set(out)


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.9, 0.92])
def test_the_indexed_search_finds_exactly_the_pairs_every_comparison_finds(threshold):
    rng = random.Random(0)
    vocab = [f"g{k}" for k in range(400)]
    sets = []
    for _ in range(60):
        base = rng.sample(vocab, rng.randint(20, 120))
        sets.append(_hashed(set(base)))
        sets.append(_hashed(_edited(rng, base, rng.randint(0, len(base) // 5))))  # Jaccard 1 down to 0.67
    pairs = similar_pairs(sets, threshold)
    assert pairs == _all_pairs(sets, threshold)
    assert len(pairs) >= 5  # the planted pairs are there to be found


def test_a_pair_exactly_at_the_threshold_is_found():
    big = np.arange(100, dtype=np.uint64)
    small = big[45:]  # 55 of the 100: Jaccard 0.55, and 0.55 * 100 is 55.00000000000001
    assert jaccard(small, big) == 0.55
    assert similar_pairs([big, small, np.array([1000], np.uint64)], 0.55) == [(0, 1)]


def test_shingles_ignore_case_and_whitespace_runs():
    assert char_shingles("Hello   World").tolist() == char_shingles("hello world").tolist()
    assert char_shingles("hi").tolist() == _hashed({"hi"}).tolist()
    assert char_shingles("abcdef").tolist() == _hashed({"abcde", "bcdef"}).tolist()


def test_the_first_of_a_group_is_kept_and_a_chain_drops_only_what_is_near_a_kept_text():
    a = " ".join(f"word{k}" for k in range(40))
    b = a.replace("word39", "last")  # near a
    c = b.replace("word0 ", "first ")  # near b, not near a
    sa, sb, sc = (char_shingles(t) for t in (a, b, c))
    assert jaccard(sa, sb) >= 0.93 and jaccard(sb, sc) >= 0.93 > jaccard(sa, sc)
    assert near_duplicates([a, "something else entirely", b, c], 0.93) == [2]
