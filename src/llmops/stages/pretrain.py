"""pretrain: causal-LM pre-training with PyTorch Lightning on random windows of the packed memmap
-> models/pretrained/ (save_pretrained, safetensors, with the tokenizer) and metrics/pretrain.json.

Runs on 1 CPU, 1 GPU or N processes (conf/trainer/); under DDP every rank runs this module and
only global rank 0 logs to MLflow and writes outputs. A rerun after a crash resumes from the last
step checkpoint in checkpoints/pretrain/."""

from __future__ import annotations

from pathlib import Path

from llmops.config import load_stage_params
from llmops.errors import StageError
from llmops.io import read_json, write_json
from llmops.stages.runner import run_stage
from llmops.tracking.runs import log_training_outputs, run_ref, skip_stage, tracking_uri

PACKED = Path("data/packed")
TOKENIZER = Path("models/tokenizer")
OUT = Path("models/pretrained")
METRICS = Path("metrics/pretrain.json")
CURVES = Path("reports/curves/pretrain")
CURVE_NAMES = ("train_loss", "val_loss")
PROMPTS = ["The", "I think that", "Driverless cars", "In 1900,"]
# not trainer: resuming on other hardware is fine; not tokenizer: the tokenizer file's sha256 is in
# the data fingerprint, so a tokenizer-training knob that leaves the file alone reruns nothing here
KEYS = ["model", "pretrain", "seed"]


def main() -> int:
    params = load_stage_params("pretrain")
    if params.finetune.init == "hf":
        return skip_stage(
            "pretrain",
            params,
            keys=["finetune.init"],
            reason="finetune.init=hf: the classifier starts from finetune.checkpoint",
            model_dir=OUT,
            metrics=METRICS,
            curves=CURVES,
            names=CURVE_NAMES,
        )
    meta = read_json(PACKED / "meta.json")
    check_windows(meta, context=int(params.model.context_length))
    import mlflow

    from llmops.models.generate import sample_texts
    from llmops.models.hf import load_hf_tokenizer, save_hf_model
    from llmops.training import pretrain
    from llmops.training.session import training_session
    from llmops.training.trainer import setup_runtime

    setup_runtime(params.trainer, int(params.seed))
    with training_session("pretrain", params, KEYS, fingerprint={"data": meta}, tags=_data_tags(meta)) as session:
        job = pretrain.build(params, packed=PACKED, meta=meta, session=session, tracking_uri=tracking_uri(params))
        metrics = pretrain.fit(job, session, meta)
        if not session.rank_zero:
            return 0
        tokenizer = load_hf_tokenizer(TOKENIZER)
        samples = "\n\n".join(sample_texts(job.module.model, tokenizer, PROMPTS, seed=int(params.seed)))
        files = {"samples.txt": samples + "\n", "mlflow_run.json": run_ref(session.run)}
        save_hf_model(OUT, job.module.model, tokenizer=tokenizer, files=files)
        write_json(METRICS, metrics)
        mlflow.log_text(samples, "samples.txt")
        log_training_outputs(
            session.run,
            metrics,
            metrics_file=METRICS,
            model_dir=OUT,
            curves=CURVES,
            title="pre-training loss",
            names=CURVE_NAMES,
        )
    print(_summary_line(metrics))
    return 0


def check_windows(meta: dict, context: int) -> None:
    """Each packed split holds at least one training window (context + 1 tokens), else a
    StageError that says what to add, before anything heavy is imported or a run is opened."""
    for split in ("train", "val"):
        if meta[f"{split}_tokens"] <= context + 1:
            raise StageError(
                f"pretrain: {PACKED}/{split} holds {meta[f'{split}_tokens']} tokens, fewer than one window of "
                f"{context + 1} (model.context_length + 1): add unlabeled text (data.corpus.paths, or "
                "data.corpus.include_default=true) or lower model.context_length"
            )


def _data_tags(meta: dict) -> dict[str, str]:
    """The tokenizer and every packed source's sha256, so a run names exactly what it read."""
    sources = {f"llmops.data.{s['file']}.sha256": s["sha256"] for s in meta.get("sources", [])}
    return {"llmops.tokenizer_sha256": meta["tokenizer_sha256"], **sources}


def _summary_line(m: dict) -> str:
    peak = f"{m['peak_tflops_per_device']:.2f} TFLOP/s ({m['peak_source']})"
    mfu = f", MFU {m['mfu']:.1%} of {peak}" if m["mfu"] else f", no MFU: peak {peak}"
    own = (
        f"; the task's own text: {m['in_domain_tokens']:,} tokens, each read {m['in_domain_epochs']:.1f} times"
        if m.get("in_domain_epochs")
        else ""
    )
    return (
        f"pretrain: {m['steps']} steps, val_loss {m['val_loss']:.4f} (ppl {m['val_perplexity']:.1f}), "
        f"{m['tokens_per_sec']:.0f} tokens/s{mfu}, {m['train_time_s']:.0f} s{own} -> {OUT}/"
    )


if __name__ == "__main__":
    run_stage(main)
