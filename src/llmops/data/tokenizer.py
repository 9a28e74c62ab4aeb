"""Byte-level BPE tokenizer trained with HF tokenizers, saved for PreTrainedTokenizerFast."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int, special: dict[str, str]) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=special["unk"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[special[k] for k in ("pad", "bos", "eos", "unk")],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def save_for_transformers(tok: Tokenizer, special: dict[str, str], out_dir: Path, max_length: int) -> None:
    """Save so that AutoTokenizer / PreTrainedTokenizerFast.from_pretrained(out_dir) loads it."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=special["bos"],
        eos_token=special["eos"],
        pad_token=special["pad"],
        unk_token=special["unk"],
        model_max_length=max_length,
    )
    fast.save_pretrained(str(out_dir))


def load_bpe(path: Path) -> Tokenizer:
    """The trained byte-level BPE as a `tokenizers.Tokenizer` (for packing; models load the
    transformers wrapper saved beside it, see models.hf.load_hf_tokenizer)."""
    return Tokenizer.from_file(str(Path(path) / "tokenizer.json"))


def special_ids(tok: Tokenizer, special: Any) -> dict[str, int]:
    return {k: tok.token_to_id(special[k]) for k in ("pad", "bos", "eos", "unk")}
