"""The LM's mean NLL per token (the drift check's nll_ratio) on a tiny random causal LM saved the
way pretrain saves it: one finite value per text, independent of the batch it is padded in."""

import math

import numpy as np
import pytest

TEXTS = ["the bus comes at nine", "stuck in traffic again today", "ok", "I love this car so much, really"]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from llmops.data.tokenizer import save_for_transformers, train_bpe

    out = tmp_path_factory.mktemp("lm")
    special = {"bos": "<|bos|>", "eos": "<|eos|>", "pad": "<|pad|>", "unk": "<|unk|>"}
    tok = train_bpe(iter(TEXTS * 10), 300, 1, special)
    save_for_transformers(tok, special, out, 32)
    hf_tok = PreTrainedTokenizerFast.from_pretrained(str(out))
    config = LlamaConfig(
        vocab_size=len(hf_tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=hf_tok.pad_token_id,
        bos_token_id=hf_tok.bos_token_id,
        eos_token_id=hf_tok.eos_token_id,
        max_position_embeddings=32,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return out


def test_one_finite_nll_per_text_whatever_the_batch(lm_dir):
    from llmops.models.surprise import LanguageModel

    lm = LanguageModel(lm_dir)
    together = lm.mean_nll(TEXTS, batch_size=4)
    alone = np.array([lm.mean_nll([t])[0] for t in TEXTS])
    assert together.shape == (4,) and np.all(np.isfinite(together)) and np.all(together > 0)
    np.testing.assert_allclose(together, alone, rtol=1e-4)  # padding changes nothing
    # a random LM over ~300 tokens: about log(vocab) nats per token
    assert abs(together.mean() - math.log(lm.model.config.vocab_size)) < 1.5
    assert lm.mean_nll(["word " * 200]).shape == (1,)  # longer than the context: cut, not an error
