"""The registry gate and the pyfunc model, on a real sqlite MLflow store with a real (tiny,
untrained) classifier directory; then `mlflow models serve` answering over 127.0.0.1."""

import json
import os
import subprocess
import urllib.request

import pytest

from ..conftest import VENV_BIN, background_server, free_port

LABELS = ["negative", "neutral", "positive"]
TEXTS = ["I love this car", "stuck in traffic again", "the bus comes at nine"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A tracking store with a tiny classifier logged and registered three times."""
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
    return root, uri, model_dir


def _register(uri, model_dir, score, margin=0.005):
    import mlflow
    from mlflow.tracking import MlflowClient

    from llmops.tracking import pyfunc, registry

    mlflow.set_tracking_uri(uri)
    with mlflow.start_run():
        info = pyfunc.log_classifier(model_dir, LABELS, "llmops-classifier")
    return registry.gate(MlflowClient(uri), "llmops-classifier", info.registered_model_version, score, margin)


def test_champion_moves_only_for_a_better_model(registry):
    from mlflow.tracking import MlflowClient

    _, uri, model_dir = registry
    client = MlflowClient(uri)
    first = _register(uri, model_dir, 0.70)
    assert first["decision"] == "champion" and first["reason"] == "no champion yet"
    worse = _register(uri, model_dir, 0.65)
    assert worse["decision"] == "challenger" and worse["champion_version_before"] == first["version"]
    tie = _register(uri, model_dir, 0.703)  # within the margin: not better enough
    assert tie["decision"] == "challenger"
    assert str(client.get_model_version_by_alias("llmops-classifier", "champion").version) == str(first["version"])
    better = _register(uri, model_dir, 0.75)
    assert better["decision"] == "champion" and better["champion_score_before"] == pytest.approx(0.70)
    assert str(client.get_model_version_by_alias("llmops-classifier", "champion").version) == str(better["version"])
    assert str(client.get_model_version_by_alias("llmops-classifier", "challenger").version) == str(tie["version"])


def test_pyfunc_predicts_labels_and_probabilities(registry):
    import mlflow
    import pandas as pd

    _, uri, _ = registry
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/llmops-classifier@champion")
    out = model.predict(pd.DataFrame({"text": TEXTS}))
    assert list(out.columns) == ["label", "prob_negative", "prob_neutral", "prob_positive"]
    assert set(out["label"]) <= set(LABELS)
    assert out[[f"prob_{x}" for x in LABELS]].sum(axis=1).round(5).eq(1).all()
    sig = model.metadata.signature
    assert sig.inputs.input_names() == ["text"]
    reqs = open(mlflow.pyfunc.get_model_dependencies("models:/llmops-classifier@champion")).read()
    assert "torch==2.13.0" in reqs and "+cpu" not in reqs and "transformers==5.24.0" in reqs


def test_mlflow_models_serve_answers_invocations(registry):
    _, uri, _ = registry
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    cmd = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        "models:/llmops-classifier@champion",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "1",
    ]
    with background_server(cmd, "/ping", port, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as url:
        body = json.dumps({"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXTS]}}).encode()
        req = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
        preds = json.loads(urllib.request.urlopen(req, timeout=60).read())["predictions"]
        assert len(preds) == 3 and all(p["label"] in LABELS for p in preds)
        assert sum(p[f"prob_{x}"] for x in LABELS for p in preds[:1]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("source", ["directory", "registry"])
def test_predict_cli_prints_labels_and_probabilities(registry, source, capsys, monkeypatch, tmp_path):
    from llmops.cli import main

    _, uri, model_dir = registry
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tmp_path / "texts.csv").write_text("text\nfirst line\nsecond line\n")
    model = str(model_dir) if source == "directory" else "models:/llmops-classifier@champion"
    assert main(["predict", "one text", "--file", str(tmp_path / "texts.csv"), "--model", model]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["text"] for x in lines] == ["one text", "first line", "second line"]
    assert all(x["label"] in LABELS and sum(x["probabilities"].values()) == pytest.approx(1, abs=1e-3) for x in lines)


def test_generate_cli_samples_from_a_causal_lm(registry, capsys, tmp_path):
    """`llmops generate` on a tiny random causal LM saved the way pretrain saves it."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from llmops.cli import main

    _, _, classifier_dir = registry
    tok = PreTrainedTokenizerFast.from_pretrained(str(classifier_dir))
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        max_position_embeddings=64,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    assert main(["generate", "I love", "--model", str(tmp_path), "--max-new-tokens", "5", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("I love")
    main(["generate", "I love", "--model", str(tmp_path), "--max-new-tokens", "5", "--seed", "1"])
    assert capsys.readouterr().out == first, "same seed, same sample"
