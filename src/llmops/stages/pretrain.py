"""pretrain: causal-LM pre-training with PyTorch Lightning on random windows of the packed memmap
-> models/pretrained/ (save_pretrained, safetensors, with the tokenizer) and metrics/pretrain.json."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from llmops.config import load_params
from llmops.io import atomic_dir, read_json, write_json
from llmops.tracking.runs import log_loss_curves, stage_run, tracking_uri, write_run_ref

PACKED = Path("data/packed")
TOKENIZER = Path("models/tokenizer")
OUT = Path("models/pretrained")
METRICS = Path("metrics/pretrain.json")
PROMPTS = ["The", "I think that", "Driverless cars", "In 1900,"]


def main() -> int:
    params = load_params()
    import mlflow
    import torch
    from torch.utils.data import DataLoader

    from llmops.models.hf import build_lm_config, load_tokenizer
    from llmops.models.lm import CausalLM
    from llmops.training.callbacks import Throughput
    from llmops.training.data import FixedWindows, RandomWindows
    from llmops.training.trainer import build_trainer, setup_runtime

    pt, seed = params.pretrain, int(params.seed)
    setup_runtime(params.trainer, seed)
    meta = read_json(PACKED / "meta.json")
    context = int(params.model.context_length)
    train = RandomWindows(PACKED / "train.bin", meta["dtype"], context, pt.batch_size, pt.max_steps, seed)
    val = FixedWindows(PACKED / "val.bin", meta["dtype"], context, pt.batch_size, pt.val_batches)
    loader = lambda ds: DataLoader(ds, batch_size=None, shuffle=False, num_workers=0)  # noqa: E731

    config = build_lm_config(params.model, meta["vocab_size"], meta["special_ids"])
    module = CausalLM(config, pt, total_steps=pt.max_steps)
    n_params = sum(p.numel() for p in module.model.parameters())
    throughput = Throughput()
    keys = ["model", "tokenizer", "pretrain", "trainer", "seed"]
    data_tags = {f"llmops.data.{s['file']}.sha256": s["sha256"] for s in meta.get("sources", [])}
    with stage_run(
        "pretrain", params, keys, tags={"llmops.tokenizer_sha256": meta["tokenizer_sha256"], **data_tags}
    ) as run:
        trainer = build_trainer(
            params.trainer,
            run,
            tracking_uri(params),
            [throughput],
            max_steps=pt.max_steps,
            gradient_clip_val=pt.grad_clip,
            val_check_interval=min(pt.val_every_steps, pt.max_steps),
            check_val_every_n_epoch=None,
            limit_val_batches=len(val),
        )
        t0 = time.perf_counter()
        trainer.fit(module, loader(train), loader(val))
        train_time = time.perf_counter() - t0
        val_loss = float(trainer.validate(module, loader(val), verbose=False)[0]["val_loss"])

        tokenizer = load_tokenizer(TOKENIZER)
        samples = _samples(module.model, tokenizer, seed, torch)
        metrics = {
            "val_loss": val_loss,
            "val_perplexity": math.exp(val_loss),
            "tokens_per_sec": throughput.tokens_per_sec,
            "train_time_s": train_time,
            "steps": int(trainer.global_step),
            "tokens_seen": throughput.tokens,
            "epochs_of_corpus": throughput.tokens / meta["train_tokens"],
            "n_params": n_params,
        }
        with atomic_dir(OUT) as tmp:
            module.model.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))
            (tmp / "samples.txt").write_text("\n\n".join(samples) + "\n")
            write_run_ref(tmp / "mlflow_run.json", run)
        write_json(METRICS, metrics)
        mlflow.log_metrics({f"final_{k}": float(v) for k, v in metrics.items()})
        mlflow.log_text("\n\n".join(samples), "samples.txt")
        mlflow.log_artifact(str(METRICS))
        mlflow.log_artifacts(str(OUT), artifact_path="model")
        log_loss_curves(run, "pre-training loss")
    print(
        f"pretrain: val_loss {val_loss:.3f} (ppl {metrics['val_perplexity']:.1f}), "
        f"{metrics['tokens_per_sec']:.0f} tokens/s, {train_time:.0f} s -> {OUT}/"
    )
    return 0


def _samples(model, tokenizer, seed: int, torch) -> list[str]:
    model.eval()
    torch.manual_seed(seed)
    out = []
    for prompt in PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            gen = model.generate(
                ids, max_new_tokens=40, do_sample=True, top_k=40, temperature=0.9, pad_token_id=tokenizer.pad_token_id
            )
        out.append(tokenizer.decode(gen[0], skip_special_tokens=True))
    return out


if __name__ == "__main__":
    sys.exit(main())
