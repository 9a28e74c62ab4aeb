"""The registry gate and the pyfunc model, on a real sqlite MLflow store with a real (tiny,
untrained) classifier directory; then `mlflow models serve` answering over 127.0.0.1."""

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from ..conftest import VENV_BIN, background_server, free_port, tiny_llama_config

LABELS = ["negative", "neutral", "positive"]
TEXTS = ["I love this car", "stuck in traffic again", "the bus comes at nine"]
SERVED = "served-classifier"  # registered by the fixture; the gating tests use names of their own


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A tracking store with a tiny classifier registered once as the champion of SERVED."""
    import mlflow
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from llmops.data.tokenizer import save_for_transformers, train_bpe

    root = tmp_path_factory.mktemp("registry")
    special = {"bos": "<|bos|>", "eos": "<|eos|>", "pad": "<|pad|>", "unk": "<|unk|>"}
    model_dir = root / "classifier"
    tok = train_bpe(iter(TEXTS * 10), 300, 1, special)
    save_for_transformers(tok, special, model_dir, 32)
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=tok.token_to_id("<|pad|>"),
        num_labels=3,
        id2label=dict(enumerate(LABELS)),
        label2id={k: i for i, k in enumerate(LABELS)},
    )
    LlamaForSequenceClassification(config).save_pretrained(model_dir)
    uri = f"sqlite:///{root}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("registry-test")
    _register(uri, model_dir, 0.70, name=SERVED)  # the champion the serving tests load, whatever ran before
    return root, uri, model_dir


def _register(uri, model_dir, score, margin=0.005, labels=LABELS, rescored=None, name="llmops-classifier"):
    """Log + register the tiny model and gate it. `rescored`: the champion's score on this
    version's test split (default: the score it was registered with, i.e. the same split)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from llmops.tracking import pyfunc, registry

    mlflow.set_tracking_uri(uri)
    with mlflow.start_run():
        info = pyfunc.log_classifier(model_dir, LABELS, name)
    return registry.gate(
        MlflowClient(uri),
        name=name,
        version=info.registered_model_version,
        score=score,
        margin=margin,
        labels=labels,
        rescore=lambda mv: rescored if rescored is not None else float(mv.tags[registry.SCORE_TAG]),
    )


def _version(client, alias, name="llmops-classifier"):
    return str(client.get_model_version_by_alias(name, alias).version)


def test_champion_moves_only_for_a_better_model(registry):
    from mlflow.tracking import MlflowClient

    _, uri, model_dir = registry
    client = MlflowClient(uri)
    first = _register(uri, model_dir, 0.70)
    assert first["decision"] == "champion" and first["reason"] == "no champion yet"
    worse = _register(uri, model_dir, 0.65)
    assert worse["decision"] == "challenger" and worse["champion_version_before"] == first["version"]
    tie = _register(uri, model_dir, 0.703)  # within the margin: not better enough
    assert tie["decision"] == "challenger" and _version(client, "champion") == str(first["version"])
    # the challenger alias moved from `worse` to `tie`: worse's tag says so
    assert (
        client.get_model_version("llmops-classifier", worse["version"])
        .tags["gate_decision"]
        .startswith("former challenger")
    )
    better = _register(uri, model_dir, 0.75)
    assert better["decision"] == "champion" and better["champion_score_before"] == pytest.approx(0.70)
    assert _version(client, "champion") == str(better["version"]) and _version(client, "challenger") == str(
        tie["version"]
    )
    old = client.get_model_version("llmops-classifier", first["version"]).tags["gate_decision"]
    assert old == f"former champion (replaced by v{better['version']})", "no stale 'champion' tag"


def test_the_champion_is_compared_on_the_challengers_test_split(registry):
    """A champion that scored 0.90 on its own (easier) test split but 0.60 on the challenger's loses
    to a challenger's 0.65 on that split: the stored 0.90 is never compared."""
    from mlflow.tracking import MlflowClient

    _, uri, model_dir = registry
    client = MlflowClient(uri)
    name = "split-test-classifier"
    _register(uri, model_dir, 0.90, name=name)
    new = _register(uri, model_dir, 0.65, rescored=0.60, name=name)
    assert new["decision"] == "champion" and new["champion_score_before"] == pytest.approx(0.60)
    assert "re-scored on this test split" in new["reason"] and _version(client, "champion", name) == "2"


def test_another_label_set_is_never_compared(registry):
    from mlflow.tracking import MlflowClient

    _, uri, model_dir = registry
    client = MlflowClient(uri)
    name = "labels-test-classifier"
    _register(uri, model_dir, 0.50, name=name)
    toy = _register(uri, model_dir, 1.0, labels=["bad", "good"], name=name)
    assert toy["decision"] == "refused" and "nothing to compare" in toy["reason"]
    assert _version(client, "champion", name) == "1"


def test_the_model_name_follows_the_task():
    from omegaconf import OmegaConf

    from llmops.tracking.registry import model_name

    assert model_name(OmegaConf.create({"model_name": None}), "tweet-sentiment") == "tweet-sentiment-classifier"
    assert model_name(OmegaConf.create({"model_name": None}), "data/My Reviews.csv") == "my-reviews-classifier"
    assert model_name(OmegaConf.create({"model_name": "mine"}), "tweet-sentiment") == "mine"


def test_pyfunc_predicts_labels_and_probabilities(registry):
    import mlflow
    import pandas as pd

    _, uri, _ = registry
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{SERVED}@champion")
    out = model.predict(pd.DataFrame({"text": TEXTS}))
    assert list(out.columns) == ["label", "prob_negative", "prob_neutral", "prob_positive"]
    assert set(out["label"]) <= set(LABELS)
    assert out[[f"prob_{x}" for x in LABELS]].sum(axis=1).round(5).eq(1).all()
    sig = model.metadata.signature
    assert sig.inputs.input_names() == ["text"]
    # logged from code: loading runs pyfunc_model.py, nothing is unpickled
    local = mlflow.artifacts.download_artifacts(f"models:/{SERVED}@champion")
    assert not list(Path(local).rglob("*.pkl")) and "pyfunc_model.py" in (Path(local) / "MLmodel").read_text()
    reqs = open(mlflow.pyfunc.get_model_dependencies(f"models:/{SERVED}@champion")).read()
    assert "torch==2.13.0" in reqs and "+cpu" not in reqs and "transformers==5.24.0" in reqs


class _Planted:
    """Unpickling this creates `marker`: the proof that a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_planted_in_the_model_artifacts_is_never_run(registry, tmp_path):
    import pickle
    from urllib.parse import unquote, urlparse

    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    _, uri, _ = registry
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    version = client.get_model_version_by_alias(SERVED, "champion")
    where = client.get_model_version_download_uri(SERVED, version.version)
    stored = Path(unquote(urlparse(where).path)) if where.startswith("file:") else Path(where)
    assert (stored / "MLmodel").exists(), where
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Planted(probe)))
    assert probe.exists()  # the planted pickle does run when something unpickles it
    marker = tmp_path / "pickle-ran"
    # where a cloudpickled pyfunc keeps its model, and a stray pickle beside the weights
    for name in ("python_model.pkl", "artifacts/planted.pkl"):
        target = stored / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pickle.dumps(_Planted(marker)))
    model = mlflow.pyfunc.load_model(f"models:/{SERVED}@champion")
    assert len(model.predict(pd.DataFrame({"text": TEXTS}))) == len(TEXTS)
    assert not marker.exists(), "loading the registered model unpickled a planted file"


def test_llmops_serve_answers_invocations_and_logs_each_request(registry, tmp_path):
    """`llmops serve --request-log DIR` (MLflow's scoring app under uvicorn) answers MLflow's
    request formats, and DIR holds one JSON line per text: time, name/version, text, probabilities."""
    from llmops.monitoring import requests

    _, uri, _ = registry
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    log = tmp_path / "requests"
    cmd = [str(VENV_BIN / "llmops"), "serve", "--model", f"models:/{SERVED}@champion", "--port", str(port)]
    cmd += ["--request-log", str(log)]
    with background_server(cmd, "/ping", port, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as url:
        body = json.dumps({"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXTS]}}).encode()
        req = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
        preds = json.loads(urllib.request.urlopen(req, timeout=60).read())["predictions"]
        assert len(preds) == 3 and all(p["label"] in LABELS for p in preds)
        assert sum(p[f"prob_{x}"] for x in LABELS for p in preds[:1]) == pytest.approx(1.0, abs=1e-5)
        req = urllib.request.Request(
            f"{url}/invocations", data=b"text\none more\n", headers={"Content-Type": "text/csv"}
        )
        assert len(json.loads(urllib.request.urlopen(req, timeout=60).read())["predictions"]) == 1
        logged = requests.read(log, since=requests.parse_since("1h"))  # read while the server still writes
    assert logged["text"].tolist() == [*TEXTS, "one more"] and set(logged["model"]) == {f"{SERVED}/1"}
    assert logged["prob_negative"].iloc[0] == pytest.approx(preds[0]["prob_negative"], abs=1e-6)


@pytest.mark.parametrize("source", ["directory", "registry"])
def test_predict_cli_prints_labels_and_probabilities(registry, source, capsys, monkeypatch, tmp_path):
    from llmops.cli import main

    _, uri, model_dir = registry
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tmp_path / "texts.csv").write_text("text\nfirst line\nsecond line\n")
    model = str(model_dir) if source == "directory" else f"models:/{SERVED}@champion"
    assert main(["predict", "one text", "--file", str(tmp_path / "texts.csv"), "--model", model]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["text"] for x in lines] == ["one text", "first line", "second line"]
    assert all(x["label"] in LABELS and sum(x["probabilities"].values()) == pytest.approx(1, abs=1e-3) for x in lines)


def test_generate_cli_samples_from_a_causal_lm(registry, capsys, tmp_path):
    """`llmops generate` on a tiny random causal LM saved the way pretrain saves it."""
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    from llmops.cli import main

    _, _, classifier_dir = registry
    tok = PreTrainedTokenizerFast.from_pretrained(str(classifier_dir))
    LlamaForCausalLM(tiny_llama_config(tok, max_position_embeddings=64)).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    assert main(["generate", "I love", "--model", str(tmp_path), "--max-new-tokens", "5", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("I love")
    main(["generate", "I love", "--model", str(tmp_path), "--max-new-tokens", "5", "--seed", "1"])
    assert capsys.readouterr().out == first, "same seed, same sample"


def test_cli_user_errors_are_one_line_with_exit_2(registry, capsys, tmp_path, monkeypatch):
    from llmops.cli import main

    _, _, model_dir = registry
    monkeypatch.chdir(tmp_path)  # outside any workspace
    assert main(["predict", "some text"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llmops predict: error: no classifier at ") and str(tmp_path) in err and "\n" not in err
    (tmp_path / "texts.csv").write_text("body\nhello\n")
    assert main(["predict", "--file", "texts.csv", "--model", str(model_dir)]) == 2
    assert "no column 'text'; columns are ['body'] (set --text-column)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("llmops ")


def test_the_floor_refuses_a_model_no_better_than_the_majority_class():
    from llmops.tracking.registry import below_floor

    why = below_floor(0.2001, majority=0.2001, margin=0.05)
    assert why == (
        "test macro-F1 0.2001 does not beat the majority-class baseline 0.2001 by tracking.min_gain_over_majority=0.05"
    )
    assert below_floor(0.2400, majority=0.2001, margin=0.05) is not None
    assert below_floor(0.2501, majority=0.2001, margin=0.05) is None


def test_the_same_weights_are_found_among_a_models_versions(registry):
    from mlflow.tracking import MlflowClient

    from llmops.io import sha256
    from llmops.tracking import registry as reg

    _, uri, model_dir = registry
    decision = _register(uri, model_dir, score=0.5, name="weights-model")
    client, weights = MlflowClient(uri), sha256(model_dir / "model.safetensors")
    assert reg.same_weights(client, "weights-model", weights) is None  # not tagged yet
    client.set_model_version_tag("weights-model", str(decision["version"]), reg.WEIGHTS_TAG, weights)
    assert reg.same_weights(client, "weights-model", weights) == str(decision["version"])
    assert reg.same_weights(client, "weights-model", "0" * 64) is None
    assert reg.same_weights(client, "no-such-model", weights) is None


def test_a_drift_check_is_a_run_and_a_tag_on_the_version_with_the_checked_weights(registry, tmp_path):
    from mlflow.tracking import MlflowClient

    from llmops.io import sha256
    from llmops.tracking import drift_runs
    from llmops.tracking.registry import WEIGHTS_TAG

    _, uri, model_dir = registry
    client = MlflowClient(uri)
    weights = sha256(model_dir / "model.safetensors")
    client.set_model_version_tag(SERVED, "1", WEIGHTS_TAG, weights)  # what evaluate tags a version with
    (tmp_path / "verdict.json").write_text("{}")
    verdict = {
        "batch": "week-48.csv",
        "rows": 900,
        "n": 500,
        "labeled": False,
        "texts": True,
        "seed": 0,
        "model_weights_sha256": weights,
        "status": "drift",
        "kind": "covariate",
        "action": "label-sample",
        "statistics": {"domain_auc": {"value": 0.93, "threshold": 0.57}},
    }
    said = drift_runs.log_drift(uri, verdict, tmp_path, experiment="registry-test", model_name=SERVED)
    assert f"tagged {SERVED} v1 (the champion)" in said
    tags = client.get_model_version(SERVED, "1").tags
    assert tags[drift_runs.STATUS_TAG] == "drift (kind covariate, action label-sample)"
    run = client.get_run(tags[drift_runs.RUN_TAG])
    assert run.data.metrics == {"domain_auc": 0.93, "domain_auc_threshold": 0.57}
    assert [a.path for a in client.list_artifacts(run.info.run_id, "drift")] == ["drift/verdict.json"]
    verdict["model_weights_sha256"] = "0" * 64
    assert "none is tagged" in drift_runs.log_drift(
        uri, verdict, tmp_path, experiment="registry-test", model_name=SERVED
    )
