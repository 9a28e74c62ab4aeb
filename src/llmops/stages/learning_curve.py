"""learning_curve: what pre-training buys as labels get scarce. For each label budget N in
learning_curve.budgets and each seed, fine-tune the pre-trained init and the scratch init on the
seed's nested stratified N-row subset of the train split, for the budget's fixed step count, with
the curve's own recipe (learning_curve.lr, ...: a finetune.* experiment does not rerun the curve),
and fit TF-IDF + logistic regression on the same rows; every point is scored on the whole test
split with the best step by validation. The full-data point is `evaluate`'s (the finetune stages'
classifiers). -> metrics/learning_curve.json (flat keys: f1_macro@N, pretrain_gain_f1@N, ...),
reports/curves/learning_curve.csv (a DVC plot), reports/learning_curve.png, and one MLflow run with
a child run per cell.

Cells run one thread each, `data.executor.workers` at a time (auto: trainer.num_threads), or as Ray
tasks under data.executor.kind=ray; finished cells are kept in checkpoints/learning_curve/ by what
determines them, so a killed or repeated run trains only the cells it has not seen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmops.config import load_stage_params
from llmops.io import read_json, write_json, write_text
from llmops.stages.runner import run_stage
from llmops.tracking.runs import stage_run

DATA = Path("data/processed")
LM = Path("models/pretrained")
STORE = Path("checkpoints/learning_curve")
METRICS = Path("metrics/learning_curve.json")
CSV = Path("reports/curves/learning_curve.csv")
PNG = Path("reports/learning_curve.png")
KEYS = ["learning_curve", "finetune.init", "finetune.checkpoint", "seed"]
# learning_curve's keys that are not the fine-tuning recipe
PLAN_KEYS = ("budgets", "steps", "seeds", "val_subsample", "bootstrap_rounds")


@dataclass(frozen=True)
class TrainedCell:
    model: str  # pretrained | scratch: the curve's line
    budget: int
    steps: int
    cell: Any  # label_efficiency.cells.Cell
    result: dict[str, Any]  # fit_cell's record: best val macro-F1 and step, time, test predictions


@dataclass
class Inputs:
    labels: list[str]
    train: pd.DataFrame
    train_ids: list[list[int]]
    y_train: np.ndarray
    val: Any  # EncodedTexts: the fixed validation subset
    test_texts: list[str]
    test_ids: list[list[int]]
    y_test: np.ndarray
    pad_id: int


def main() -> int:
    params = load_stage_params("learning_curve")
    from llmops.models.hf import classifier_config_source

    # No Lightning here (13 s to import): the cells import it in their own processes, in parallel.
    init = str(params.finetune.init)
    source = classifier_config_source(init, LM, params.finetune.get("checkpoint"))
    inputs = read_inputs(params, source)
    inits = {"pretrained": init, "scratch": "hf_scratch" if init == "hf" else "scratch"}
    if init == "scratch":  # nothing pre-trained to compare: the scratch line and TF-IDF only
        inits.pop("pretrained")
    budgets = usable_budgets(params.learning_curve, n_train=len(inputs.train))
    cells = train_cells(params, inputs=inputs, inits=inits, budgets=budgets, source=source)
    preds: dict[Any, dict[str, list[np.ndarray]]] = {}
    for cell in cells:  # in seed order within each (budget, model): pairs line up by seed
        preds.setdefault(cell.budget, {}).setdefault(cell.model, []).append(cell.result["test_pred"])
    for point, runs in tfidf_predictions(params, inputs, budgets=[b for b, _ in budgets]).items():
        preds[point]["tfidf"] = runs
    metrics = summarize(params, inputs, preds=preds, budgets=[b for b, _ in budgets])
    metrics.update(validation_gains(cells))
    write_outputs(metrics, labels=inputs.labels)
    log_runs(params, metrics, cells=cells, inputs=inputs)
    _print_summary(metrics, budgets=[b for b, _ in budgets])
    return 0


def read_inputs(params: Any, source: Path) -> Inputs:
    """The splits, tokenized once for every cell."""
    from llmops.models.hf import load_hf_tokenizer
    from llmops.models.inputs import EncodedTexts

    lc = params.learning_curve
    tokenizer = load_hf_tokenizer(source)
    labels = read_json(DATA / "labels.json")
    label_id = {label: i for i, label in enumerate(labels)}
    train, val, test = (pd.read_parquet(DATA / f"{split}.parquet") for split in ("train", "val", "test"))
    if lc.val_subsample < len(val):
        val = val.sample(n=int(lc.val_subsample), random_state=int(params.seed))
    encode = encoder(params, tokenizer, train)
    return Inputs(
        labels,
        train=train,
        train_ids=encode(train),
        y_train=train["label"].map(label_id).to_numpy(),
        val=EncodedTexts(encode(val), [label_id[label] for label in val["label"]]),
        test_texts=test["text"].tolist(),
        test_ids=encode(test),
        y_test=test["label"].map(label_id).to_numpy(),
        pad_id=tokenizer.pad_token_id,
    )


def encoder(params: Any, tokenizer: Any, train: pd.DataFrame) -> Callable[[pd.DataFrame], list[list[int]]]:
    """A frame's texts as the cells' token ids: the fine-tuning's input template, the curve's own
    max_length (`auto`: chosen on the whole train split, as the finetune stage does) and truncation."""
    from llmops.models.inputs import encode_texts, input_template, resolve_max_length

    lc = params.learning_curve
    template = input_template(str(params.finetune.init))
    max_length, _ = resolve_max_length(lc.max_length, tokenizer, train["text"].tolist(), template=template)
    cut = str(lc.truncation)
    return lambda df: encode_texts(tokenizer, df["text"].tolist(), max_length, template=template, truncation=cut)


def usable_budgets(lc: Any, n_train: int) -> list[tuple[int, int]]:
    """(budget, steps) pairs below the train split's size; the others are skipped, and said so."""
    pairs = [(int(b), int(s)) for b, s in zip(lc.budgets, lc.steps, strict=True)]
    kept = [(b, s) for b, s in pairs if b < n_train]
    if len(kept) < len(pairs):
        skipped = ", ".join(str(b) for b, _ in pairs if b >= n_train)
        print(f"learning_curve: budgets {skipped} skipped: the train split has {n_train} rows")
    return kept


def train_cells(
    params: Any,
    inputs: Inputs,
    inits: dict[str, str],
    budgets: list[tuple[int, int]],
    source: Path,
    store: Path = STORE,
) -> list[TrainedCell]:
    """Every (seed, budget, init) cell, in that order; cells stored by an earlier run (killed, or
    of another curve sharing them) are read back, not retrained."""
    from llmops.label_efficiency.cells import CellProgress, CellStore, Executor, run_cells

    jobs = cell_jobs(params, inputs=inputs, inits=inits, budgets=budgets, source=source)
    only_jobs = [job for _, job in jobs]
    executor = Executor.from_config(params.data.executor, num_threads=int(params.trainer.num_threads))
    # no lock: a cell's file is written atomically and holds the same result whoever writes it
    results = run_cells(only_jobs, CellStore(store), executor, on_done=CellProgress(only_jobs))
    return [
        TrainedCell(model, budget=job.cell.budget, steps=job.steps, cell=job.cell, result=results[job.key])
        for model, job in jobs
    ]


def cell_jobs(
    params: Any, inputs: Inputs, inits: dict[str, str], budgets: list[tuple[int, int]], source: Path
) -> list[tuple[str, Any]]:
    """(the curve's line, the cell's job) for every (seed, budget, init)."""
    from omegaconf import OmegaConf

    from llmops.data.budget import nested_subsets
    from llmops.label_efficiency.cells import Cell, CellJob, source_digest
    from llmops.models.inputs import EncodedTexts

    lc, steps_of = params.learning_curve, dict(budgets)
    recipe = {k: v for k, v in OmegaConf.to_container(lc).items() if k not in PLAN_KEYS}
    trainer = OmegaConf.to_container(params.trainer)
    digests = {init: source_digest(source, init) for init in inits.values()}
    out = []
    for seed, budget, rows in nested_subsets(inputs.train["label"].tolist(), lc.seeds, budgets=list(steps_of)):
        subset = EncodedTexts([inputs.train_ids[i] for i in rows], inputs.y_train[rows].tolist())
        for model, init in inits.items():
            job = CellJob(
                Cell(init, budget=budget, seed=seed),
                steps=steps_of[budget],
                source=str(source),
                source_digest=digests[init],
                labels=inputs.labels,
                train=subset,
                val=inputs.val,
                test_ids=inputs.test_ids,
                pad_id=inputs.pad_id,
                recipe=recipe,
                trainer=trainer,
            )
            out.append((model, job))
    return out


def tfidf_predictions(params: Any, inputs: Inputs, budgets: list[int]) -> dict[Any, list[np.ndarray]]:
    """TF-IDF + logistic regression on each seed's subsets (the rows the cells trained on):
    {budget: [test predictions per seed]} (the whole train split's is evaluate's baseline)."""
    from llmops.data.budget import nested_subsets
    from llmops.evaluation.baselines import tfidf_logreg

    texts, test = inputs.train["text"].tolist(), inputs.test_texts
    out: dict[Any, list[np.ndarray]] = {b: [] for b in budgets}
    for seed, budget, rows in nested_subsets(inputs.train["label"].tolist(), params.learning_curve.seeds, budgets):
        out[budget].append(tfidf_logreg([texts[i] for i in rows], inputs.y_train[rows], test_x=test, seed=seed))
    return out


def summarize(
    params: Any, inputs: Inputs, preds: dict[Any, dict[str, list[np.ndarray]]], budgets: list[int]
) -> dict[str, Any]:
    from llmops.label_efficiency.figures import point_metrics

    lc = params.learning_curve
    metrics: dict[str, Any] = {"budgets": budgets, "seeds": list(lc.seeds), "n_train": len(inputs.train)}
    for point, models in preds.items():
        metrics[f"n_labels@{point}"] = int(point)
        metrics.update(
            point_metrics(
                inputs.y_test,
                models,
                point=str(point),
                n_classes=len(inputs.labels),
                seed=int(params.seed),
                rounds=int(lc.bootstrap_rounds),
            )
        )
    return metrics


def validation_gains(cells: list[TrainedCell]) -> dict[str, float]:
    """What to choose pre-training by (never the test split): each budget's mean best validation
    macro-F1 per init, the paired gain, and `val_gain_auc`, the gain averaged over the budgets
    (evenly spaced on the log axis: the area under the gain curve per unit of log labels)."""
    by_budget: dict[int, dict[str, list[float]]] = {}
    for trained in cells:
        by_budget.setdefault(trained.budget, {}).setdefault(trained.model, []).append(
            trained.result["best_val_f1_macro"]
        )
    out: dict[str, float] = {}
    for budget, models in by_budget.items():
        for model, scores in models.items():
            out[f"val_{'' if model == 'pretrained' else 'scratch_'}f1_macro@{budget}"] = float(np.mean(scores))
        if len(models) == 2:
            gains = np.subtract(models["pretrained"], models["scratch"])
            out[f"val_pretrain_gain_f1@{budget}"] = float(np.mean(gains))
    gains = [v for k, v in out.items() if k.startswith("val_pretrain_gain_f1@")]
    if gains:
        out["val_gain_auc"] = float(np.mean(gains))
    return out


def write_outputs(metrics: dict[str, Any], labels: list[str]) -> None:
    """The metrics file, the plot's CSV (one row per point) and its PNG."""
    from llmops.evaluation.report import learning_curve_png
    from llmops.label_efficiency.figures import learning_curve_rows

    rows = learning_curve_rows(metrics, [str(b) for b in metrics["budgets"]])
    write_json(METRICS, metrics)
    write_text(CSV, pd.DataFrame(rows).to_csv(index=False))
    learning_curve_png(rows, path=PNG, title=f"test macro-F1 vs labels ({len(metrics['seeds'])} seeds)")


def log_runs(params: Any, metrics: dict[str, Any], cells: list[TrainedCell], inputs: Inputs) -> None:
    """The stage's run (figures, PNG, metrics file) with one child run per trained cell, so the
    MLflow UI compares cells by init, budget and seed."""
    import mlflow

    from llmops.evaluation.metrics import macro_f1
    from llmops.tracking.runs import log_child_run

    with stage_run("learning_curve", params, KEYS) as parent:
        numeric = {k.replace("@", "_at_"): float(v) for k, v in metrics.items() if isinstance(v, int | float)}
        mlflow.log_metrics({f"summary/{k}": v for k, v in numeric.items()})
        mlflow.log_artifact(str(METRICS))
        mlflow.log_artifact(str(PNG))
        for trained in cells:
            record = {k: float(v) for k, v in trained.result.items() if k != "test_pred"}
            test_f1 = macro_f1(inputs.y_test, trained.result["test_pred"], len(inputs.labels))
            log_child_run(
                parent,
                name=trained.cell.name,
                params={
                    "init": trained.cell.init,
                    "label_budget": trained.budget,
                    "seed": trained.cell.seed,
                    "steps": trained.steps,
                },
                metrics={"test_f1_macro": test_f1, **record},
            )


def _print_summary(metrics: dict[str, Any], budgets: list[int]) -> None:
    for point in budgets:
        if f"pretrain_gain_f1@{point}" in metrics:
            low, high = metrics[f"pretrain_gain_f1@{point}_ci95"]
            tfidf = metrics.get(f"tfidf_f1_macro@{point}", float("nan"))
            print(
                f"learning_curve: {point} labels: pre-trained {metrics[f'f1_macro@{point}']:.3f}, scratch "
                f"{metrics[f'scratch_f1_macro@{point}']:.3f}, TF-IDF {tfidf:.3f}; "
                f"gain {metrics[f'pretrain_gain_f1@{point}']:+.3f} [{low:+.3f}, {high:+.3f}]"
            )


if __name__ == "__main__":
    run_stage(main)
