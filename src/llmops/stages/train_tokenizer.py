"""train_tokenizer: byte-level BPE on a seeded sample of at most tokenizer.train_sample_docs
pre-training *train* texts and about tokenizer.train_sample_bytes of text (all of them when the
corpus is smaller), so its time and memory stop growing with the corpus -> models/tokenizer/
(loadable with PreTrainedTokenizerFast / AutoTokenizer, with bos/eos/pad/unk tokens)."""

from __future__ import annotations

from pathlib import Path

from llmops.config import load_stage_params
from llmops.data.corpus import sample_texts
from llmops.data.tokenizer import save_for_transformers, train_bpe
from llmops.io import atomic_dir
from llmops.stages.runner import run_stage
from llmops.tracking.runs import log_stage_run

IN = Path("data/corpus/train")
OUT = Path("models/tokenizer")


def main() -> int:
    params = load_stage_params("train_tokenizer")
    cfg = params.tokenizer
    special = dict(cfg.special_tokens)
    max_bytes = int(cfg.train_sample_bytes) if cfg.get("train_sample_bytes") else None
    seen = [0]

    def texts():
        for text in sample_texts(IN, int(cfg.train_sample_docs), seed=int(params.seed), max_bytes=max_bytes):
            seen[0] += 1
            yield text

    tok = train_bpe(texts(), cfg.vocab_size, min_frequency=cfg.min_frequency, special=special)
    with atomic_dir(OUT) as tmp:
        save_for_transformers(tok, special, tmp, max_length=int(params.model.context_length))
    log_stage_run(
        "train_tokenizer",
        params,
        keys=["tokenizer", "model.context_length", "seed"],
        metrics={"vocab_size": tok.get_vocab_size(), "trained_on_docs": seen[0]},
        artifacts=(OUT,),
    )
    print(f"train_tokenizer: vocabulary of {tok.get_vocab_size()} -> {OUT}/")
    return 0


if __name__ == "__main__":
    run_stage(main)
