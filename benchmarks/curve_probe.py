"""A quick validation-only learning curve for choosing pre-training: the learning_curve stage's own
cell (`label_efficiency.cells.fit_cell`) for the pre-trained and the scratch init at a few label budgets,
one process, no MLflow, no test scores. Prints each cell's best validation macro-F1 and, last, the
mean validation gain over the budgets (`val_gain_auc` in the stage's metrics).

Usage (from the repository root, after `dvc repro finetune@pretrained` or a full run):
    .venv/bin/python benchmarks/curve_probe.py [--lm DIR] [--budgets 100,300,1000,3000]
        [--steps 80,100,150,240] [--seeds 1337] [--val 500] [--val-every 25] [key=value ...]
where key=value overrides params.yaml's finetune.* (e.g. finetune.lr=1e-3 finetune.pooling=mean).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from llmops.config import load_params
from llmops.data.budget import stratified_order
from llmops.io import read_json
from llmops.label_efficiency.cells import Budget, Cell, fit_cell
from llmops.models.hf import load_hf_tokenizer
from llmops.models.inputs import EncodedTexts, encode_texts

DATA = Path("data/processed")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lm", default="models/pretrained")
    parser.add_argument("--budgets", default="100,300,1000,3000")
    parser.add_argument("--steps", default="80,100,150,240")
    parser.add_argument("--seeds", default="1337")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--val", type=int, default=500)
    parser.add_argument("--val-every", type=int, default=25)
    parser.add_argument("--inits", default="pretrained,scratch", help="hf,hf_scratch for a saved HF encoder")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    params = OmegaConf.merge(load_params(), OmegaConf.from_dotlist(args.overrides))
    torch.set_num_threads(int(params.trainer.num_threads))
    lm, max_length = Path(args.lm), int(params.finetune.max_length)
    tokenizer = load_hf_tokenizer(lm)
    labels = read_json(DATA / "labels.json")
    label_id = {label: i for i, label in enumerate(labels)}
    train = pd.read_parquet(DATA / "train.parquet")
    val = pd.read_parquet(DATA / "val.parquet").sample(n=args.val, random_state=int(params.seed))
    train_ids = encode_texts(tokenizer, train["text"].tolist(), max_length=max_length)
    val_set = EncodedTexts(
        encode_texts(tokenizer, val["text"].tolist(), max_length=max_length), val["label"].map(label_id).tolist()
    )
    y_train = train["label"].map(label_id).to_numpy()
    gains: dict[int, list[float]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        order = stratified_order(train["label"].tolist(), seed=seed)
        for budget, steps in zip(
            (int(b) for b in args.budgets.split(",")), (int(s) for s in args.steps.split(",")), strict=True
        ):
            rows = np.sort(order[:budget])
            plan = Budget(
                EncodedTexts([train_ids[i] for i in rows], y_train[rows].tolist()),
                steps=steps,
                batch_size=args.batch,
                val_every_steps=args.val_every,
            )
            best = {}
            for init in args.inits.split(","):
                t0 = time.perf_counter()
                result = fit_cell(
                    Cell(init, budget=budget, seed=seed),
                    source=lm,
                    labels=labels,
                    budget=plan,
                    val=val_set,
                    test_ids=[],
                    pad_id=tokenizer.pad_token_id,
                    params=params,
                )
                best[init] = result["best_val_f1_macro"]
                took = time.perf_counter() - t0
                print(f"{init:10s} N={budget:5d} seed={seed} steps={steps}: val macro-F1 {best[init]:.4f} ", end="")
                print(f"at step {result['best_step']} ({took:.0f} s)", flush=True)
            pre, scratch = args.inits.split(",")
            gains.setdefault(budget, []).append(best[pre] - best[scratch])
    for budget, values in gains.items():
        print(f"N={budget}: validation gain {np.mean(values):+.4f}")
    print(f"val_gain_auc {np.mean([np.mean(v) for v in gains.values()]):+.4f}")


if __name__ == "__main__":
    main()
