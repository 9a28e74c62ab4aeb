"""A learning-curve cell small enough to train in a second: a 1-layer Llama from random init."""

from pathlib import Path

from transformers import LlamaConfig

from llmops.label_efficiency.cells import Cell, CellJob
from llmops.models.inputs import EncodedTexts

ROWS = EncodedTexts([[5, 6, 7, 2], [8, 9, 2], [10, 11, 12, 13, 2], [14, 2]] * 4, [0, 1, 0, 1] * 4)
RECIPE = dict(
    batch_size=4, max_length=8, bucket_batches=0, lr=1e-3, weight_decay=0.0, layer_decay=1.0,
    warmup_ratio=0.0, grad_clip=1.0, dropout=0.0, pooling="last", val_every_steps=2,
)  # fmt: skip


def tiny_config() -> LlamaConfig:
    return LlamaConfig(
        vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=16, pad_token_id=0, eos_token_id=2, bos_token_id=1,
    )  # fmt: skip


def tiny_job(folder: Path, precision: str = "32-true", seed: int = 0, steps: int = 2) -> CellJob:
    """A scratch-init cell whose architecture is saved in `folder`."""
    tiny_config().save_pretrained(folder)
    return CellJob(
        Cell("scratch", budget=len(ROWS), seed=seed),
        steps=steps,
        source=str(folder),
        source_digest="tiny",
        labels=["neg", "pos"],
        train=ROWS,
        val=ROWS,
        test_ids=ROWS.ids,
        pad_id=0,
        recipe=RECIPE,
        trainer={"accelerator": "cpu", "precision": precision, "num_threads": 1, "log_every_n_steps": 1},
    )
