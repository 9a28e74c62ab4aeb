"""GPU check: ~50 steps of a ~125M-parameter Llama through our Lightning pre-training path
(conf/trainer/gpu.yaml: bf16-mixed, torch.compile, SDPA flash attention) on synthetic tokens;
prints tokens/s and MFU (peak from the known-GPU table, or --peak-tflops).

    bash benchmarks/gpu_check.sh            # on a GPU machine (installs what it needs)
    .venv/bin/python benchmarks/gpu_check.py --tiny   # CPU smoke run of the same code path
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from llmops.config import compose  # noqa: E402
from llmops.models.hf import build_lm_config  # noqa: E402
from llmops.models.lm import CausalLM  # noqa: E402
from llmops.training.callbacks import Throughput  # noqa: E402
from llmops.training.data import BatchPlan, PackedTokens, window_batches  # noqa: E402
from llmops.training.flops import flops_per_token, peak_tflops  # noqa: E402
from llmops.training.optim import optimizer_from_config, schedule_from_config  # noqa: E402
from llmops.training.trainer import build_trainer, fit_or_resume, setup_runtime  # noqa: E402

GPT2_SMALL = dict(arch="llama", d_model=768, n_layers=12, n_heads=12, d_ff=2560, context_length=1024, dropout=0.0)
TINY = dict(arch="llama", d_model=64, n_layers=2, n_heads=2, d_ff=128, context_length=64, dropout=0.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--micro-batch", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny model, trainer=cpu")
    args = ap.parse_args()

    trainer_cfg = OmegaConf.create(compose(["trainer=cpu" if args.tiny else "trainer=gpu"])["trainer"])
    trainer_cfg.compile = bool(trainer_cfg.compile) and not args.no_compile
    model_cfg = OmegaConf.create(TINY if args.tiny else GPT2_SMALL)
    vocab, micro = (512, 4) if args.tiny else (args.vocab, args.micro_batch)
    optim_cfg = OmegaConf.create(dict(lr=6e-4, weight_decay=0.1))
    setup_runtime(trainer_cfg, 0)

    config = build_lm_config(model_cfg, vocab, {"bos": 0, "eos": 1, "pad": 2})
    module = CausalLM(
        config,
        optimizer=optimizer_from_config(optim_cfg),
        scheduler=schedule_from_config(warmup_steps=10, total_steps=args.steps, min_lr_ratio=0.1),
        compile=bool(trainer_cfg.compile),
    )
    n_params = module.model.num_parameters()
    device = "cpu" if args.tiny else "cuda"
    peak, source = peak_tflops(args.peak_tflops or trainer_cfg.peak_tflops, torch.device(device), trainer_cfg.precision)
    throughput = Throughput(flops_per_token(config, n_params), peak, skip_steps=10)
    plan = BatchPlan(micro, micro, 1)
    ctx = int(model_cfg.context_length)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokens.bin"
        rng = np.random.default_rng(0)
        rng.integers(3, vocab, size=(args.steps + 1) * micro * ctx + ctx + 1, dtype=np.uint16).tofile(path)
        train = window_batches(PackedTokens(path, "uint16", ctx), plan, args.steps, seed=0, pin_memory=True)
        trainer = build_trainer(
            trainer_cfg,
            run=None,
            tracking_uri="",
            callbacks=[throughput],
            plan=plan,
            max_steps=args.steps,
            val_every_steps=args.steps,
            gradient_clip_val=1.0,
            limit_val_batches=0,
        )
        t0 = time.perf_counter()
        fit_or_resume(trainer, module, train, None)
        wall = time.perf_counter() - t0
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(
        f"{name}: {n_params / 1e6:.1f}M params, {args.steps} steps of {micro} x {ctx} tokens, precision "
        f"{trainer_cfg.precision}, compile {trainer_cfg.compile}, {wall:.0f} s incl. compile"
    )
    print(f"tokens/s {throughput.tokens_per_sec:,.0f} (steps 10-{args.steps}), step {throughput.step_time_s:.3f} s")
    mfu = throughput.mfu(throughput.tokens_per_sec, 1) if peak else float("nan")
    print(f"MFU {mfu:.1%} of {peak:.3g} TFLOP/s ({source}), {throughput.flops_per_token / 1e9:.3g} GFLOP/token")


if __name__ == "__main__":
    main()
