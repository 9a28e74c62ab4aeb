"""Types and ranges of the params, checked before any stage runs (by `make params` and by the
`params` stage, so `dvc exp run -S` values too): a bad value is one line naming the key, the value
and the rule, not an IndexError or a TypeError deep in a trainer.

Pydantic models mirror conf/'s groups; only keys with a rule are listed, the rest pass through
(`extra="allow"`): a data source's own fields are checked by the source when it reads them."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Count = Annotated[int, Field(ge=1)]  # batch sizes, steps, epochs, layers, rows
NonNegativeInt = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Rate = Annotated[float, Field(gt=0.0)]  # learning rates, peaks
NonNegative = Annotated[float, Field(ge=0.0)]
Dropout = Annotated[float, Field(ge=0.0, lt=1.0)]


class Group(BaseModel):
    model_config = ConfigDict(extra="allow")


class Split(Group):
    val: Annotated[float, Field(gt=0.0, lt=1.0)]
    test: Annotated[float, Field(gt=0.0, lt=1.0)]

    @model_validator(mode="after")
    def leaves_a_train_split(self) -> Split:
        if self.val + self.test >= 1.0:
            raise ValueError(f"val + test = {self.val + self.test:g} leaves no train split (must be < 1)")
        return self


class Preprocess(Group):
    min_chars: NonNegativeInt
    max_chars: Count | None = None
    corpus_val_fraction: Fraction
    near_dup_threshold: Annotated[float, Field(gt=0.0, le=1.0)] | None = None


class Validation(Group):
    min_rows: Count
    min_rows_per_class: Count
    min_class_share: Fraction
    min_chars: NonNegativeInt
    max_chars: Count | None = None
    max_duplicate_share: Fraction
    max_encoding_damage_share: Fraction
    max_rejected_share: Fraction
    max_text_lines: Count
    max_multiline_share: Fraction
    max_dropped_share: Fraction


class Corpus(Group):
    paths: list[str] = []
    dep: str
    txt_split: Literal["blank_line", "line"] = "blank_line"
    text_key: Annotated[str, Field(min_length=1)] = "text"

    @model_validator(mode="after")
    def dep_covers_paths(self) -> Corpus:
        """DVC reruns ingest when `dep` changes: a corpus path outside it could change unseen."""
        fixed = static_part
        dep = PurePosixPath(self.dep)
        if fixed(self.dep) != dep:
            raise ValueError(
                f"data.corpus.dep={self.dep!r} is a glob, which DVC cannot watch; "
                f"set data.corpus.dep={str(fixed(self.dep))!r}"
            )
        for entry in self.paths:
            if dep != PurePosixPath(".") and dep not in (fixed(entry), *fixed(entry).parents):
                raise ValueError(
                    f"data.corpus.dep={self.dep!r} does not hold corpus path {entry!r}, so DVC would not rerun ingest "
                    "when it changes; set data.corpus.dep to a folder holding every path in data.corpus.paths"
                )
        return self


GLOB_CHARS = set("*?[")


def static_part(entry: str) -> PurePosixPath:
    """The folder a glob searches (the entry itself when it has no wildcard; `.` for a bare glob)."""
    parts = PurePosixPath(entry).parts
    return PurePosixPath(*parts[: next((i for i, p in enumerate(parts) if GLOB_CHARS & set(p)), len(parts))])


class Minhash(Group):
    n_grams: Count
    num_buckets: Count
    hashes_per_bucket: Count


class CorpusPrep(Group):
    min_chars: NonNegativeInt
    max_chars: Count
    repetition_min_words: Count | None = None
    decontaminate_ngram: Count
    near_dup_threshold: Annotated[float, Field(gt=0.0, le=1.0)]
    minhash: Minhash


class Executor(Group):
    kind: Literal["local", "ray"]
    tasks: Count | Literal["auto"]
    docs_per_task: Count
    workers: Count | Literal["auto"]
    address: str | None = None


class Data(Group):
    allow_outside_paths: bool
    corpus: Corpus
    corpus_prep: CorpusPrep
    executor: Executor
    subsample: Count | None = None
    corpus_subsample: Count | None = None
    split: Split
    preprocess: Preprocess
    validation: Validation


class Model(Group):
    arch: Literal["llama", "gpt2"]
    d_model: Count
    n_layers: Count
    n_heads: Count
    d_ff: Count
    context_length: Annotated[int, Field(ge=2)]
    dropout: Dropout

    @model_validator(mode="after")
    def heads_divide_width(self) -> Model:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        return self


class Tokenizer(Group):
    vocab_size: Count
    min_frequency: Count
    train_sample_docs: Count
    train_sample_bytes: Count | None = None


class Pretrain(Group):
    batch_size: Count
    batch_tokens: Count | None = None
    micro_batch_size: Count | None = None
    max_steps: Count
    in_domain_epochs: Rate | None = None
    max_auto_steps: Count
    lr: Rate
    min_lr_ratio: Fraction
    warmup_steps: NonNegativeInt
    weight_decay: NonNegative
    grad_clip: NonNegative
    val_every_steps: Count
    val_batches: Count
    in_domain_fraction: Fraction | None = None
    checkpoint_every_steps: NonNegativeInt


class Recipe(Group):
    """How a classifier is fine-tuned: the finetune stage's and the learning curve's own copy."""

    batch_size: Count
    max_length: Annotated[int, Field(ge=2)] | Literal["auto"]
    truncation: Literal["head", "head_tail"]
    bucket_batches: NonNegativeInt
    lr: Rate
    weight_decay: NonNegative
    layer_decay: Annotated[float, Field(gt=0.0, le=1.0)]
    warmup_ratio: Fraction
    grad_clip: NonNegative
    dropout: Dropout | None = None
    pooling: Literal["last", "mean"]


class Finetune(Recipe):
    init: Literal["pretrained", "scratch", "hf"]
    ablation: bool
    label_budget: Count | None = None
    micro_batch_size: Count | None = None
    epochs: Count
    max_steps: Annotated[int, Field(ge=-1)]
    min_steps: NonNegativeInt = 0
    val_subsample: Count | None = None
    val_every_steps: Count | None = None
    checkpoint_every_steps: NonNegativeInt

    @model_validator(mode="after")
    def max_steps_is_a_count_or_all(self) -> Finetune:
        if self.max_steps == 0:
            raise ValueError("max_steps 0 would train nothing: -1 runs all epochs, N >= 1 stops at N")
        return self


class LearningCurve(Recipe):
    budgets: list[Count]
    steps: list[Count]
    seeds: Annotated[list[NonNegativeInt], Field(min_length=1)]
    val_subsample: Count
    val_every_steps: Count
    bootstrap_rounds: Count

    @model_validator(mode="after")
    def one_step_count_per_budget(self) -> LearningCurve:
        if len(self.steps) != len(self.budgets):
            raise ValueError(f"{len(self.budgets)} budgets but {len(self.steps)} step counts: give one per budget")
        if self.budgets != sorted(set(self.budgets)):
            raise ValueError(f"budgets {self.budgets} must be distinct and increasing (the subsets are nested)")
        return self


class Trainer(Group):
    num_nodes: Count
    num_threads: Count
    log_every_n_steps: Count
    peak_tflops: Rate | None = None
    compile: bool


class Tracking(Group):
    register_: Literal["auto"] | bool = Field(alias="register")  # `register` is a BaseModel attribute
    champion_margin: NonNegative
    min_gain_over_majority: NonNegative


class Params(Group):
    seed: NonNegativeInt
    data: Data
    model: Model
    tokenizer: Tokenizer
    pretrain: Pretrain
    finetune: Finetune
    learning_curve: LearningCurve
    trainer: Trainer
    tracking: Tracking


def problems(params: dict[str, Any]) -> list[str]:
    """What breaks a rule, one line per key: `key=value: rule`; empty when the params are fine."""
    try:
        Params.model_validate(params)
    except ValidationError as err:
        rules: dict[str, list[str]] = {}  # a union (`auto` or a bool) fails once per member: one line
        for error in err.errors():
            key, value = _key_in(params, error["loc"])
            rule = error["msg"].removeprefix("Value error, ").replace("Input should be ", "")
            rules.setdefault(key, []).append(rule)
            if not isinstance(value, dict) and error["type"] != "missing":
                rules.setdefault(f"{key}=", [_shown(value)])
        return [
            f"{key}={rules[key + '='][0]}: must be {' or '.join(found)}" if key + "=" in rules else f"{key}: {found[0]}"
            for key, found in rules.items()
            if not key.endswith("=")
        ]
    return []


def _key_in(params: dict[str, Any], loc: tuple) -> tuple[str, Any]:
    """The dotted key of an error's location and the value there; pydantic adds the union member
    (`bool`, `literal['auto']`) after the key, which is not part of it."""
    parts, node = [], params
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            break
        parts.append(str(part))
        node = node[part]
    return ".".join(parts), node


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
