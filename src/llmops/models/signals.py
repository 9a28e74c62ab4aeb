"""What the drift check reads off the models besides the classifier's predictions: how surprising
texts are to the pre-trained language model (mean NLL per token, for `nll_ratio`) and where the
classifier's encoder places them (mean-pooled embeddings, for `embedding_auc`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch


def _batches(
    ids: list[list[int]], pad_id: int, batch_size: int
) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
    """(the rows, their right-padded ids, the mask), batched by length so little compute goes to
    padding; the rows say where each result goes back."""
    order = np.argsort([len(x) for x in ids], kind="stable")
    for start in range(0, len(ids), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(ids[r]) for r in rows)
        batch = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            batch[i, : len(ids[r])], mask[i, : len(ids[r])] = torch.tensor(ids[r]), 1
        yield rows, batch, mask


class LanguageModel:
    """A causal LM directory written by the pretrain stage (weights and tokenizer)."""

    def __init__(self, model_dir: str | Path):
        from transformers import AutoModelForCausalLM

        from llmops.models.hf import load_hf_tokenizer

        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        self.tokenizer = load_hf_tokenizer(model_dir)
        self.context = int(self.model.config.max_position_embeddings)

    @torch.no_grad()
    def mean_nll(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Each text's mean NLL per token after the first (BOS, the text, EOS; cut to the LM's
        context), in nats."""
        tok = self.tokenizer
        enc = tok(list(texts), add_special_tokens=False, truncation=True, max_length=self.context - 2)["input_ids"]
        ids = [[tok.bos_token_id, *x, tok.eos_token_id] for x in enc]
        out = np.empty(len(ids), dtype=np.float64)
        for rows, batch, mask in _batches(ids, tok.pad_token_id, batch_size):
            logits = self.model(input_ids=batch, attention_mask=mask).logits[:, :-1].float()
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none")
            target = mask[:, 1:].float()
            out[rows] = ((nll * target).sum(1) / target.sum(1).clamp(min=1)).numpy()
        return out


@torch.no_grad()
def pooled_embeddings(model, ids: list[list[int]], pad_id: int, batch_size: int = 128) -> np.ndarray:
    """The classifier's encoder output (its base model's last hidden state) mean-pooled over each
    text's tokens: where the model places a text, whatever head sits on top."""
    base = model.base_model.eval()
    out = np.empty((len(ids), int(model.config.hidden_size)), dtype=np.float32)
    for rows, batch, mask in _batches(ids, pad_id, batch_size):
        hidden = base(input_ids=batch, attention_mask=mask).last_hidden_state.float()
        weights = mask.unsqueeze(-1).float()
        out[rows] = ((hidden * weights).sum(1) / weights.sum(1).clamp(min=1)).numpy()
    return out
