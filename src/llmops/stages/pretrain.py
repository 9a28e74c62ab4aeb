"""pretrain: causal-LM pre-training with PyTorch Lightning on random windows of the packed memmap
-> models/pretrained/ (save_pretrained, safetensors, with the tokenizer) and metrics/pretrain.json.

Runs on 1 CPU, 1 GPU or N processes (conf/trainer/); under DDP every rank runs this module and
only global rank 0 logs to MLflow and writes outputs. A rerun after a crash resumes from the last
step checkpoint in checkpoints/pretrain/."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from llmops.config import load_stage_params
from llmops.io import atomic_dir, read_json, write_json
from llmops.tracking.runs import log_curves, tracking_uri, write_run_ref

PACKED = Path("data/packed")
TOKENIZER = Path("models/tokenizer")
OUT = Path("models/pretrained")
METRICS = Path("metrics/pretrain.json")
CURVES = Path("reports/curves/pretrain")
PROMPTS = ["The", "I think that", "Driverless cars", "In 1900,"]
KEYS = ["model", "tokenizer", "pretrain", "seed"]  # not trainer: resuming on other hardware is fine


def main() -> int:
    params = load_stage_params("pretrain")
    if params.finetune.init == "hf":  # fine-tuning starts from a Hugging Face checkpoint: nothing to pre-train
        return _skip(params)
    import mlflow
    import torch
    from torch.utils.data import DataLoader

    from llmops.models.hf import build_lm_config, load_tokenizer
    from llmops.models.lm import CausalLM
    from llmops.training.callbacks import Progress, Throughput
    from llmops.training.checkpoints import StepCheckpoint
    from llmops.training.data import BatchPlan, FixedWindows, PackedTokens, window_batches
    from llmops.training.dist import world_size
    from llmops.training.flops import flops_per_token, peak_tflops
    from llmops.training.session import training_session
    from llmops.training.trainer import build_trainer, fit, model_state, setup_runtime

    pt, seed, tcfg = params.pretrain, int(params.seed), params.trainer
    setup_runtime(tcfg, seed)
    meta = read_json(PACKED / "meta.json")
    context = int(params.model.context_length)
    train_tokens = PackedTokens(PACKED / "train.bin", meta["dtype"], context)
    val_tokens = PackedTokens(PACKED / "val.bin", meta["dtype"], context)

    config = build_lm_config(params.model, meta["vocab_size"], meta["special_ids"])
    module = CausalLM(config, pt, total_steps=pt.max_steps, compile=bool(tcfg.compile))
    n_params = sum(p.numel() for p in module.model.parameters())
    device = "cuda" if tcfg.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available() else "cpu"
    peak, peak_source = peak_tflops(tcfg.get("peak_tflops"), device)
    throughput = Throughput(flops_per_token(config, n_params), peak)
    data_tags = {f"llmops.data.{s['file']}.sha256": s["sha256"] for s in meta.get("sources", [])}
    tags = {"llmops.tokenizer_sha256": meta["tokenizer_sha256"], **data_tags}
    with training_session("pretrain", params, KEYS, {"data": meta}, tags) as session:
        checkpoint = StepCheckpoint(session.folder.last, pt.checkpoint_every_steps)
        plan = BatchPlan.from_config(pt, world_size(tcfg), "pretrain", context)
        trainer = build_trainer(
            tcfg,
            run=session.run,
            tracking_uri=tracking_uri(params),
            callbacks=[throughput, checkpoint, Progress("pretrain", throughput)],
            plan=plan,
            max_steps=pt.max_steps,
            val_every_steps=pt.val_every_steps,
            gradient_clip_val=pt.grad_clip,
        )
        val = FixedWindows(val_tokens, pt.val_batches * plan.global_batch, plan.micro_batch)
        train = window_batches(
            train_tokens, plan, pt.max_steps, seed, device == "cuda", meta.get("train_segments"),
            pt.get("in_domain_fraction"),
        )  # fmt: skip
        val_loader = DataLoader(val, batch_size=None, shuffle=False, num_workers=0, pin_memory=device == "cuda")
        t0 = time.perf_counter()
        advice = "a rerun resumes from it and will hit the same loss: lower pretrain.lr or raise warmup_steps"
        fit(trainer, module, train, val_loader, session.folder, advice + ", which starts fresh")
        train_time = time.perf_counter() - t0
        val_loss = float(trainer.validate(module, val_loader, verbose=False)[0]["val_loss"])
        state = model_state(trainer)
        if not session.rank_zero:
            return 0

        module.model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
        tokenizer = load_tokenizer(TOKENIZER)
        samples = _samples(module.model, tokenizer, seed, torch)
        metrics = {
            "val_loss": val_loss,
            "val_perplexity": math.exp(val_loss),
            "tokens_per_sec": throughput.tokens_per_sec,
            "step_time_s": throughput.step_time_s,
            "model_flops_per_token": throughput.flops_per_token,
            "mfu": throughput.mfu(throughput.tokens_per_sec, trainer.world_size) if peak else None,
            "peak_tflops_per_device": peak,
            "peak_source": peak_source,
            "train_time_s": train_time,
            "steps": int(trainer.global_step),
            "resumed_from_step": session.resume_step,
            "global_batch": plan.global_batch,
            "micro_batch": plan.micro_batch,
            "accumulation": plan.accumulation,
            "world_size": trainer.world_size,
            "tokens_seen": int(trainer.global_step) * plan.global_batch * context,
            "epochs_of_corpus": int(trainer.global_step) * plan.global_batch * context / meta["train_tokens"],
            "timed_tokens": throughput.tokens,
            "n_params": n_params,
        }
        with atomic_dir(OUT) as tmp:
            module.model.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))
            (tmp / "samples.txt").write_text("\n\n".join(samples) + "\n")
            write_run_ref(tmp / "mlflow_run.json", session.run)
        write_json(METRICS, metrics)
        mlflow.log_metrics({f"summary/{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float)})
        mlflow.log_text("\n\n".join(samples), "samples.txt")
        mlflow.log_artifact(str(METRICS))
        mlflow.log_artifacts(str(OUT), artifact_path="model")
        log_curves(session.run, "pre-training loss", CURVES)
    mfu = f", MFU {metrics['mfu']:.1%} of {peak:.2f} TFLOP/s ({peak_source})" if metrics["mfu"] is not None else ""
    print(
        f"pretrain: val_loss {val_loss:.4f} (ppl {metrics['val_perplexity']:.1f}), "
        f"{metrics['tokens_per_sec']:.0f} tokens/s{mfu}, {train_time:.0f} s -> {OUT}/"
    )
    return 0


def _skip(params) -> int:
    from llmops.tracking.runs import log_stage_run, write_empty_curves

    reason = {"skipped": True, "reason": "finetune.init=hf: the classifier starts from finetune.checkpoint"}
    with atomic_dir(OUT) as tmp:
        write_json(tmp / "skipped.json", reason)
    write_json(METRICS, reason)
    write_empty_curves(CURVES, ("train_loss", "val_loss"))
    log_stage_run("pretrain", params, ["finetune.init"], tags={"llmops.skipped": "true"})
    print(f"pretrain: skipped ({reason['reason']})")
    return 0


def _samples(model, tokenizer, seed: int, torch) -> list[str]:
    model.eval()
    torch.manual_seed(seed)
    out = []
    for prompt in PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
        with torch.no_grad():
            gen = model.generate(
                ids, max_new_tokens=40, do_sample=True, top_k=40, temperature=0.9, pad_token_id=tokenizer.pad_token_id
            )
        out.append(tokenizer.decode(gen[0], skip_special_tokens=True))
    return out


if __name__ == "__main__":
    sys.exit(main())
