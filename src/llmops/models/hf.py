"""Build transformers configs and models from our config (random init, or from a saved directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    GPT2Config,
    LlamaConfig,
    PretrainedConfig,
    PreTrainedTokenizerFast,
)


def build_lm_config(model: Any, vocab_size: int, special_ids: dict[str, int]) -> PretrainedConfig:
    """A causal-LM config from conf/model/ (`arch`: llama or gpt2), sized to the trained tokenizer."""
    common = dict(
        vocab_size=vocab_size,
        bos_token_id=special_ids["bos"],
        eos_token_id=special_ids["eos"],
        pad_token_id=special_ids["pad"],
        tie_word_embeddings=True,
    )
    if model.arch == "llama":
        return LlamaConfig(
            hidden_size=model.d_model,
            intermediate_size=model.d_ff,
            num_hidden_layers=model.n_layers,
            num_attention_heads=model.n_heads,
            num_key_value_heads=model.n_heads,
            max_position_embeddings=model.context_length,
            attention_dropout=model.dropout,
            **common,
        )
    if model.arch == "gpt2":
        return GPT2Config(
            n_embd=model.d_model,
            n_inner=model.d_ff,
            n_layer=model.n_layers,
            n_head=model.n_heads,
            n_positions=model.context_length,
            resid_pdrop=model.dropout,
            embd_pdrop=model.dropout,
            attn_pdrop=model.dropout,
            **common,
        )
    raise ValueError(f"model.arch must be llama or gpt2, got {model.arch!r}")


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast.from_pretrained(str(path))


def classifier_from_lm(lm_dir: str | Path, labels: list[str], init: str, dropout: float = 0.0):
    """A sequence classifier on top of the pre-trained LM (`pretrained`) or the same architecture
    randomly initialised (`scratch`): the ablation that shows what pre-training buys."""
    kwargs = dict(
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)}
    )
    config = AutoConfig.from_pretrained(str(lm_dir), **kwargs)
    for attr in ("attention_dropout", "resid_pdrop", "embd_pdrop", "summary_first_dropout"):
        if hasattr(config, attr):
            setattr(config, attr, dropout)
    if init == "pretrained":
        return AutoModelForSequenceClassification.from_pretrained(str(lm_dir), config=config)
    if init == "scratch":
        return AutoModelForSequenceClassification.from_config(config)
    raise ValueError(f"finetune.init must be pretrained or scratch, got {init!r}")
