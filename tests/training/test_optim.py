"""AdamW parameter groups: weight-decay split and layer-wise learning-rate decay."""

import pytest
from transformers import BertConfig, BertForSequenceClassification, GPT2Config, LlamaConfig

from llmops.models.hf import build_classifier
from llmops.training.optim import adamw

LABELS = ["neg", "neu", "pos"]


def _lr_by_param(model, optimizer) -> dict[str, float]:
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    return {name: lr_of[id(p)] for name, p in model.named_parameters()}


def _llama_classifier(tmp_path, n_layers=3):
    LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=n_layers, num_attention_heads=2,
        max_position_embeddings=16, pad_token_id=0, eos_token_id=2, bos_token_id=1,
    ).save_pretrained(tmp_path)  # fmt: skip
    return build_classifier(tmp_path, LABELS, "scratch")


def test_without_layer_decay_every_param_trains_at_lr_and_only_matrices_decay(tmp_path):
    model = _llama_classifier(tmp_path)
    optimizer = adamw(model, 1e-3, 0.1)
    assert set(_lr_by_param(model, optimizer).values()) == {1e-3}
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        expect = 0.0 if p.ndim < 2 or "embed" in name else 0.1
        assert decay_of[id(p)] == expect, name


def test_layer_decay_shrinks_lr_geometrically_from_head_to_embeddings(tmp_path):
    model = _llama_classifier(tmp_path, n_layers=3)
    lrs = _lr_by_param(model, adamw(model, 1.0, 0.0, layer_decay=0.5))
    assert lrs["score.weight"] == 1.0
    assert lrs["model.norm.weight"] == 1.0  # what sits on top of the last block trains with the head
    for block in range(3):
        assert lrs[f"model.layers.{block}.mlp.up_proj.weight"] == 0.5 ** (3 - block)
    assert lrs["model.embed_tokens.weight"] == 0.5**4


@pytest.mark.parametrize(
    "config, block_param, embedding_param",
    [
        (
            GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=16),
            "transformer.h.0.attn.c_attn.weight",
            "transformer.wte.weight",
        ),  # noqa: E501
        (
            BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32),
            "bert.encoder.layer.0.output.dense.weight",
            "bert.embeddings.word_embeddings.weight",
        ),  # noqa: E501
    ],
)
def test_layer_decay_finds_the_blocks_of_gpt2_and_bert(config, block_param, embedding_param):
    from transformers import GPT2ForSequenceClassification

    config.num_labels = 3
    model = (GPT2ForSequenceClassification if config.model_type == "gpt2" else BertForSequenceClassification)(config)
    lrs = _lr_by_param(model, adamw(model, 1.0, 0.0, layer_decay=0.5))
    assert lrs[block_param] == 0.5**2
    assert lrs[embedding_param] == 0.5**3
    assert max(lrs.values()) == 1.0
