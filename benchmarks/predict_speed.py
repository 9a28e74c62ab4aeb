"""Prediction (`models.inputs.class_probabilities`: batches sorted by length, inference mode) against a
bare batched forward of the same model on the same texts (input order, no_grad), in one run.

    .venv/bin/python benchmarks/predict_speed.py [--rounds 3]   # needs data/processed and models/pretrained

Prints each one's best time over the rounds, texts/s and the ratio; both must give the same labels."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from llmops.io import read_json
from llmops.models.hf import build_classifier, load_hf_tokenizer
from llmops.models.inputs import PadCollate, class_probabilities, encode_texts

BATCH = 128


@torch.no_grad()
def bare_forward(model, ids: list[list[int]], pad_id: int) -> np.ndarray:
    model.eval()
    collate, out = PadCollate(pad_id), []
    for i in range(0, len(ids), BATCH):
        batch = collate([(x, 0) for x in ids[i : i + BATCH]])
        out.append(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float())
    return torch.softmax(torch.cat(out), dim=-1).numpy()


def best_of(rounds: int, fn) -> tuple[float, np.ndarray]:
    times, result = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lm = Path("models/pretrained")
    labels = read_json(Path("data/processed/labels.json"))
    model = build_classifier(lm, labels, "pretrained")
    tokenizer = load_hf_tokenizer(lm)
    texts = pd.read_parquet("data/processed/test.parquet")["text"].tolist()
    ids = encode_texts(tokenizer, texts, max_length=64)
    pad = tokenizer.pad_token_id
    bare_s, bare = best_of(args.rounds, lambda: bare_forward(model, ids, pad))
    ours_s, ours = best_of(args.rounds, lambda: class_probabilities(model, ids, pad_id=pad, batch_size=BATCH))
    same = float(np.mean(bare.argmax(-1) == ours.argmax(-1)))
    print(f"{len(ids):,} texts, batch {BATCH}, {args.threads} threads, best of {args.rounds}")
    print(f"bare batched forward      {bare_s:6.2f} s  {len(ids) / bare_s:8,.0f} texts/s")
    print(f"class_probabilities       {ours_s:6.2f} s  {len(ids) / ours_s:8,.0f} texts/s  ({bare_s / ours_s:.2f}x)")
    print(f"same labels: {same:.4f}")


if __name__ == "__main__":
    main()
