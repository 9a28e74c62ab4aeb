"""Sample continuations from a causal LM: the pretrain stage's samples.txt and `llmops generate`."""

from __future__ import annotations

import torch


@torch.no_grad()
def sample_texts(
    model, tokenizer, prompts: list[str], seed: int, max_new_tokens: int = 40, temperature: float = 0.9, top_k: int = 40
) -> list[str]:
    """One top-k sample per prompt, reproducible for a seed; each returned text includes its prompt."""
    model.eval()
    torch.manual_seed(seed)
    out = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
        generated = model.generate(
            ids,
            max_new_tokens=max_new_tokens,
            do_sample=True,
            top_k=top_k,
            temperature=temperature,
            pad_token_id=tokenizer.pad_token_id,
        )
        out.append(tokenizer.decode(generated[0], skip_special_tokens=True))
    return out
