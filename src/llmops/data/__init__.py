"""Data work: sources, cleaning, dedup, splits, tokenizer training, packing. Never imports torch."""
