"""Turn texts into classifier inputs: token ids under the model's input template, and padded
batches. Shared by fine-tuning and inference (predict, the pyfunc), which must encode alike."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

TEMPLATES = ("eos", "special")


def input_template(init: str) -> str:
    """`eos` for our own LMs, `special` for Hugging Face checkpoints (finetune.init=hf, hf_scratch)."""
    return "special" if init in ("hf", "hf_scratch") else "eos"


def encode_texts(
    tokenizer, texts: list[str], max_length: int, template: str = "eos", truncation: str = "head"
) -> list[list[int]]:
    """`eos` (our LMs): no special tokens, at most max_length - 1 text tokens and EOS last, the
    token the classifier pools. `special` (HF checkpoints): the tokenizer's own template, e.g.
    [CLS] text [SEP]. A longer text is cut by `truncation` (`cut`)."""
    if template == "special":
        if truncation == "head":
            return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        before, after = _template_ends(tokenizer)
        room = max_length - len(before) - len(after)
        body = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [before + cut(ids, room, truncation) + after for ids in body]
    if truncation == "head":  # the tokenizer stops at the limit: long texts cost no more than that
        enc = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length - 1)
        return [ids + [tokenizer.eos_token_id] for ids in enc["input_ids"]]
    body = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    return [cut(ids, max_length - 1, truncation) + [tokenizer.eos_token_id] for ids in body]


def _template_ends(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer's template puts before and after a text ([CLS] / [SEP]),
    read off one encoded word: transformers 5 tokenizers no longer all build them from ids."""
    body = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    start = next(i for i in range(len(full)) if full[i : i + len(body)] == body)
    return full[:start], full[start + len(body) :]


def cut(ids: list[int], room: int, truncation: str) -> list[int]:
    """At most `room` tokens of a text: its first ones (`head`), or its first quarter and its
    last three quarters (`head_tail`: a review's verdict is often at its end; Sun et al. 2019
    found 128 head + 382 tail tokens best for long reviews)."""
    if len(ids) <= room:
        return ids
    if truncation == "head":
        return ids[:room]
    head = room // 4
    return ids[:head] + ids[len(ids) - (room - head) :]


def token_counts(tokenizer, texts: list[str], template: str = "eos"):
    """Tokens a classifier would read per (already cleaned) text if nothing were cut, its
    template's special tokens included: above max_length, a text is cut."""
    ids = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    extra = 1 if template == "eos" else tokenizer.num_special_tokens_to_add()
    return np.array([len(x) + extra for x in ids], dtype=np.int64)


def resolve_max_length(setting: int | str, tokenizer, train_texts: list[str], template: str) -> tuple[int, str]:
    """The max_length a classifier trains and predicts with, and how it was chosen. `auto`: the
    99th percentile of the train texts' token counts, rounded up to a multiple of 32 so that a few
    texts more or less do not move it, at most the model's context; fixed from the train split
    alone, before training. The tweets get 64 (their 99th percentile is 52 tokens)."""
    if setting != "auto":
        return int(setting), "set"
    counts = token_counts(tokenizer, train_texts, template)
    p99 = float(np.percentile(counts, 99)) if len(counts) else 1.0
    context = model_context(tokenizer)
    chosen = int(min(context, 32 * np.ceil(p99 / 32)))
    return chosen, f"auto: train texts' 99th percentile {p99:.0f} tokens, model context {context}"


def model_context(tokenizer) -> int:
    """The longest input the model takes, as its tokenizer records it (ours: model.context_length)."""
    limit = int(tokenizer.model_max_length)
    return limit if limit < 1_000_000 else 512  # transformers' "no limit" sentinel: BERT-sized


def read_shares(lengths, max_length: int):
    """Per text, the share of its tokens the model reads at `max_length` (1.0 when it is not cut)."""
    lengths = np.asarray(lengths, dtype=np.float64)
    return np.minimum(1.0, max_length / np.maximum(lengths, 1.0))


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
