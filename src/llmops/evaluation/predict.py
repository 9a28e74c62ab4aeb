"""Load a saved classifier directory and predict labels and class probabilities for raw texts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmops.data.cleaning import cleaner
from llmops.models.hf import load_classifier, load_hf_tokenizer
from llmops.models.inputs import class_probabilities, encode_texts


class TextClassifier:
    def __init__(self, model_dir: str | Path):
        model_dir = Path(model_dir)
        self.model = load_classifier(model_dir).eval()
        self.tokenizer = load_hf_tokenizer(model_dir)
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        pp_file = model_dir / "preprocess.json"
        self.clean = cleaner(_Cfg(json.loads(pp_file.read_text()))) if pp_file.exists() else (lambda t: t)
        inputs = _read_inputs(model_dir)
        self.template = inputs.get("template", "eos")
        self.max_length = int(inputs.get("max_length", 128))
        self.truncation = inputs.get("truncation", "head")
        self.max_length_rule = inputs.get("max_length_rule", "set")

    def predict_proba(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        cleaned = [self.clean(t) for t in texts]
        ids = encode_texts(self.tokenizer, cleaned, self.max_length, template=self.template, truncation=self.truncation)
        return class_probabilities(self.model, ids, pad_id=self.tokenizer.pad_token_id, batch_size=batch_size)


def _read_inputs(model_dir: Path) -> dict:
    """inputs.json (the input template, max_length and truncation the model was trained with); classifiers
    saved before it was named so carry encoding.json with {"mode": ...}."""
    if (model_dir / "inputs.json").exists():
        return json.loads((model_dir / "inputs.json").read_text())
    if (model_dir / "encoding.json").exists():
        legacy = json.loads((model_dir / "encoding.json").read_text())
        return {"template": legacy.get("mode", "eos"), **{k: v for k, v in legacy.items() if k == "max_length"}}
    return {}


class _Cfg(dict):
    __getattr__ = dict.__getitem__
