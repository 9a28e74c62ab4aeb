"""Turn texts into classifier inputs: token ids under the model's input template, and padded
batches. Shared by fine-tuning and inference (predict, the pyfunc), which must encode alike."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

TEMPLATES = ("eos", "special")


def input_template(init: str) -> str:
    """`eos` for our own LMs, `special` for Hugging Face checkpoints (finetune.init=hf, hf_scratch)."""
    return "special" if init in ("hf", "hf_scratch") else "eos"


def encode_texts(tokenizer, texts: list[str], max_length: int, template: str = "eos") -> list[list[int]]:
    """`eos` (our LMs): no special tokens, truncate to max_length - 1 and end every text with EOS,
    the token the classifier pools. `special` (HF checkpoints): the tokenizer's own template,
    e.g. [CLS] text [SEP]."""
    if template == "special":
        return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length - 1)
    return [ids + [tokenizer.eos_token_id] for ids in enc["input_ids"]]


class EncodedTexts(Dataset):
    """Token id lists with integer labels."""

    def __init__(self, ids: list[list[int]], labels: list[int]):
        self.ids, self.labels = ids, labels

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.ids[i], self.labels[i]


class PadCollate:
    """Right-pad a batch to its longest text (dynamic padding: tweets are much shorter than max_length)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, _) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        labels = torch.tensor([lab for _, lab in batch], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


@torch.inference_mode()
def class_probabilities(model, ids: list[list[int]], pad_id: int, batch_size: int = 128):
    """Softmax class probabilities (a numpy array, in `ids`' order) of encoded texts, batched by
    length so that little compute goes to padding (benchmarks/predict_speed.py). Puts `model` in
    eval mode."""
    import numpy as np

    model.eval()
    if not ids:
        return np.zeros((0, int(model.config.num_labels)), dtype=np.float32)
    collate = PadCollate(pad_id)
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = []
    for i in range(0, len(ids), batch_size):
        batch = collate([(ids[j], 0) for j in order[i : i + batch_size]])
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        out.append(torch.softmax(logits.float(), dim=-1).numpy())
    proba = np.empty((len(ids), int(model.config.num_labels)), dtype=np.float32)
    proba[order] = np.concatenate(out)
    return proba
