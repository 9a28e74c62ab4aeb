import numpy as np
import pytest

from llmops.data.packing import TokenShards, pack_shards, pack_sources, token_dtype
from llmops.data.tokenizer import save_for_transformers, special_ids, train_bpe

SPECIAL = {"bos": "<|bos|>", "eos": "<|eos|>", "pad": "<|pad|>", "unk": "<|unk|>"}
DOCS = [
    "The quick brown fox jumps over the lazy dog.",
    "Ünïcödé and emoji 🚗 survive byte-level BPE.",
    "Driverless cars are coming soon, or so they say.",
] * 20


@pytest.fixture(scope="module")
def tok():
    return train_bpe(iter(DOCS), vocab_size=300, min_frequency=2, special=SPECIAL)


def test_round_trip_through_transformers(tok, tmp_path):
    from transformers import PreTrainedTokenizerFast

    save_for_transformers(tok, SPECIAL, tmp_path, max_length=64)
    fast = PreTrainedTokenizerFast.from_pretrained(str(tmp_path))
    assert (fast.bos_token, fast.eos_token, fast.pad_token) == ("<|bos|>", "<|eos|>", "<|pad|>")
    for text in DOCS[:3]:
        ids = fast(text, add_special_tokens=False)["input_ids"]
        assert fast.decode(ids) == text


def test_pack_puts_eos_between_documents(tok, tmp_path):
    ids = special_ids(tok, SPECIAL)
    out = tmp_path / "train.bin"
    docs = ((doc, "") for doc in DOCS[:3])
    n, _ = pack_sources(docs, tok, eos_id=ids["eos"], out=out, dtype=token_dtype(tok.get_vocab_size()), chunk=2)
    arr = np.memmap(out, dtype=np.uint16, mode="r")
    assert len(arr) == n and arr.dtype == np.uint16
    eos_at = np.flatnonzero(arr == ids["eos"])
    assert len(eos_at) == 3 and eos_at[-1] == n - 1
    first = arr[: eos_at[0]].tolist()
    assert tok.decode(first) == DOCS[0]


def test_token_dtype_widens_for_large_vocab():
    assert token_dtype(4096) == np.uint16 and token_dtype(70000) == np.uint32


def test_pack_sources_records_token_ranges_per_source(tok, tmp_path):
    ids = special_ids(tok, SPECIAL)
    docs = [(d, "wiki") for d in DOCS[:2]] + [(d, "labeled_train") for d in DOCS[2:4]]
    n, segments = pack_sources(
        iter(docs), tok, eos_id=ids["eos"], out=tmp_path / "t.bin", dtype=token_dtype(300), chunk=3
    )
    assert [s[0] for s in segments] == ["wiki", "labeled_train"]
    assert segments[0][1] == 0 and segments[0][2] == segments[1][1] and segments[1][2] == n
    packed = np.memmap(tmp_path / "t.bin", dtype=token_dtype(300), mode="r")
    assert packed[segments[0][2] - 1] == ids["eos"] and len(packed) == n


def test_the_tokenizer_sample_is_bounded_seeded_and_whole_when_small(tmp_path):
    import pandas as pd

    from llmops.data.corpus import iter_texts, sample_texts

    path = tmp_path / "c.parquet"
    pd.DataFrame({"text": [f"doc {i}" for i in range(1000)], "source": "x"}).to_parquet(path)
    assert list(sample_texts(path, 5000, seed=0, batch_size=64)) == list(iter_texts(path))
    first = list(sample_texts(path, 100, seed=0, batch_size=64))
    assert len(first) == len(set(first)) == 100
    assert first == list(sample_texts(path, 100, seed=0, batch_size=300))  # batching changes nothing
    assert first != list(sample_texts(path, 100, seed=1, batch_size=64))
    order = [int(t.split()[1]) for t in first]
    assert order == sorted(order)  # file order kept


def test_pack_shards_writes_one_token_shard_per_corpus_shard_and_reads_back_as_one_stream(tok, tmp_path):
    import pandas as pd

    ids = special_ids(tok, SPECIAL)
    docs = [(d, "wiki") for d in DOCS[:5]] + [(d, "labeled_train") for d in DOCS[5:9]]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, part in enumerate([docs[:3], [], docs[3:7], docs[7:]]):  # an empty shard, and a source across shards
        pd.DataFrame(part or None, columns=["text", "source"]).astype(str).to_parquet(corpus / f"{i:05d}.parquet")
    dtype = token_dtype(300)
    n, segments = pack_sources(iter(docs), tok, eos_id=ids["eos"], out=tmp_path / "flat.bin", dtype=dtype)
    packed = pack_shards(corpus, tok, eos_id=ids["eos"], out=tmp_path / "packed", dtype=dtype)
    assert sorted(p.name for p in (tmp_path / "packed").iterdir()) == [f"{i:05d}.bin" for i in range(4)]
    assert packed["tokens"] == n and packed["segments"] == segments and packed["shards"][1] == ["00001.bin", 0]
    stream = TokenShards(tmp_path / "packed", dtype, expected=n)
    assert np.array_equal(stream[0:n], np.fromfile(tmp_path / "flat.bin", dtype=dtype))
    # the length profile: every document counted once per unit, in the bin of its length
    lengths, edges = packed["lengths"]["sources"], packed["lengths"]["edges"]
    assert {s: sum(c["chars"]) for s, c in lengths.items()} == {"labeled_train": 4, "wiki": 5}
    assert sum(lengths["wiki"]["tokens"]) == 5 and len(lengths["wiki"]["tokens"]) == len(edges)
    longest = max(len(d) for d in DOCS[:5])
    top = max(i for i, c in enumerate(lengths["wiki"]["chars"]) if c)
    assert edges[top] <= longest < edges[top + 1]


def test_the_tokenizer_sample_is_bounded_in_bytes_when_documents_are_long(tmp_path):
    import pandas as pd

    from llmops.data.corpus import iter_texts, sample_texts, text_bytes

    path = tmp_path / "c.parquet"
    pd.DataFrame({"text": [f"doc {i} " + "word " * 200 for i in range(1000)], "source": "x"}).to_parquet(path)
    size = text_bytes(path)
    assert abs(size / sum(len(t.encode()) for t in iter_texts(path)) - 1) < 0.02  # offsets and headers
    assert list(sample_texts(path, 5000, seed=0, max_bytes=size)) == list(iter_texts(path))
    first = list(sample_texts(path, 5000, seed=0, max_bytes=size // 10, batch_size=64))
    assert 0.7 < sum(len(t.encode()) for t in first) / (size // 10) < 1.3  # 100 of 1,000 documents, give or take
    assert first == list(sample_texts(path, 5000, seed=0, max_bytes=size // 10, batch_size=300))
    assert first != list(sample_texts(path, 5000, seed=1, max_bytes=size // 10))
    assert len(list(sample_texts(path, 20, seed=0, max_bytes=size // 10))) == 20  # the document bound still holds
