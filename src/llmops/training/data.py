"""Batches for training: random windows of the packed memmap, and padded text batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset


class RandomWindows(Dataset):
    """Item i is a whole batch of (input, target) windows at offsets drawn from rng(seed, i):
    reproducible, independent of workers, and resumable at any step."""

    def __init__(self, path: Path, dtype: str, context: int, batch_size: int, steps: int, seed: int):
        self.path, self.dtype, self.context, self.batch_size, self.steps, self.seed = (
            path,
            dtype,
            context,
            batch_size,
            steps,
            seed,
        )
        self.n_tokens = len(np.memmap(path, dtype=np.dtype(dtype), mode="r"))
        if self.n_tokens <= context + 1:
            raise ValueError(f"{path}: {self.n_tokens} tokens, fewer than one window of {context + 1}")

    def __len__(self) -> int:
        return self.steps

    def _windows(self, offsets: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        data = np.memmap(self.path, dtype=np.dtype(self.dtype), mode="r")  # reopened: cheap, fork-safe
        block = np.stack([data[o : o + self.context + 1] for o in offsets]).astype(np.int64)
        block = torch.from_numpy(block)
        return block[:, :-1], block[:, 1:]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, i])
        return self._windows(rng.integers(0, self.n_tokens - self.context - 1, size=self.batch_size))


class FixedWindows(RandomWindows):
    """Evenly spaced windows over the validation tokens: the same every evaluation."""

    def __init__(self, path: Path, dtype: str, context: int, batch_size: int, n_batches: int):
        super().__init__(path, dtype, context, batch_size, n_batches, seed=0)
        starts = np.linspace(0, self.n_tokens - context - 1, num=n_batches * batch_size).astype(np.int64)
        self.offsets = starts.reshape(n_batches, batch_size)
        # fewer distinct windows than asked for when the val split is small: keep unique batches only
        self.steps = len(np.unique(self.offsets, axis=0))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._windows(self.offsets[i])


class EncodedTexts(Dataset):
    """Token id lists (each ending in EOS) with integer labels."""

    def __init__(self, ids: list[list[int]], labels: list[int]):
        self.ids, self.labels = ids, labels

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.ids[i], self.labels[i]


def encode_texts(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Truncate to max_length - 1 and end every text with EOS: the classifier pools the last token."""
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length - 1)
    return [ids + [tokenizer.eos_token_id] for ids in enc["input_ids"]]


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
