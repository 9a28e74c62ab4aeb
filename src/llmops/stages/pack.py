"""pack: tokenise the pre-training corpus and pack it, EOS between documents, into token shards:
data/corpus/<split>/NNNNN.parquet -> data/packed/<split>/NNNNN.bin (flat uint16/uint32 ids), with
meta.json (token counts per shard, and where each source's tokens lie in the split read end to end)."""

from __future__ import annotations

from pathlib import Path

from llmops.config import load_stage_params
from llmops.data.packing import pack_shards, token_dtype
from llmops.data.tokenizer import load_bpe, special_ids
from llmops.io import atomic_dir, read_json, sha256, write_json
from llmops.stages.runner import run_stage
from llmops.tracking.runs import log_stage_run

IN = Path("data/corpus")
TOKENIZER = Path("models/tokenizer")
OUT = Path("data/packed")


def main() -> int:
    params = load_stage_params("pack")
    tok = load_bpe(TOKENIZER)
    ids = special_ids(tok, params.tokenizer.special_tokens)
    dtype = token_dtype(tok.get_vocab_size())
    meta = {
        "vocab_size": tok.get_vocab_size(),
        "dtype": dtype.name,
        "special_ids": ids,
        "tokenizer_sha256": sha256(TOKENIZER / "tokenizer.json"),
        "sources": read_json(IN / "manifest.json")["sources"],
    }
    with atomic_dir(OUT) as tmp:
        for split in ("train", "val"):
            packed = pack_shards(IN / split, tok, eos_id=ids["eos"], out=tmp / split, dtype=dtype)
            meta[f"{split}_tokens"], meta[f"{split}_segments"] = packed["tokens"], packed["segments"]
            meta[f"{split}_shards"] = packed["shards"]
            meta[f"{split}_lengths"] = packed["lengths"]  # the data profile's lengths (reports/evaluate/)
        write_json(tmp / "meta.json", meta)
    log_stage_run(
        "pack",
        params,
        keys=["tokenizer.special_tokens"],
        metrics={k: meta[k] for k in ("train_tokens", "val_tokens", "vocab_size")},
        artifacts=(OUT / "meta.json",),
    )
    tokens = f"{meta['train_tokens']:,} train / {meta['val_tokens']:,} val tokens ({dtype.name})"
    print(f"pack: {tokens}, {len(meta['train_shards'])} + {len(meta['val_shards'])} shards -> {OUT}/")
    return 0


if __name__ == "__main__":
    run_stage(main)
