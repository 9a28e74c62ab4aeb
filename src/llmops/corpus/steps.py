"""The corpus pipeline's own steps, each small, in datatrove's shape: a reader, our cleaning, filters
that write what they drop and why (datatrove's exclusion writers), and a writer.

Readers shard by rank: the raw corpus and the labeled train texts are Parquet row groups, dealt
out round-robin to `world_size` tasks, so the same `tasks` always gives the same shards whatever
the number of workers running them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup import MinhashDedupSignature
from datatrove.pipeline.filters import GopherRepetitionFilter
from datatrove.pipeline.filters.base_filter import BaseFilter

from llmops.corpus.sources import CORPUS_SCHEMA, batched
from llmops.data.neardup import char_shingles, jaccard

WORDS_ONLY_RE = re.compile(r"\w+(?:['’]\w+)*")


class RowGroupReader(PipelineStep):
    """Documents from Parquet files: (path, source) pairs, where source=None means the file's own
    `source` column. Row group k of all files (in order) goes to task k % world_size."""

    name = "row groups"
    type = "📖 - READER"

    def __init__(self, files: list[tuple[str, str | None]]):
        super().__init__()
        self.files = files

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        unit = 0
        for path, source in self.files:
            pf = pq.ParquetFile(path)
            for group in range(pf.num_row_groups):
                if unit % world_size == rank:
                    yield from self._documents(pf, group, path=path, source=source)
                unit += 1

    def _documents(self, pf: pq.ParquetFile, group: int, path: str, source: str | None) -> Iterator[Document]:
        columns = ["text"] if source else ["text", "source"]
        table = pf.read_row_group(group, columns=columns)
        texts = table.column("text").to_pylist()
        sources = [source] * len(texts) if source else table.column("source").to_pylist()
        for i, (text, src) in enumerate(zip(texts, sources, strict=True)):
            if text is None:
                continue
            self.stat_update("documents")
            yield Document(text=text, id=f"{Path(path).name}/{group}/{i}", metadata={"source": src})


class NodeStamp(PipelineStep):
    """Says in the task's log which machine ran it (the Ray node id when under Ray), and passes
    everything on: a task log then tells where each shard was made."""

    name = "node"
    type = "🏷 - STAMP"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import socket
        import sys

        from datatrove.utils.logging import logger

        node = socket.gethostname()
        ray = sys.modules.get("ray")  # imported already in a Ray worker; importing it costs ~1 s
        if ray is not None and ray.is_initialized():
            node = f"{node} ray node {ray.get_runtime_context().get_node_id()}"
        logger.info(f"task {rank}/{world_size} on {node}")  # now: a generator would log only when read
        return data  # as given: a step that starts a pass refuses any input, even an empty one


class RankShardReader(PipelineStep):
    """The shard an earlier pass wrote for this very rank (`{rank:05d}.parquet`), or nothing: MinHash
    and exact dedup address documents by (rank, position), so a rank must read back its own file."""

    name = "rank shard"
    type = "📖 - READER"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = Path(self.folder) / f"{rank:05d}.parquet"
        if not path.exists():
            return
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096, columns=["text", "id", "source"]):
            for text, doc_id, source in zip(
                *(batch.column(c).to_pylist() for c in ("text", "id", "source")), strict=True
            ):
                yield Document(text=text, id=doc_id, metadata={"source": source})


def _table(docs: list[Document], schema: pa.Schema) -> pa.Table:
    """The documents as a table of `schema`'s columns: text, id, or a metadata field."""
    get = {"text": lambda d: d.text, "id": lambda d: d.id}
    columns = {f.name: [get.get(f.name, lambda d, k=f.name: d.metadata[k])(d) for d in docs] for f in schema}
    return pa.table(columns, schema=schema)


class RankShardWriter(PipelineStep):
    """Writes the documents it passes on to `{rank:05d}.parquet` (text, id, source), for a later pass."""

    name = "rank shard"
    type = "💽 - WRITER"
    SCHEMA = pa.schema([("text", pa.string()), ("id", pa.string()), ("source", pa.string())])

    def __init__(self, folder: str, batch: int = 4096):
        super().__init__()
        self.folder, self.batch = folder, batch

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(Path(self.folder) / f"{rank:05d}.parquet", self.SCHEMA) as writer:
            for batch in batched(data, self.batch):
                writer.write_table(_table(batch, self.SCHEMA))
                yield from batch


class Clean(BaseFilter):
    """Our cleaning (ftfy, URL and mention normalisation: data.preprocess), the same function the
    labeled texts and predictions go through; a document cleaned to nothing is dropped."""

    name = "clean"

    def __init__(self, clean: Callable[[str], str], exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.clean = clean

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        doc.text = self.clean(doc.text)
        return True if doc.text else (False, "empty_after_cleaning")


class Length(BaseFilter):
    """Drop documents outside [min_chars, max_chars] (characters after cleaning)."""

    name = "length"

    def __init__(self, min_chars: int, max_chars: int, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.min_chars, self.max_chars = min_chars, max_chars

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if len(doc.text) < self.min_chars:
            return False, "too_short"
        if len(doc.text) > self.max_chars:
            return False, "too_long"
        return True


class Decontaminate(BaseFilter):
    """Drop documents that hold a validation or test text: exactly, or sharing any run of `ngram`
    words with one (lower-cased, punctuation apart). Pre-training on a held-out text would make
    its evaluation a memory test. Train texts stay allowed (self-pre-training). The held-out texts
    are read from their Parquet files in the task itself, so the step stays small to ship."""

    name = "decontaminate"

    def __init__(self, held_out: list[str], ngram: int, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.held_out, self.ngram = held_out, ngram
        self._texts: set[str] | None = None
        self._grams: set[str] = set()

    def _load(self) -> None:
        texts = [t for path in self.held_out for t in pq.read_table(path, columns=["text"]).column(0).to_pylist() if t]
        self._texts = {_norm(t) for t in texts}
        self._grams = {g for t in texts for g in self._ngrams(t)}

    def _ngrams(self, text: str) -> set[str]:
        # strings, not hash(): str hashes are salted per process, and workers are other processes
        words = _words(text)
        return {" ".join(words[i : i + self.ngram]) for i in range(len(words) - self.ngram + 1)}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._texts is None:
            self._load()
        if _norm(doc.text) in self._texts:
            return False, "held_out_text"
        if self._grams and not self._grams.isdisjoint(self._ngrams(doc.text)):
            return False, f"held_out_{self.ngram}gram"
        return True


def _words(text: str) -> list[str]:
    """Lower-cased words, punctuation dropped: "@user" and "<url>" are one word each, so a run of
    mentions is not a run of eight tokens that every mention-heavy tweet shares."""
    return WORDS_ONLY_RE.findall(text.lower())


def _norm(text: str) -> str:
    return " ".join(_words(text))


class SplitWriter(PipelineStep):
    """The end of the pipeline: each document to `train/` or `val/` (`{rank:05d}.parquet`, columns
    text and source) by a seeded hash of its text, so the split does not depend on sharding."""

    name = "train/val shards"
    type = "💽 - WRITER"

    def __init__(self, folder: str, is_val: Callable[[list[str]], Any], batch: int = 4096):
        super().__init__()
        self.folder, self.is_val, self.batch = folder, is_val, batch

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with contextlib.ExitStack() as stack:
            writers = {}
            for split in ("train", "val"):
                (Path(self.folder) / split).mkdir(parents=True, exist_ok=True)
                path = Path(self.folder) / split / f"{rank:05d}.parquet"
                writers[split] = stack.enter_context(pq.ParquetWriter(path, CORPUS_SCHEMA))
            for batch in batched(data, self.batch):
                val = list(self.is_val([d.text for d in batch]))
                for split, keep in (("train", False), ("val", True)):
                    part = [d for d, v in zip(batch, val, strict=True) if bool(v) == keep]
                    self.stat_update(f"{split}_documents", value=len(part))
                    writers[split].write_table(_table(part, CORPUS_SCHEMA))
        return
        yield  # a generator, as every step is


class Repetition(GopherRepetitionFilter):
    """Gopher's repetition rules (datatrove's filter), on documents of at least `min_words` words.
    The rules were made for web pages: on a 12-word tweet any repeated word pair is 20% of its
    characters, so the top-n-gram rules would drop half of the short texts for being short."""

    name = "repetition"

    def __init__(self, min_words: int, exclusion_writer=None):
        from llmops.corpus.words import RegexWords

        super().__init__(exclusion_writer=exclusion_writer, language=RegexWords())
        self.min_words = min_words

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if len(_words(doc.text)) < self.min_words:
            return True
        return super().filter(doc)


class NearPairs(PipelineStep):
    """MinHash's candidate pairs (datatrove's `.dups` files, one per bucket), kept where the two
    documents' character n-gram sets have an exact Jaccard of at least `threshold`
    (llmops.data.neardup: the labeled texts' definition). The bands only propose: at Jaccard
    0.92 a pair shares a band 99.9% of the time, and a pair at 0.5 4% of the time, so this check
    is what makes the threshold exact (no pair below it removed, none above it missed but for
    that 0.1%).

    Task `rank` checks the pairs whose first document is in shard `rank % world_size` and reads
    only the row groups that hold their documents. It writes one file per bucket file, as the
    clustering pass expects; a pair found in several bands is checked once."""

    name = "near pairs"
    type = "🫂 - DEDUP"

    def __init__(self, candidates: str, shards: str, output: str, n_grams: int, threshold: float):
        super().__init__()
        self.candidates, self.shards, self.output = Path(candidates), Path(shards), Path(output)
        self.n_grams, self.threshold = n_grams, threshold

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        mine = {}
        for path in sorted(self.candidates.glob("*.dups")):
            pairs = np.fromfile(path, dtype="<u4").reshape(-1, 4)
            mine[path] = pairs[pairs[:, 0] % world_size == rank]
        texts = self._texts(mine.values())  # texts, not shingles: 700 characters against 700 8-byte hashes
        near: dict[tuple[int, ...], bool] = {}
        self.output.mkdir(parents=True, exist_ok=True)
        for path, pairs in mine.items():
            keep = []
            for row in map(tuple, pairs.tolist()):
                if row not in near:
                    a, b = (char_shingles(texts[key], self.n_grams) for key in (row[:2], row[2:]))
                    near[row] = jaccard(a, b) >= self.threshold
                    self.stat_update("candidates")
                    self.stat_update("near" if near[row] else "not_near")
                keep.append(near[row])
            bucket = path.stem.split("_")[0]
            pairs[np.asarray(keep, dtype=bool)].astype("<u4").tofile(self.output / f"{bucket}_{rank:05d}.dups")
        return
        yield  # a generator, as every step is

    def _texts(self, pair_arrays) -> dict[tuple[int, int], str]:
        """(shard, position) -> text, for every document in the pairs, read row group by row group."""
        wanted: dict[int, set[int]] = {}
        for pairs in pair_arrays:
            for shard, doc in np.concatenate([pairs[:, :2], pairs[:, 2:]]).tolist():
                wanted.setdefault(shard, set()).add(doc)
        texts = {}
        for shard, positions in wanted.items():
            pf = pq.ParquetFile(self.shards / f"{shard:05d}.parquet")
            start = 0
            for group in range(pf.num_row_groups):
                size = pf.metadata.row_group(group).num_rows
                hits = sorted(p for p in positions if start <= p < start + size)
                if hits:
                    column = pf.read_row_group(group, columns=["text"]).column(0)
                    texts.update({(shard, p): column[p - start].as_py() for p in hits})
                start += size
        return texts


class CharMinhashSignature(MinhashDedupSignature):
    """datatrove's MinHash signatures over `char_shingles`, the shingles `NearPairs` then compares.
    Characters, because a tweet has too few word 5-grams to compare; our own shingles, because
    datatrove's pass str to xxhash, which takes bytes only, and its sha1 fallback is 8x slower."""

    def __init__(self, output_folder: str, config: Any):
        from llmops.corpus.words import RegexWords

        super().__init__(output_folder=output_folder, config=config, language=RegexWords())  # no spaCy to load

    def get_shingles(self, text: str) -> np.ndarray:
        if not text.strip():
            return np.zeros((0, 1), dtype=np.uint64)
        return char_shingles(text, self.config.n_grams).reshape((-1, 1))
