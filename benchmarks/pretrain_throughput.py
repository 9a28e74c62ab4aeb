"""Pre-training throughput: our Lightning stage code against a bare PyTorch loop (nanoGPT style).

Same HF Llama model, same packed data, batches, optimiser and schedule. Each round times N steps of
(a) the Trainer/LightningModule/callback path that `llmops.stages.pretrain` runs (batch plan,
throughput/MFU callback, NaN guard, step checkpoints at the configured interval, MLflow logging to a
temp sqlite store) and (b) a plain loop, alternating, after a warm-up round of each. Time is
wall time from the first step's start to the last step's end (Trainer setup excluded for both).
The last line is the ratio (ours / bare; 1.0 = no framework cost).

    .venv/bin/python benchmarks/pretrain_throughput.py [--steps 50] [--rounds 3]
      (needs data/packed/ from `dvc repro pack`; defaults to the params of params.yaml)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import lightning as L  # noqa: E402
import mlflow  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402

from llmops.config import load_params  # noqa: E402
from llmops.io import read_json  # noqa: E402
from llmops.models.hf import build_lm_config  # noqa: E402
from llmops.models.lm import CausalLM  # noqa: E402
from llmops.training.callbacks import Throughput  # noqa: E402
from llmops.training.checkpoints import StepCheckpoint  # noqa: E402
from llmops.training.data import BatchPlan, PackedTokens, window_batches  # noqa: E402
from llmops.training.flops import flops_per_token, peak_tflops  # noqa: E402
from llmops.training.optim import adamw, optimizer_from_config, schedule_from_config, warmup_cosine  # noqa: E402
from llmops.training.trainer import build_trainer, fit_or_resume  # noqa: E402


class StepClock(Callback):
    def __init__(self) -> None:
        self.first = self.last = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.last = time.perf_counter()


PEAK = 0.0


def ours(params, meta, steps: int, seed: int, run, ckpt_dir: Path) -> float:
    pt, ctx = params.pretrain, int(params.model.context_length)
    torch.manual_seed(seed)
    config = build_lm_config(params.model, meta["vocab_size"], meta["special_ids"])
    module = CausalLM(
        config,
        optimizer=optimizer_from_config(pt),
        scheduler=schedule_from_config(warmup_steps=pt.warmup_steps, total_steps=steps, min_lr_ratio=pt.min_lr_ratio),
    )
    plan = BatchPlan.from_config(pt, 1, "pretrain", ctx)
    n_params = module.model.num_parameters()
    clock = StepClock()
    callbacks = [
        Throughput(flops_per_token(config, n_params), PEAK),
        StepCheckpoint(ckpt_dir / "last.ckpt", pt.checkpoint_every_steps),
        clock,
    ]
    trainer = build_trainer(
        params.trainer,
        run=run,
        tracking_uri=mlflow.get_tracking_uri(),
        callbacks=callbacks,
        plan=plan,
        max_steps=steps,
        val_every_steps=steps,
        gradient_clip_val=pt.grad_clip,
        limit_val_batches=0,
    )
    fit_or_resume(trainer, module, window_batches(tokens(meta, ctx), plan, steps, seed), None)
    return steps * plan.global_batch * ctx / (clock.last - clock.first)


def tokens(meta, ctx: int) -> PackedTokens:
    return PackedTokens(ROOT / "data/packed/train", meta["dtype"], ctx, expected=meta["train_tokens"])


def bare(params, meta, steps: int, seed: int) -> float:
    pt, ctx = params.pretrain, int(params.model.context_length)
    torch.manual_seed(seed)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(
        build_lm_config(params.model, meta["vocab_size"], meta["special_ids"]), attn_implementation="sdpa"
    ).train()
    opt = adamw(model, pt.lr, pt.weight_decay)
    sched = warmup_cosine(opt, pt.warmup_steps, steps, pt.min_lr_ratio)
    packed = tokens(meta, ctx)
    draw = packed.random_offsets(seed)
    start = time.perf_counter()
    for step in range(steps):
        x, y = packed.windows(draw(step, pt.batch_size))
        logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), pt.grad_clip)
        opt.step()
        sched.step()
    return steps * pt.batch_size * ctx / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import os

    os.chdir(ROOT)
    params = load_params()
    meta = read_json(ROOT / "data/packed/meta.json")
    torch.set_num_threads(int(params.trainer.num_threads))
    global PEAK
    PEAK = peak_tflops(params.trainer.peak_tflops, torch.device("cpu"))[0]
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/bench.db")
        mlflow.set_experiment("throughput-benchmark")
        results: dict[str, list[float]] = {"ours": [], "bare": []}
        with mlflow.start_run() as run:
            ours(params, meta, 5, 0, run, Path(tmp))  # warm-up
            bare(params, meta, 5, 0)
            for r in range(args.rounds):
                results["ours"].append(ours(params, meta, args.steps, r, run, Path(tmp)))
                results["bare"].append(bare(params, meta, args.steps, r))
                print(
                    f"round {r}: ours {results['ours'][-1]:,.0f} tokens/s, bare {results['bare'][-1]:,.0f} tokens/s",
                    flush=True,
                )
    mean = {k: sum(v) / len(v) for k, v in results.items()}
    print(
        f"ours {mean['ours']:,.0f} tokens/s, bare loop {mean['bare']:,.0f} tokens/s "
        f"({args.rounds} rounds of {args.steps} steps, batch {params.pretrain.batch_size} x "
        f"{params.model.context_length} tokens, {torch.get_num_threads()} threads)"
    )
    print(f"ratio ours/bare: {mean['ours'] / mean['bare']:.3f}")


if __name__ == "__main__":
    L.seed_everything(0, verbose=False)
    main()
