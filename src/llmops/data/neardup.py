"""Near duplicates: two texts whose sets of character 5-grams (of the lower-cased text, whitespace
collapsed) have a Jaccard similarity of at least a threshold. The labeled texts and the corpus use
this one definition: the labeled path through `near_duplicates`, the corpus through MinHash
candidates that `jaccard` then checks (llmops.corpus.steps.NearPairs).

Hand-written, not datasketch's LSH (used here before): an LSH "at threshold 0.9" finds a pair at
Jaccard 0.9 about half the time, so its threshold did not say what it removed. On the default
labeled texts it removed 356 texts where exact Jaccard >= 0.9 removes 609. `similar_pairs` is
exact (prefix filtering: Bayardo et al., "Scaling up all pairs similarity search", 2007) and takes
about 5 s on the 36k default labeled texts."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import xxhash

SHINGLE = 5
_EPS = 1e-9  # 0.55 * 100 is 55.00000000000001 in floats: a ceil of it would cut a prefix short


def char_shingles(text: str, n: int = SHINGLE) -> np.ndarray:
    """The character n-grams of the lower-cased text with whitespace runs as one space (a text of at
    most n characters is its own single shingle), each as the xxh64 of its UTF-8 bytes: a sorted,
    distinct uint64 array. Hashes, not a set of strings: a set of 80 short strings takes 4 KB, and
    the labeled path holds every text's. Two different shingles share a hash with odds of 1 in 2^64."""
    t = " ".join(text.lower().split())
    grams = {t} if len(t) <= n else {t[i : i + n] for i in range(len(t) - n + 1)}
    return np.unique(np.fromiter((xxhash.xxh64_intdigest(g.encode()) for g in grams), np.uint64, len(grams)))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two `char_shingles` arrays."""
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / max(1, a.size + b.size - inter)


def similar_pairs(sets: Sequence[np.ndarray], threshold: float) -> list[tuple[int, int]]:
    """Every pair (i, j), i < j, with jaccard(sets[i], sets[j]) >= threshold: the same answer as
    comparing all pairs. Shingles are ordered rarest first; two sets that similar must share one of
    their first |A| - ceil(threshold |A|) + 1 shingles, so only those are indexed and looked up."""
    values, counts = np.unique(np.concatenate([*sets, np.zeros(0, np.uint64)]), return_counts=True)
    index: dict[int, list[int]] = defaultdict(list)
    pairs = []
    for i in sorted(range(len(sets)), key=lambda k: sets[k].size):  # shorter first: a length filter
        s, n = sets[i], sets[i].size
        rarest = s[np.lexsort((s, counts[np.searchsorted(values, s)]))]
        prefix = rarest[: n - math.ceil(threshold * n - _EPS) + 1].tolist()
        candidates = {j for g in prefix for j in index[g] if sets[j].size >= threshold * n - _EPS}
        pairs += [(min(i, j), max(i, j)) for j in candidates if jaccard(s, sets[j]) >= threshold]
        for g in prefix:
            index[g].append(i)
    return sorted(pairs)


def near_duplicates(texts: Sequence[str], threshold: float) -> list[int]:
    """Positions of texts that are near duplicates of an earlier text that is kept. The first of a
    group is kept, and a text is dropped only for one that stays, so a chain of small edits never
    drops a text unlike everything kept."""
    partners: dict[int, list[int]] = defaultdict(list)
    for i, j in similar_pairs([char_shingles(t) for t in texts], threshold):
        partners[j].append(i)
    dropped: set[int] = set()
    for j in sorted(partners):
        if any(i not in dropped for i in partners[j]):
            dropped.add(j)
    return sorted(dropped)
