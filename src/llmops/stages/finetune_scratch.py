"""finetune_scratch: the ablation. The same classifier architecture as `finetune`, from random
init, with exactly the same fine-tuning settings and budget -> models/classifier_scratch/ and
metrics/finetune_scratch.json; `evaluate` reports the difference as pretrain_gain_f1.
finetune.ablation=false skips it (writes a marker, trains nothing)."""

from __future__ import annotations

import sys
from pathlib import Path

from llmops.config import load_stage_params
from llmops.io import atomic_dir, write_json
from llmops.tracking.runs import log_stage_run, write_empty_curves

OUT = Path("models/classifier_scratch")
METRICS = Path("metrics/finetune_scratch.json")
CURVES = Path("reports/curves/finetune_scratch")


def main() -> int:
    params = load_stage_params("finetune_scratch")
    if not params.finetune.ablation:
        with atomic_dir(OUT) as tmp:
            write_json(tmp / "skipped.json", {"reason": "finetune.ablation=false"})
        write_json(METRICS, {"skipped": True})
        write_empty_curves(CURVES, ("train_loss", "val_loss", "val_f1_macro"))
        log_stage_run("finetune_scratch", params, ["finetune.ablation"], tags={"llmops.skipped": "true"})
        print("finetune_scratch: skipped (finetune.ablation=false)")
        return 0
    from llmops.training.finetune import Job, run

    init = "hf_scratch" if params.finetune.init == "hf" else "scratch"
    return run(params, Job(stage="finetune_scratch", init=init, out=OUT, metrics=METRICS, curves=CURVES))


if __name__ == "__main__":
    sys.exit(main())
