"""How surprising texts are to the pre-trained language model: the mean negative log-likelihood
per predicted token of each text, in nats. A batch of texts from another domain reads as more
surprising than the training texts (the drift check's `nll_ratio`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


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
        context), batched by length so little compute goes to padding."""
        tok = self.tokenizer
        enc = tok(list(texts), add_special_tokens=False, truncation=True, max_length=self.context - 2)["input_ids"]
        ids = [[tok.bos_token_id, *x, tok.eos_token_id] for x in enc]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.empty(len(ids), dtype=np.float64)
        for start in range(0, len(ids), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(ids[r]) for r in rows)
            batch = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                batch[i, : len(ids[r])], mask[i, : len(ids[r])] = torch.tensor(ids[r]), 1
            logits = self.model(input_ids=batch, attention_mask=mask).logits[:, :-1].float()
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none")
            target = mask[:, 1:].float()
            out[rows] = ((nll * target).sum(1) / target.sum(1).clamp(min=1)).numpy()
        return out
