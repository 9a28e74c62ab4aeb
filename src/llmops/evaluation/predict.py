"""Load a saved classifier directory and predict labels and class probabilities for raw texts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from llmops.data.cleaning import cleaner
from llmops.models.hf import load_tokenizer
from llmops.training.data import PadCollate, encode_texts


class TextClassifier:
    def __init__(self, model_dir: str | Path, max_length: int = 128):
        from llmops.models.hf import load_classifier

        model_dir = Path(model_dir)
        self.model = load_classifier(model_dir).eval()
        self.tokenizer = load_tokenizer(model_dir)
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        pp_file = model_dir / "preprocess.json"
        self.clean = cleaner(_Cfg(json.loads(pp_file.read_text()))) if pp_file.exists() else (lambda t: t)
        enc_file = model_dir / "encoding.json"
        encoding = json.loads(enc_file.read_text()) if enc_file.exists() else {}
        self.mode = encoding.get("mode", "eos")
        self.max_length = int(encoding.get("max_length", max_length))
        self.collate = PadCollate(self.tokenizer.pad_token_id)

    @torch.no_grad()
    def predict_proba(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ids = encode_texts(self.tokenizer, [self.clean(t) for t in texts], self.max_length, self.mode)
        order = np.argsort([len(x) for x in ids], kind="stable")  # batches of similar length: little padding
        out = []
        for i in range(0, len(ids), batch_size):
            batch = self.collate([(ids[j], 0) for j in order[i : i + batch_size]])
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            out.append(torch.softmax(logits.float(), dim=-1).numpy())
        proba = np.empty((len(ids), len(self.labels)), dtype=np.float32)
        proba[order] = np.concatenate(out)
        return proba

    def predict(self, texts: list[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(-1)]


class _Cfg(dict):
    __getattr__ = dict.__getitem__
