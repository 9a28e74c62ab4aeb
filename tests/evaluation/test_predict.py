"""TextClassifier: batched prediction (sorted by length inside) returns rows in the input order."""

import numpy as np
import torch
from transformers import LlamaConfig

from llmops.data.tokenizer import save_for_transformers, train_bpe
from llmops.evaluation.predict import TextClassifier
from llmops.models.hf import build_classifier

SPECIAL = {"pad": "<|pad|>", "bos": "<|bos|>", "eos": "<|eos|>", "unk": "<|unk|>"}
TEXTS = ["good", "a very long and rather wordy text about nothing in particular at all", "bad day", "ok then"]


def test_batched_probabilities_match_one_text_at_a_time_in_input_order(tmp_path):
    tok = train_bpe(TEXTS * 20, vocab_size=300, min_frequency=1, special=SPECIAL)
    save_for_transformers(tok, SPECIAL, tmp_path, max_length=64)
    LlamaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    ).save_pretrained(tmp_path)  # fmt: skip
    torch.manual_seed(0)
    build_classifier(tmp_path, ["neg", "neu", "pos"], "scratch", dropout=0.0).save_pretrained(tmp_path)

    clf = TextClassifier(tmp_path)
    batched = clf.predict_proba(TEXTS, batch_size=2)
    one_by_one = np.concatenate([clf.predict_proba([t]) for t in TEXTS])
    assert np.allclose(batched, one_by_one, atol=1e-5)
    assert not np.allclose(batched[0], batched[1])  # rows really differ, so the order is tested
    assert clf.predict_proba([]).shape == (0, 3)
