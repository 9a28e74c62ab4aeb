"""Batches for training. A global batch is drawn per optimizer step from (seed, step) alone, then
cut into micro-batches per rank and accumulation step, so 1 process x 4 accumulation steps and 2
processes x 2 see the same global batch, and a resumed run picks up at any step.

Pre-training draws random windows of the packed token shards (memory flat in corpus size); fine-tuning
draws a per-epoch permutation of the encoded texts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from llmops.data.packing import TokenShards

if TYPE_CHECKING:  # only types: pre-training (windows of tokens) does not depend on text inputs
    from llmops.models.inputs import EncodedTexts, PadCollate


@dataclass(frozen=True)
class BatchPlan:
    """global_batch = micro_batch x world_size x accumulation (all in sequences)."""

    global_batch: int
    micro_batch: int
    world_size: int

    @classmethod
    def from_config(cls, cfg: Any, world_size: int, stage: str, context: int | None = None) -> BatchPlan:
        """`batch_size` (sequences) or `batch_tokens` (tokens, / context) is the global batch;
        `micro_batch_size` is what one device holds (null: global / world, no accumulation)."""
        global_batch = int(cfg.batch_size)
        if cfg.get("batch_tokens") and context:
            global_batch = int(cfg.batch_tokens) // context
        micro = int(cfg.get("micro_batch_size") or max(1, global_batch // world_size))
        if global_batch % (micro * world_size):
            raise ValueError(
                f"{stage}: global batch {global_batch} is not a multiple of micro_batch_size {micro} x "
                f"{world_size} processes; change {stage}.batch_size or {stage}.micro_batch_size"
            )
        return cls(global_batch, micro, world_size)

    @property
    def accumulation(self) -> int:
        return self.global_batch // (self.micro_batch * self.world_size)

    def micro_rows(self, rows: np.ndarray, k: int, rank: int) -> np.ndarray:
        start = (k * self.world_size + rank) * self.micro_batch
        return rows[start : start + self.micro_batch]


class StepLoader:
    """Iterable of this rank's micro-batches for global steps [start, total): `rows(step)` picks the
    global batch, `make(rows)` builds a micro-batch. Lightning sees `state_dict`/`load_state_dict`
    and treats it as resumable; the start step is read from the trainer when iteration begins,
    after a checkpoint has been restored."""

    def __init__(
        self,
        plan: BatchPlan,
        total_steps: int,
        rows: Callable[[int], np.ndarray],
        make: Callable[[np.ndarray], Any],
        pin_memory: bool = False,
    ):
        self.plan, self.total_steps, self.rows, self.make = plan, total_steps, rows, make
        self.pin_memory = pin_memory and torch.cuda.is_available()
        self.trainer: Any = None  # set by training.trainer.fit

    def __len__(self) -> int:
        return self.total_steps * self.plan.accumulation

    def __iter__(self) -> Iterator[Any]:
        start = self.trainer.global_step if self.trainer is not None else 0
        rank = self.trainer.global_rank if self.trainer is not None else 0
        for step in range(start, self.total_steps):
            rows = self.rows(step)
            for k in range(self.plan.accumulation):
                batch = self.make(self.plan.micro_rows(rows, k, rank))
                yield _pin(batch) if self.pin_memory else batch

    def state_dict(self) -> dict[str, Any]:
        return {"plan": [self.plan.global_batch, self.plan.micro_batch, self.plan.world_size]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("plan", [])[:1] != [self.plan.global_batch]:
            raise ValueError(f"checkpoint was written with global batch {state.get('plan')}, now {self.plan}")


def _pin(batch: Any) -> Any:
    if isinstance(batch, dict):
        return {k: v.pin_memory() for k, v in batch.items()}
    return tuple(t.pin_memory() for t in batch)


class PackedTokens:
    """A packed split (a folder of token shards, or one `.bin` file) read window by window as one
    token stream: a window may span two shards."""

    def __init__(self, path: Path, dtype: str, context: int, expected: int | None = None):
        self.shards = TokenShards(path, dtype, expected=expected)
        self.path, self.dtype, self.context = Path(path), np.dtype(dtype), context
        self.n_tokens = len(self.shards)
        if self.n_tokens <= context + 1:
            raise ValueError(f"{path}: {self.n_tokens} tokens, fewer than one window of {context + 1}")

    def windows(self, offsets: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        maps: dict = {}
        rows = [self.shards.read(int(o), int(o) + self.context + 1, maps) for o in offsets]
        block = torch.from_numpy(np.stack(rows).astype(np.int64))
        return block[:, :-1], block[:, 1:]

    def random_offsets(
        self, seed: int, segments: list | None = None, in_domain_fraction: float | None = None
    ) -> Callable[[int, int], np.ndarray]:
        """Window starts for step `step`, uniform over the tokens; or, with `in_domain_fraction`, that
        share of each batch from the in-domain tokens (every source in pack's segments but the
        embedded general corpus: the labeled train texts and the user's own `data.corpus.paths`)
        and the rest from the general corpus: a data mixture that needs no repacking."""
        hi = self.n_tokens - self.context - 1
        inside = [(a, min(b, hi)) for a, b in in_domain_ranges(segments) if a < hi]
        outside = _complement(inside, hi)
        mixed = in_domain_fraction is not None and inside and outside

        def rows(step: int, size: int) -> np.ndarray:
            rng = np.random.default_rng([seed, step])
            if not mixed:
                return rng.integers(0, hi, size=size)
            k = round(size * float(in_domain_fraction))
            return rng.permutation(np.concatenate([_draw(rng, inside, k), _draw(rng, outside, size - k)]))

        return rows


# corpus.sources' name for the embedded Wikipedia summaries, spelled out so that pre-training does
# not load the corpus readers; a test keeps the two the same. Every other source is in-domain: the
# labeled train texts, and the unlabeled text a user adds for their task, which is the text that
# carries the gain (docs/experiments.md, the development suite).
GENERAL_CORPUS = "wikipedia"


def in_domain_ranges(segments: list | None) -> list[tuple[int, int]]:
    """The (start, end) token ranges of pack's `train_segments` that pre-training counts as in-domain."""
    return [(a, b) for src, a, b in (segments or []) if src != GENERAL_CORPUS]


def in_domain_tokens(segments: list | None) -> int:
    """The packed train tokens pre-training counts as in-domain."""
    return sum(b - a for a, b in in_domain_ranges(segments))


def in_domain_share(segments: list | None, n_tokens: int, in_domain_fraction: float | None) -> float:
    """The share of pre-training windows drawn from the in-domain tokens: `in_domain_fraction` when
    the batches mix (there is text on both sides), else uniform draws give each token its share."""
    inside = in_domain_tokens(segments)
    if in_domain_fraction is not None and 0 < inside < n_tokens:
        return float(in_domain_fraction)
    return inside / n_tokens if n_tokens else 0.0


def _complement(ranges: list[tuple[int, int]], hi: int) -> list[tuple[int, int]]:
    out, pos = [], 0
    for a, b in sorted(ranges):
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
    if pos < hi:
        out.append((pos, hi))
    return out


def _draw(rng: np.random.Generator, ranges: list[tuple[int, int]], k: int) -> np.ndarray:
    lengths = np.array([b - a for a, b in ranges])
    u = rng.integers(0, lengths.sum(), size=k)
    idx = np.searchsorted(np.cumsum(lengths), u, side="right")
    return np.array([a for a, _ in ranges])[idx] + u - (np.cumsum(lengths) - lengths)[idx]


def window_batches(
    tokens: PackedTokens,
    plan: BatchPlan,
    total_steps: int,
    seed: int,
    pin_memory: bool = False,
    segments: list | None = None,
    in_domain_fraction: float | None = None,
) -> StepLoader:
    draw = tokens.random_offsets(seed, segments, in_domain_fraction)
    return StepLoader(
        plan, total_steps, rows=lambda step: draw(step, plan.global_batch), make=tokens.windows, pin_memory=pin_memory
    )


def text_batches(
    texts: EncodedTexts,
    plan: BatchPlan,
    total_steps: int,
    seed: int,
    collate: PadCollate,
    pin_memory: bool = False,
    bucket_batches: int = 0,
) -> StepLoader:
    """Epoch e is the permutation rng(seed, e) cut into global batches (the last partial one dropped).
    With bucket_batches = k > 0, each run of k batches' worth of that permutation is sorted by length
    before it is cut, and the epoch's batches are then shuffled: every batch holds texts of similar
    length, so dynamic padding wastes little (in random batches of tweets 42% of the tokens are padding)."""
    per_epoch = steps_per_epoch(len(texts), plan)
    lengths = np.array([len(ids) for ids in texts.ids]) if bucket_batches > 0 else None
    epochs: dict[int, np.ndarray] = {}

    def epoch_batches(epoch: int) -> np.ndarray:
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(texts))[: per_epoch * plan.global_batch]
        if lengths is not None:
            pool = bucket_batches * plan.global_batch
            chunks = np.split(order, range(pool, len(order), pool))
            order = np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")] for chunk in chunks])
            return order.reshape(per_epoch, plan.global_batch)[rng.permutation(per_epoch)]
        return order.reshape(per_epoch, plan.global_batch)

    def rows(step: int) -> np.ndarray:
        epoch, j = divmod(step, per_epoch)
        if epoch not in epochs:
            epochs.clear()
            epochs[epoch] = epoch_batches(epoch)
        return epochs[epoch][j]

    return StepLoader(
        plan, total_steps, rows=rows, make=lambda idx: collate([texts[i] for i in idx]), pin_memory=pin_memory
    )


def steps_per_epoch(n_examples: int, plan: BatchPlan) -> int:
    if n_examples < plan.global_batch:
        raise ValueError(f"{n_examples} training examples, fewer than one global batch of {plan.global_batch}")
    return n_examples // plan.global_batch


class FixedWindows(Dataset):
    """`n_windows` evenly spaced windows over the validation tokens, in batches of `batch_size`:
    the same windows every evaluation, whatever the batch size (so 1 and N processes agree)."""

    def __init__(self, tokens: PackedTokens, n_windows: int, batch_size: int):
        self.tokens, self.batch_size = tokens, batch_size
        # fewer distinct windows than asked for when the val split is small: keep unique ones only
        self.offsets = np.unique(np.linspace(0, tokens.n_tokens - tokens.context - 1, num=n_windows).astype(np.int64))

    def __len__(self) -> int:
        return -(-len(self.offsets) // self.batch_size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokens.windows(self.offsets[i * self.batch_size : (i + 1) * self.batch_size])


VAL_BATCH = 128  # validation only runs forward passes: larger batches than training


def val_loader(val: EncodedTexts, trainer: Any, collate: PadCollate) -> DataLoader:
    """This rank's 1/N of the validation texts, sorted by length (little padding; the metrics
    are sums of counts, so neither the order nor the split changes them)."""
    by_length = sorted(range(len(val)), key=lambda i: len(val.ids[i]))
    shard = by_length[trainer.global_rank :: trainer.world_size]
    return DataLoader(Subset(val, shard), batch_size=VAL_BATCH, collate_fn=collate)
