"""Experiment (quality, not speed): ELECTRA-style replaced-token detection as the pre-training
objective, for the validation learning curve. A discriminator of the configured size (conf/model:
vocab, width, depth, context) and a generator of a third of its width, sharing the token
embeddings, are pre-trained on windows of data/packed/train.bin (with --in-domain, only the labeled
train texts' range, as pretrain.in_domain_fraction=1.0 draws them): the generator fills 15% masked
positions, the discriminator tells replaced tokens from original ones (loss: generator MLM + 50 x
discriminator). The discriminator is saved as an HF directory for curve_probe.py.

    .venv/bin/python benchmarks/electra_selfpretrain.py --in-domain --save /tmp/electra [--steps 400]
    .venv/bin/python benchmarks/curve_probe.py --lm /tmp/electra --inits hf,hf_scratch --steps 80,100,150,240
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

from llmops.config import load_params
from llmops.io import read_json
from llmops.models.hf import load_hf_tokenizer
from llmops.training.optim import warmup_cosine

ROOT = Path(__file__).resolve().parents[1]


def configs(params, meta) -> tuple[ElectraConfig, ElectraConfig]:
    m, ids = params.model, meta["special_ids"]
    common = dict(
        vocab_size=meta["vocab_size"], embedding_size=m.d_model, num_hidden_layers=m.n_layers,
        max_position_embeddings=m.context_length, pad_token_id=ids["pad"], hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    small = max(1, m.n_heads // 2)
    discriminator = ElectraConfig(
        hidden_size=m.d_model, num_attention_heads=m.n_heads, intermediate_size=m.d_ff, **common
    )
    generator = ElectraConfig(
        hidden_size=m.d_model // 3 // small * small, num_attention_heads=small, intermediate_size=m.d_ff // 3, **common
    )
    return discriminator, generator


def pretrain(params, meta, steps: int, lr: float, in_domain: bool, seed: int) -> ElectraForPreTraining:
    tokens = np.memmap(ROOT / "data/packed/train.bin", dtype=meta["dtype"], mode="r")
    if in_domain:
        (lo, hi), *_ = [(a, b) for source, a, b in meta["train_segments"] if source == "labeled_train"]
        tokens = tokens[lo:hi]
    disc_cfg, gen_cfg = configs(params, meta)
    torch.manual_seed(seed)
    disc, gen = ElectraForPreTraining(disc_cfg).train(), ElectraForMaskedLM(gen_cfg).train()
    gen.electra.embeddings.word_embeddings = disc.electra.embeddings.word_embeddings  # shared, as in ELECTRA
    gen.tie_weights()
    parameters = list({id(p): p for p in [*disc.parameters(), *gen.parameters()]}.values())
    opt = torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    sched = warmup_cosine(opt, max(1, steps // 10), steps)
    ctx, unk, batch = disc_cfg.max_position_embeddings, meta["special_ids"]["unk"], int(params.pretrain.batch_size)
    rng, gen_rng = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in range(steps):
        offsets = rng.integers(0, len(tokens) - ctx, batch)
        x = torch.from_numpy(np.stack([tokens[o : o + ctx].astype(np.int64) for o in offsets]))
        masked = torch.rand(x.shape, generator=gen_rng) < 0.15
        gen_out = gen(input_ids=x.masked_fill(masked, unk), labels=x.masked_fill(~masked, -100))
        with torch.no_grad():
            sampled = torch.distributions.Categorical(logits=gen_out.logits[masked]).sample()
        replaced = x.clone()
        replaced[masked] = sampled
        disc_out = disc(input_ids=replaced, labels=(replaced != x).long())
        loss = gen_out.loss + 50.0 * disc_out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            print(
                f"electra step {step}: generator {gen_out.loss.item():.3f}, discriminator {disc_out.loss.item():.4f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    return disc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--in-domain", action="store_true", help="windows from the labeled train texts only")
    ap.add_argument("--save", type=Path, required=True, help="where the discriminator goes (an HF directory)")
    args = ap.parse_args()
    params = load_params(path=ROOT / "params.yaml")
    torch.set_num_threads(int(params.trainer.num_threads))
    meta = read_json(ROOT / "data/packed/meta.json")
    disc = pretrain(params, meta, steps=args.steps, lr=args.lr, in_domain=args.in_domain, seed=int(params.seed))
    disc.save_pretrained(args.save)
    load_hf_tokenizer(ROOT / "models/tokenizer").save_pretrained(args.save)
    print(f"saved -> {args.save}/ (benchmarks/curve_probe.py --lm {args.save} --inits hf,hf_scratch)")


if __name__ == "__main__":
    main()
