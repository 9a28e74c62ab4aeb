"""Fine-tuning speed: length-bucketed batches (finetune.bucket_batches) against random batches.

Same classifier (the configured LM architecture, random init), same train texts, optimiser and
number of steps; only the batch composition differs. Rounds alternate (random, bucketed) after a
warm-up round of each. Prints steps/s, real (non-padding) tokens/s and the share of padding; the
last line is the ratio bucketed / random (1.0 = no gain).

    .venv/bin/python benchmarks/finetune_bucketing.py [--steps 200] [--rounds 3] [--bucket 50]
      (needs data/processed/ and models/tokenizer/ from `dvc repro train_tokenizer`)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from llmops.config import load_params  # noqa: E402
from llmops.data.tokenizer import load_bpe, special_ids  # noqa: E402
from llmops.models.hf import build_lm_config, load_hf_tokenizer  # noqa: E402
from llmops.models.inputs import EncodedTexts, PadCollate, encode_texts  # noqa: E402
from llmops.training.data import BatchPlan, text_batches  # noqa: E402
from llmops.training.optim import adamw  # noqa: E402


def run(model, texts, plan, steps: int, seed: int, collate, bucket: int) -> tuple[float, int, int]:
    """(seconds, real tokens, padded tokens) for `steps` optimiser steps."""
    optimizer = adamw(model, 5e-4, 0.01)
    batches = iter(text_batches(texts, plan, steps, seed, collate, bucket_batches=bucket))
    real = padded = 0
    start = time.perf_counter()
    for _ in range(steps):
        batch = next(batches)
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        real += int(batch["attention_mask"].sum())
        padded += batch["input_ids"].numel()
    return time.perf_counter() - start, real, padded


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bucket", type=int, default=50)
    args = ap.parse_args()

    params = load_params(path=ROOT / "params.yaml")
    ft = params.finetune
    torch.set_num_threads(int(params.trainer.num_threads))
    from transformers import AutoModelForSequenceClassification

    tokenizer = load_hf_tokenizer(ROOT / "models/tokenizer")
    ids = special_ids(load_bpe(ROOT / "models/tokenizer"), params.tokenizer.special_tokens)
    config = build_lm_config(params.model, len(tokenizer), ids)
    config.num_labels = 3
    train = pd.read_parquet(ROOT / "data/processed/train.parquet")
    label_id = {lab: i for i, lab in enumerate(sorted(set(train["label"])))}
    texts = EncodedTexts(
        encode_texts(tokenizer, train["text"].tolist(), ft.max_length), [label_id[lab] for lab in train["label"]]
    )
    plan, collate = BatchPlan(int(ft.batch_size), int(ft.batch_size), 1), PadCollate(tokenizer.pad_token_id)

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).train()
    totals = {0: [0.0, 0, 0], args.bucket: [0.0, 0, 0]}
    for round_ in range(args.rounds + 1):  # round 0 warms up both
        for bucket in (0, args.bucket):
            seconds, real, padded = run(model, texts, plan, args.steps, round_, collate, bucket)
            if round_:
                totals[bucket] = [a + b for a, b in zip(totals[bucket], (seconds, real, padded), strict=True)]
    rate = {}
    for bucket, (seconds, real, padded) in totals.items():
        rate[bucket] = real / seconds
        name = "random batches" if bucket == 0 else f"bucketed ({bucket} batches)"
        print(
            f"{name}: {args.steps * args.rounds / seconds:.2f} steps/s, {real / seconds:,.0f} real tokens/s, "
            f"padding {1 - real / padded:.0%} of tokens"
        )
    print(f"ratio bucketed/random {rate[args.bucket] / rate[0]:.2f} (real tokens/s, same steps and texts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
