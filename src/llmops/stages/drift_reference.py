"""drift_reference: what `llmops drift` compares a batch with, computed once per model instead of
on every check: the fine-tuned model's view (predicted class, confidence, token count) and the
pre-trained LM's (mean NLL per token) of a seeded train sample and of a seeded validation sample,
and the drift thresholds calibrated for batches of monitoring.n rows, with and without labels ->
models/drift_reference/ (docs/tracking.md). The model card lists the thresholds, so this stage
runs before evaluate."""

from __future__ import annotations

from pathlib import Path

from llmops.config import load_stage_params
from llmops.io import atomic_dir
from llmops.stages.runner import StageError, run_stage
from llmops.tracking.runs import log_stage_run

DATA = Path("data/processed")
MODEL = Path("models/classifier")
OUT = Path("models/drift_reference")
KEYS = ["monitoring.n", "monitoring.seed", "monitoring.min_n", "monitoring.min_labels", "monitoring.label_sample"]


def settings(params) -> dict[str, int]:
    """monitoring.* as the drift check's settings; a value out of range is one line naming it."""
    m = params.monitoring
    out = {k: int(m[k]) for k in ("n", "seed", "min_n", "min_labels", "label_sample")}
    for key, low in (("n", 1), ("min_n", 1), ("min_labels", 0), ("label_sample", 1), ("seed", 0)):
        if out[key] < low:
            raise StageError(f"monitoring.{key}={out[key]}: must be at least {low}")
    if out["min_n"] > out["n"]:
        raise StageError(f"monitoring.min_n={out['min_n']}: must be at most monitoring.n={out['n']}")
    return out


def main() -> int:
    params = load_stage_params("drift_reference")
    from llmops.evaluation.predict import TextClassifier
    from llmops.monitoring import check, drift

    s = settings(params)
    clf = TextClassifier(MODEL)
    lm, lm_sha = check.language_model(MODEL)  # models/pretrained
    ref = check.build_reference(clf, DATA, n=s["n"], seed=s["seed"], lm=lm)
    with atomic_dir(OUT) as tmp:
        weights = {"model": drift.weights_sha(MODEL), "lm": lm_sha}
        content = check.save_reference(ref, tmp, weights=weights, settings=s)
    metrics = {f"threshold_{kind}/{k}": v for kind, t in content["thresholds"].items() for k, v in t.items()}
    log_stage_run("drift_reference", params, keys=KEYS, metrics=metrics, artifacts=(OUT / "reference.json",))
    auc = content["thresholds"]["labeled"]["domain_auc"]
    rows = content["rows"]
    print(
        f"drift_reference: {rows['reference']} train and {rows['validation']} validation rows scored, thresholds "
        f"at n={s['n']} (domain AUC {auc:.3f}) -> {OUT}/"
    )
    return 0


if __name__ == "__main__":
    run_stage(main)
