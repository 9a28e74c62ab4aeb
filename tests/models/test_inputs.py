"""How a classifier reads a text: the cut of a long text (head, head+tail) and `max_length: auto`."""

from transformers import PreTrainedTokenizerFast

from llmops.data.tokenizer import save_for_transformers, train_bpe
from llmops.models.inputs import cut, encode_texts, read_shares, resolve_max_length, token_counts

SPECIAL = {"pad": "<|pad|>", "bos": "<|bos|>", "eos": "<|eos|>", "unk": "<|unk|>"}
WORDS = [f"w{i}" for i in range(300)]


def _tokenizer(tmp_path, context: int) -> PreTrainedTokenizerFast:
    tok = train_bpe(iter([" ".join(WORDS)] * 5), 600, 1, SPECIAL)
    save_for_transformers(tok, SPECIAL, tmp_path, context)
    return PreTrainedTokenizerFast.from_pretrained(str(tmp_path))


def test_head_keeps_the_start_and_head_tail_a_quarter_of_start_and_the_end():
    ids = list(range(100))
    assert cut(ids, 20, "head") == list(range(20))
    assert cut(ids, 20, "head_tail") == list(range(5)) + list(range(85, 100))
    assert cut(ids[:10], 20, "head_tail") == ids[:10]  # a text that fits is read whole


def test_every_text_ends_with_eos_within_max_length_whatever_the_cut(tmp_path):
    tok = _tokenizer(tmp_path, context=128)
    texts = [" ".join(WORDS[:n]) for n in (3, 40, 250)]
    for truncation in ("head", "head_tail"):
        ids = encode_texts(tok, texts, 32, truncation=truncation)
        assert [len(x) for x in ids] == [min(32, int(n)) for n in token_counts(tok, texts)]
        assert all(x[-1] == tok.eos_token_id for x in ids)
    head, tail = (encode_texts(tok, texts[2:], 32, truncation=t)[0] for t in ("head", "head_tail"))
    assert head[:7] == tail[:7] and head[-2] != tail[-2]  # the same start; head+tail ends at the text's end


def test_auto_max_length_follows_the_train_texts_up_to_the_context(tmp_path):
    tok = _tokenizer(tmp_path, context=128)
    short = [" ".join(WORDS[:n]) for n in range(5, 20)]
    length, rule = resolve_max_length("auto", tok, short, "eos")
    assert length == 64 and rule.startswith("auto: train texts' 99th percentile"), (length, rule)
    long = [" ".join(WORDS[:n]) for n in range(150, 300)]
    assert resolve_max_length("auto", tok, long, "eos")[0] == 128  # the model's context
    assert resolve_max_length(48, tok, long, "eos") == (48, "set")
    assert read_shares([10, 200], 100).tolist() == [1.0, 0.5]
