"""Experiment (quality, not speed): ELECTRA-style replaced-token detection as the pre-training
objective, for the validation learning curve. The discriminator is a ModernBERT of the configured
size (conf/model: vocab, width, depth, context), the same encoder benchmarks/mlm_selfpretrain.py
pre-trains, so the two rows differ only in the objective. The generator is a one-layer ModernBERT
masked LM that shares the discriminator's token embeddings (ELECTRA shares them too; ModernBERT has no
separate embedding width, so the generator is shallow rather than narrow). Windows come from
data/packed/train/ (with --in-domain, only the labeled train texts' range, as
pretrain.in_domain_fraction=1.0 draws them); the generator fills 15% masked positions, the
discriminator tells replaced tokens from original ones (loss: generator MLM + 50 x discriminator).
The discriminator is saved as an HF directory (mean pooling) for curve_probe.py.

Hugging Face's ElectraForPreTraining (a post-LayerNorm BERT) was tried first at lr 1e-3 and 5e-4: its
discriminator never left the base rate in 400 steps (recall of replaced tokens 0), hence ModernBERT.

    .venv/bin/python benchmarks/electra_selfpretrain.py --in-domain --save /tmp/electra [--steps 400]
    .venv/bin/python benchmarks/curve_probe.py --lm /tmp/electra --inits hf,hf_scratch --steps 80,100,150,240
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mlm_selfpretrain import model_config  # noqa: E402
from transformers import ModernBertForMaskedLM, ModernBertForTokenClassification  # noqa: E402

from llmops.config import load_params  # noqa: E402
from llmops.data.packing import TokenShards  # noqa: E402
from llmops.io import read_json  # noqa: E402
from llmops.models.hf import load_hf_tokenizer  # noqa: E402
from llmops.training.optim import warmup_cosine  # noqa: E402


def build(config) -> tuple[ModernBertForTokenClassification, ModernBertForMaskedLM]:
    """The discriminator (one logit per token: replaced or not) and the one-layer generator that
    shares its token embeddings (and ties its output layer to them)."""
    disc_config, gen_config = copy.deepcopy(config), copy.deepcopy(config)
    disc_config.num_labels = 1
    disc = ModernBertForTokenClassification(disc_config)
    gen_config.num_hidden_layers = 1
    gen = ModernBertForMaskedLM(gen_config)
    gen.model.embeddings.tok_embeddings = disc.model.embeddings.tok_embeddings
    gen.tie_weights()
    return disc.train(), gen.train()


def pretrain(
    params, meta, steps: int, lr: float, in_domain: bool, seed: int, disc_weight: float, log_every: int
) -> ModernBertForTokenClassification:
    tokens = TokenShards(ROOT / "data/packed/train", meta["dtype"], expected=meta["train_tokens"])
    if in_domain:
        (lo, hi), *_ = [(a, b) for source, a, b in meta["train_segments"] if source == "labeled_train"]
        tokens = tokens[lo:hi]
    config = model_config(params, meta)
    torch.manual_seed(seed)
    disc, gen = build(config)
    parameters = list({id(p): p for p in [*disc.parameters(), *gen.parameters()]}.values())
    opt = torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    sched = warmup_cosine(opt, max(1, steps // 10), steps)
    ctx, unk, batch = config.max_position_embeddings, meta["special_ids"]["unk"], int(params.pretrain.batch_size)
    rng, gen_rng = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in range(steps):
        offsets = rng.integers(0, len(tokens) - ctx, batch)
        x = torch.from_numpy(np.stack([tokens[o : o + ctx].astype(np.int64) for o in offsets]))
        masked = torch.rand(x.shape, generator=gen_rng) < 0.15
        gen_loss = gen(input_ids=x.masked_fill(masked, unk), labels=x.masked_fill(~masked, -100))
        with torch.no_grad():
            sampled = torch.distributions.Categorical(logits=gen_loss.logits[masked]).sample()
        replaced = x.clone()
        replaced[masked] = sampled
        is_replaced = replaced != x
        logits = disc(input_ids=replaced).logits.squeeze(-1)
        disc_loss = F.binary_cross_entropy_with_logits(logits, is_replaced.float())
        loss = gen_loss.loss + disc_weight * disc_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps - 1:
            recall = ((logits > 0) & is_replaced).sum().item() / max(1, is_replaced.sum().item())
            print(
                f"electra step {step}: generator {gen_loss.loss.item():.3f}, discriminator {disc_loss.item():.4f} "
                f"(replaced {is_replaced.float().mean().item():.3f}, recall {recall:.3f}, "
                f"{time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    return disc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--disc-weight", type=float, default=50.0, help="discriminator loss weight (ELECTRA: 50)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--in-domain", action="store_true", help="windows from the labeled train texts only")
    ap.add_argument("--save", type=Path, required=True, help="where the discriminator goes (an HF directory)")
    args = ap.parse_args()
    params = load_params(path=ROOT / "params.yaml")
    torch.set_num_threads(int(params.trainer.num_threads))
    meta = read_json(ROOT / "data/packed/meta.json")
    disc = pretrain(
        params, meta, steps=args.steps, lr=args.lr, in_domain=args.in_domain, seed=int(params.seed),
        disc_weight=args.disc_weight, log_every=args.log_every,
    )  # fmt: skip
    encoder = disc.model  # without the replaced-token head, whose one output would not fit a class count
    encoder.config.classifier_pooling = "mean"  # as the masked-LM row is fine-tuned
    encoder.save_pretrained(args.save)
    load_hf_tokenizer(ROOT / "models/tokenizer").save_pretrained(args.save)
    print(f"saved -> {args.save}/ (benchmarks/curve_probe.py --lm {args.save} --inits hf,hf_scratch)")


if __name__ == "__main__":
    main()
