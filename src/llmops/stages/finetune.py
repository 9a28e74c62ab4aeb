"""finetune@pretrained and finetune@scratch (one DVC foreach stage): train the sequence classifier
on the labeled train split and keep the best evaluation by validation macro-F1.

- `pretrained` starts from finetune.init: the pre-trained LM (`pretrained`) or a local Hugging
  Face checkpoint (`hf`, with finetune.checkpoint) -> models/classifier/, metrics/finetune.json;
- `scratch` is the ablation: the same architecture from random init, with the same settings and
  budget -> models/classifier_scratch/, metrics/finetune_scratch.json; `evaluate` reports the
  difference as pretrain_gain_f1. finetune.ablation=false skips it.

Usage: python -m llmops.stages.finetune pretrained|scratch"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from llmops.config import load_stage_params
from llmops.data.split import processed_fingerprint
from llmops.io import read_json, write_json
from llmops.stages.runner import StageError, run_stage
from llmops.tracking.runs import log_training_outputs, run_ref, skip_stage, tracking_uri

DATA = Path("data/processed")
LM = Path("models/pretrained")
KEYS = ["finetune", "seed"]  # what a crash checkpoint must agree with to be resumed
CURVE_NAMES = ("train_loss", "val_loss", "val_f1_macro")


@dataclass(frozen=True)
class Variant:
    name: str  # MLflow stage tag, checkpoint folder, reports/runs/<name>.json, log prefix
    out: Path
    metrics: Path
    curves: Path  # per-step CSVs for DVC plots


VARIANTS = {
    "pretrained": Variant(
        name="finetune",
        out=Path("models/classifier"),
        metrics=Path("metrics/finetune.json"),
        curves=Path("reports/curves/finetune"),
    ),
    "scratch": Variant(
        name="finetune_scratch",
        out=Path("models/classifier_scratch"),
        metrics=Path("metrics/finetune_scratch.json"),
        curves=Path("reports/curves/finetune_scratch"),
    ),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in VARIANTS:
        raise StageError(f"usage: python -m llmops.stages.finetune {'|'.join(VARIANTS)}")
    variant, scratch = VARIANTS[args[0]], args[0] == "scratch"
    params = load_stage_params(f"finetune@{args[0]}")
    if scratch and not params.finetune.ablation:
        return skip_stage(
            variant.name,
            params,
            keys=["finetune.ablation"],
            reason="finetune.ablation=false",
            model_dir=variant.out,
            metrics=variant.metrics,
            curves=variant.curves,
            names=CURVE_NAMES,
        )
    init = str(params.finetune.init)
    if scratch:  # the same architecture as finetune.init's, randomly initialised
        init = "hf_scratch" if init == "hf" else "scratch"
    return train(params, variant, init)


def train(params, variant: Variant, init: str) -> int:
    from llmops.models.hf import classifier_config_source, load_hf_tokenizer, save_hf_model
    from llmops.models.inputs import input_template
    from llmops.training import finetune
    from llmops.training.checkpoints import StepCheckpoint
    from llmops.training.session import training_session
    from llmops.training.trainer import setup_runtime

    cfg, seed = params.finetune, int(params.seed)
    setup_runtime(params.trainer, seed)
    source = classifier_config_source(init, LM, cfg.get("checkpoint"))
    tokenizer, template = load_hf_tokenizer(source), input_template(init)
    try:
        splits = finetune.encode_splits(DATA, tokenizer, cfg=cfg, seed=seed, template=template)
    except ValueError as err:  # a label budget the train split cannot hold: the user's to change
        raise StageError(str(err)) from None
    upstream = read_json(LM / "mlflow_run.json")["run_id"] if init == "pretrained" else str(source)
    fingerprint = {"init": init, "source": upstream, "data": processed_fingerprint(DATA)}
    tags = {"llmops.finetune.init": init, "llmops.finetune.source": str(source)}
    if init == "pretrained":
        tags["llmops.upstream.pretrain_run"] = upstream
    with training_session(variant.name, params, keys=KEYS, fingerprint=fingerprint, tags=tags) as session:
        job = finetune.build(
            cfg,
            params.trainer,
            init=init,
            source=source,
            splits=splits,
            seed=seed,
            callbacks=(StepCheckpoint(session.folder.last, cfg.checkpoint_every_steps),),
            progress=variant.name,
            run=session.run,
            tracking_uri=tracking_uri(params),
        )
        metrics = {**finetune.fit(job, session, advice="lower finetune.lr to start fresh"), "init": init}
        metrics.update(max_length=splits.max_length, max_length_rule=splits.max_length_rule)
        if not session.rank_zero:
            return 0
        files = _model_files(params, template, splits)
        files["mlflow_run.json"] = run_ref(session.run)
        save_hf_model(variant.out, job.module.model, tokenizer=tokenizer, files=files)
        write_json(variant.metrics, metrics)
        log_training_outputs(
            session.run,
            metrics,
            metrics_file=variant.metrics,
            model_dir=variant.out,
            curves=variant.curves,
            title=f"fine-tuning loss ({init})",
            names=CURVE_NAMES,
        )
    print(
        f"{variant.name}: {init} init, best val macro-F1 {metrics['best_val_f1_macro']:.4f} at step "
        f"{metrics['best_step']} of {metrics['steps']} ({metrics['train_time_s']:.0f} s, "
        f"{metrics['epochs']:.2f} epochs; texts read up to {splits.max_length} tokens, {cfg.truncation}, "
        f"{splits.max_length_rule}) -> {variant.out}/"
    )
    return 0


def _model_files(params, template: str, splits) -> dict[str, dict]:
    """What prediction must do as training did: clean the text alike, and read it alike."""
    inputs = {"template": template, "max_length": splits.max_length, "max_length_rule": splits.max_length_rule}
    return {
        "preprocess.json": dict(params.data.preprocess),
        "inputs.json": {**inputs, "truncation": str(params.finetune.truncation)},
    }


if __name__ == "__main__":
    run_stage(main)
