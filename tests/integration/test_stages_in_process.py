"""The training stages called in-process, lightning-hydra-template style: compose the config with
tiny overrides, call the stage's `main()`, check what it wrote. Each test has its own copy of the ci
pipeline's workspace (data, tokenizer, LM) and its own MLflow store; the subprocess tests
(test_pipeline.py) cover the same stages as DVC runs them."""

import json

import pytest

from llmops.config import write_params

from ..conftest import CI, workspace_from

pytestmark = pytest.mark.integration

TINY = [  # a few steps each: the stage's whole path, fast_dev_run-sized
    "pretrain.max_steps=3",
    "pretrain.warmup_steps=1",
    "pretrain.val_every_steps=3",
    "pretrain.val_batches=1",
    "finetune.max_steps=3",
    "finetune.val_every_steps=3",
    "learning_curve.budgets=[40]",
    "learning_curve.steps=[2]",
    "learning_curve.seeds=[1337]",
    "learning_curve.val_every_steps=2",
]


@pytest.fixture
def workspace(ci_pipeline, tmp_path, monkeypatch):
    ws, env = workspace_from(ci_pipeline[3], tmp_path / "repo")
    monkeypatch.chdir(ws)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    write_params([*CI, *TINY], ws / "params.yaml", ws / "conf")
    return ws


def read(ws, path):
    return json.loads((ws / path).read_text())


def test_pretrain_finetune_and_learning_curve_run_in_process(workspace):
    from llmops.stages import finetune, learning_curve, pretrain
    from llmops.stages.runner import run_main

    assert run_main(pretrain.main) == 0
    assert read(workspace, "metrics/pretrain.json")["steps"] == 3
    assert (workspace / "models/pretrained/model.safetensors").is_file()

    assert finetune.main(["pretrained"]) == 0
    metrics = read(workspace, "metrics/finetune.json")
    assert metrics["steps"] == 3 and metrics["init"] == "pretrained"
    assert read(workspace, "models/classifier/mlflow_run.json")["run_id"]

    assert run_main(learning_curve.main) == 0
    curve = read(workspace, "metrics/learning_curve.json")
    assert curve["budgets"] == [40] and "pretrain_gain_f1@40" in curve


def test_a_label_budget_the_split_cannot_hold_is_one_stage_error(workspace, capsys):
    from llmops.stages import finetune
    from llmops.stages.runner import StageError

    write_params([*CI, *TINY, "finetune.label_budget=1"], workspace / "params.yaml", workspace / "conf")
    with pytest.raises(StageError, match="finetune.label_budget"):
        finetune.main(["pretrained"])


def test_long_texts_are_fine_tuned_on_up_to_the_models_context(workspace):
    """Texts of 2,000+ characters (each tweet of the split repeated up to that): `max_length: auto`
    reads them up to the LM's context (64 in the ci model), head+tail, and the model folder
    records how, for predict to read them alike."""
    import pandas as pd

    from llmops.stages import finetune

    for split in ("train", "val"):
        path = workspace / f"data/processed/{split}.parquet"
        df = pd.read_parquet(path)
        df.assign(text=[" ".join([t] * (2000 // len(t) + 1)) for t in df["text"]]).to_parquet(path, index=False)
    assert pd.read_parquet(workspace / "data/processed/train.parquet")["text"].str.len().min() >= 2000
    cut = ["finetune.max_length=auto", "finetune.truncation=head_tail"]
    write_params([*CI, *TINY, *cut], workspace / "params.yaml", workspace / "conf")
    assert finetune.main(["pretrained"]) == 0
    metrics = read(workspace, "metrics/finetune.json")
    assert metrics["max_length"] == 64 and metrics["max_length_rule"].startswith("auto"), metrics
    inputs = read(workspace, "models/classifier/inputs.json")
    assert inputs["max_length"] == 64 and inputs["truncation"] == "head_tail", inputs
