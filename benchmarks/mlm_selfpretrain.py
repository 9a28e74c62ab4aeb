"""Experiment (quality, not speed): does a bidirectional masked-LM objective pay off where our causal
LM does not? A ModernBERT of the same size as conf/model (vocab, width, depth, context) is
pre-trained with masked-token prediction on data/packed/train/, then fine-tuned on the labeled
train split with mean pooling, and scored on the validation split; the same fine-tune from random
init is the reference. Prints validation macro-F1 after each epoch; the last line is the gain.

    .venv/bin/python benchmarks/mlm_selfpretrain.py [--steps 400] [--mask-rate 0.3] [--epochs 2]
      (needs data/packed/ and data/processed/ from `dvc repro pack`; ~20 min on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from transformers import ModernBertConfig, ModernBertForMaskedLM, ModernBertModel  # noqa: E402

from llmops.config import load_params  # noqa: E402
from llmops.data.packing import TokenShards  # noqa: E402
from llmops.evaluation.metrics import macro_f1  # noqa: E402
from llmops.io import read_json  # noqa: E402
from llmops.models.hf import load_hf_tokenizer  # noqa: E402
from llmops.models.inputs import PadCollate, encode_texts  # noqa: E402
from llmops.training.optim import warmup_cosine  # noqa: E402


def model_config(params, meta) -> ModernBertConfig:
    m, ids = params.model, meta["special_ids"]
    return ModernBertConfig(
        vocab_size=meta["vocab_size"], hidden_size=m.d_model, intermediate_size=m.d_ff,
        num_hidden_layers=m.n_layers, num_attention_heads=m.n_heads, max_position_embeddings=m.context_length,
        pad_token_id=ids["pad"], bos_token_id=ids["bos"], eos_token_id=ids["eos"], cls_token_id=ids["eos"],
        sep_token_id=ids["eos"], global_attn_every_n_layers=1, local_attention=m.context_length,
        mlp_dropout=0.1, embedding_dropout=0.0, attention_dropout=0.0,
    )  # fmt: skip


def pretrain(
    config, meta, steps: int, mask_rate: float, lr: float, batch: int, seed: int, in_domain: bool = False
) -> ModernBertForMaskedLM:
    """Masked-token prediction on random windows (with `in_domain`, only from the labeled train
    texts' token range, as pretrain.in_domain_fraction=1.0 draws them); the unknown token stands in
    for [MASK] (our tokenizer has none), 80/10/10 mask/random/keep."""
    tokens = TokenShards(ROOT / "data/packed/train", meta["dtype"], expected=meta["train_tokens"])
    if in_domain:
        (lo, hi), *_ = [(a, b) for source, a, b in meta["train_segments"] if source == "labeled_train"]
        tokens = tokens[lo:hi]
    ctx, unk, vocab = config.max_position_embeddings, meta["special_ids"]["unk"], config.vocab_size
    model = ModernBertForMaskedLM(config).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    sched = warmup_cosine(opt, max(1, steps // 10), steps)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in range(steps):
        offsets = rng.integers(0, len(tokens) - ctx, batch)
        x = torch.from_numpy(np.stack([tokens[o : o + ctx].astype(np.int64) for o in offsets]))
        masked = torch.rand(x.shape, generator=gen) < mask_rate
        y = torch.where(masked, x, torch.full_like(x, -100))
        r = torch.rand(x.shape, generator=gen)
        x[masked & (r < 0.8)] = unk
        swap = masked & (r >= 0.8) & (r < 0.9)
        x[swap] = torch.randint(len(meta["special_ids"]), vocab, (int(swap.sum()),), generator=gen)
        loss = model(input_ids=x, labels=y).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"mlm step {step}: loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    return model


class MeanPoolClassifier(torch.nn.Module):
    def __init__(self, encoder: ModernBertModel, n_classes: int):
        super().__init__()
        self.encoder, self.head = encoder, torch.nn.Linear(encoder.config.hidden_size, n_classes)

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).float()
        return self.head(torch.nn.functional.dropout((hidden * mask).sum(1) / mask.sum(1), 0.1, self.training))


def finetune(encoder, data, ft, epochs: int, seed: int) -> list[float]:
    (train_ids, train_y), (val_ids, val_y), collate, n_classes = data
    torch.manual_seed(seed)
    model = MeanPoolClassifier(encoder, n_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=float(ft.lr), weight_decay=float(ft.weight_decay))
    per_epoch = len(train_ids) // int(ft.batch_size)
    sched = warmup_cosine(opt, int(float(ft.warmup_ratio) * epochs * per_epoch), epochs * per_epoch, 0.0)
    scores = []
    for epoch in range(epochs):
        model.train()
        order = np.random.default_rng([seed, epoch]).permutation(len(train_ids))
        for j in range(per_epoch):
            rows = order[j * int(ft.batch_size) : (j + 1) * int(ft.batch_size)]
            batch = collate([(train_ids[i], int(train_y[i])) for i in rows])
            loss = F.cross_entropy(model(batch["input_ids"], batch["attention_mask"]), batch["labels"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(ft.grad_clip))
            opt.step()
            sched.step()
        model.eval()
        preds = []
        with torch.no_grad():
            for i in range(0, len(val_ids), 256):
                batch = collate([(ids, 0) for ids in val_ids[i : i + 256]])
                preds.append(model(batch["input_ids"], batch["attention_mask"]).argmax(-1).numpy())
        scores.append(macro_f1(val_y, np.concatenate(preds), n_classes))
        print(f"  epoch {epoch + 1}: validation macro-F1 {scores[-1]:.4f}", flush=True)
    return scores


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--mask-rate", type=float, default=0.3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--in-domain", action="store_true", help="windows from the labeled train texts only")
    ap.add_argument("--save", type=Path, help="save the masked LM as an HF directory and stop (for curve_probe.py)")
    args = ap.parse_args()

    params = load_params(path=ROOT / "params.yaml")
    seed, ft = int(params.seed), params.finetune
    torch.set_num_threads(int(params.trainer.num_threads))
    meta = read_json(ROOT / "data/packed/meta.json")
    labels = read_json(ROOT / "data/processed/labels.json")
    tokenizer = load_hf_tokenizer(ROOT / "models/tokenizer")
    label_id = {lab: i for i, lab in enumerate(labels)}

    def split(name: str):
        df = pd.read_parquet(ROOT / f"data/processed/{name}.parquet")
        return encode_texts(tokenizer, df["text"].tolist(), int(ft.max_length)), df["label"].map(label_id).to_numpy()

    data = (split("train"), split("val"), PadCollate(tokenizer.pad_token_id), len(labels))
    config = model_config(params, meta)
    torch.manual_seed(seed)
    batch = int(params.pretrain.batch_size)
    mlm = pretrain(config, meta, args.steps, args.mask_rate, args.lr, batch, seed, in_domain=args.in_domain)
    if args.save:  # the curve probe fine-tunes it as finetune.init=hf: mean pooling over the text
        mlm.config.classifier_pooling = "mean"
        mlm.save_pretrained(args.save)
        tokenizer.save_pretrained(args.save)
        print(f"saved -> {args.save}/ (benchmarks/curve_probe.py --lm {args.save} --inits hf,hf_scratch)")
        return 0
    pretrained = mlm.model
    print("fine-tune from the masked-LM encoder:")
    ours = finetune(pretrained, data, ft, args.epochs, seed)
    print("fine-tune from random init:")
    torch.manual_seed(seed)
    scratch = finetune(ModernBertModel(config), data, ft, args.epochs, seed)
    gain = max(ours) - max(scratch)
    best = f"{max(ours):.4f} vs {max(scratch):.4f}"
    print(f"masked-LM pre-training gain (best validation macro-F1): {gain:+.4f} ({best})")
    return 0 if math.isfinite(gain) else 1


if __name__ == "__main__":
    sys.exit(main())
