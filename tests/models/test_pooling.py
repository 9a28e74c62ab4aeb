"""Classifier heads on our LMs: last-token (HF default) or mean pooling, saved and loaded back."""

import pytest
import torch
from transformers import LlamaConfig

from llmops.models.hf import build_classifier, load_classifier

LABELS = ["neg", "neu", "pos"]


@pytest.fixture
def lm_dir(tmp_path):
    config = LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=16, pad_token_id=0, eos_token_id=2, bos_token_id=1,
    )  # fmt: skip
    config.save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_pooling_survives_save_and_load_and_ignores_padding(lm_dir, tmp_path, pooling):
    torch.manual_seed(0)
    model = build_classifier(lm_dir, LABELS, "scratch", dropout=0.0, pooling=pooling).eval()
    ids = torch.tensor([[5, 6, 7, 2]])
    padded = torch.tensor([[5, 6, 7, 2, 0, 0]])
    with torch.no_grad():
        plain = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        with_pad = model(input_ids=padded, attention_mask=(padded != 0).long()).logits
    assert torch.allclose(plain, with_pad, atol=1e-5)

    model.save_pretrained(tmp_path / "clf")
    loaded = load_classifier(tmp_path / "clf").eval()
    assert type(loaded).__name__.startswith("MeanPool") == (pooling == "mean")
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, plain, atol=1e-6)


def test_mean_and_last_pooling_differ(lm_dir):
    torch.manual_seed(0)
    last = build_classifier(lm_dir, LABELS, "scratch", 0.0, "last").eval()
    mean = build_classifier(lm_dir, LABELS, "scratch", 0.0, "mean").eval()
    mean.load_state_dict(last.state_dict())
    ids = torch.tensor([[5, 6, 7, 2]])
    with torch.no_grad():
        assert not torch.allclose(last(input_ids=ids).logits, mean(input_ids=ids).logits)
