"""pack: tokenise the pre-training corpus (data/corpus/{train,val}/ shards, in name order) and pack
it, EOS between documents, into flat memory-mapped token arrays data/packed/{train,val}.bin with
meta.json."""

from __future__ import annotations

from pathlib import Path

from llmops.config import load_stage_params
from llmops.data.corpus import iter_texts_with_source
from llmops.data.packing import pack_sources, token_dtype
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
            meta[f"{split}_tokens"], meta[f"{split}_segments"] = pack_sources(
                iter_texts_with_source(IN / split),
                tok,
                eos_id=ids["eos"],
                out=tmp / f"{split}.bin",
                dtype=dtype,
            )
        write_json(tmp / "meta.json", meta)
    log_stage_run(
        "pack",
        params,
        keys=["tokenizer.special_tokens"],
        metrics={k: meta[k] for k in ("train_tokens", "val_tokens", "vocab_size")},
        artifacts=(OUT / "meta.json",),
    )
    print(f"pack: {meta['train_tokens']:,} train / {meta['val_tokens']:,} val tokens ({dtype.name}) -> {OUT}/")
    return 0


if __name__ == "__main__":
    run_stage(main)
