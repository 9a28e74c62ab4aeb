"""train_tokenizer: byte-level BPE on a seeded sample of at most tokenizer.train_sample_docs
pre-training *train* texts (all of them when fewer), so its time and memory stop growing with the
corpus -> models/tokenizer/ (loadable with PreTrainedTokenizerFast / AutoTokenizer, with
bos/eos/pad/unk tokens)."""

from __future__ import annotations

from pathlib import Path

from llmops.config import load_stage_params
from llmops.data.corpus import count_rows, sample_texts
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
    sample = int(cfg.train_sample_docs)
    texts = sample_texts(IN, sample, seed=int(params.seed))
    tok = train_bpe(texts, cfg.vocab_size, min_frequency=cfg.min_frequency, special=special)
    with atomic_dir(OUT) as tmp:
        save_for_transformers(tok, special, tmp, max_length=int(params.model.context_length))
    log_stage_run(
        "train_tokenizer",
        params,
        keys=["tokenizer", "model.context_length", "seed"],
        metrics={"vocab_size": tok.get_vocab_size(), "trained_on_docs": min(sample, count_rows(IN))},
        artifacts=(OUT,),
    )
    print(f"train_tokenizer: vocabulary of {tok.get_vocab_size()} -> {OUT}/")
    return 0


if __name__ == "__main__":
    run_stage(main)
