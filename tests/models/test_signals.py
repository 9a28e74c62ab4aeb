"""The drift check's model signals on tiny random models saved the way the stages save them: the
LM's mean NLL per token (nll_ratio) and the classifier's pooled embeddings (embedding_auc), one
finite value (or vector) per text, independent of the batch it is padded in."""

import math

import numpy as np
import pytest

from ..conftest import tiny_llama_config

TEXTS = ["the bus comes at nine", "stuck in traffic again today", "ok", "I love this car so much, really"]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    from llmops.data.tokenizer import save_for_transformers, train_bpe

    out = tmp_path_factory.mktemp("lm")
    special = {"bos": "<|bos|>", "eos": "<|eos|>", "pad": "<|pad|>", "unk": "<|unk|>"}
    tok = train_bpe(iter(TEXTS * 10), 300, 1, special)
    save_for_transformers(tok, special, out, 32)
    hf_tok = PreTrainedTokenizerFast.from_pretrained(str(out))
    config = tiny_llama_config(hf_tok, bos_token_id=hf_tok.bos_token_id, max_position_embeddings=32)
    LlamaForCausalLM(config).save_pretrained(out)
    return out, config, hf_tok


def test_one_finite_nll_per_text_whatever_the_batch(lm_dir):
    from llmops.models.signals import LanguageModel

    lm = LanguageModel(lm_dir[0])
    together = lm.mean_nll(TEXTS, batch_size=4)
    alone = np.array([lm.mean_nll([t])[0] for t in TEXTS])
    assert together.shape == (4,) and np.all(np.isfinite(together)) and np.all(together > 0)
    np.testing.assert_allclose(together, alone, rtol=1e-4)  # padding changes nothing
    # a random LM over ~300 tokens: about log(vocab) nats per token
    assert abs(together.mean() - math.log(lm.model.config.vocab_size)) < 1.5
    assert lm.mean_nll(["word " * 200]).shape == (1,)  # longer than the context: cut, not an error


def test_pooled_embeddings_are_one_vector_per_text_whatever_the_batch(lm_dir):
    from transformers import LlamaForSequenceClassification

    from llmops.models.inputs import encode_texts
    from llmops.models.signals import pooled_embeddings

    _, config, tok = lm_dir
    config.num_labels = 3
    model = LlamaForSequenceClassification(config)
    ids = encode_texts(tok, TEXTS, max_length=32)
    together = pooled_embeddings(model, ids, pad_id=tok.pad_token_id, batch_size=4)
    alone = np.vstack([pooled_embeddings(model, [x], pad_id=tok.pad_token_id) for x in ids])
    assert together.shape == (4, 16) and np.all(np.isfinite(together))
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)
