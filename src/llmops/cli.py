"""Command line: use the pipeline's models.

llmops predict "some text" ["more text" ...] [--model models/classifier] [--file texts.csv]
llmops generate "prompt" [--model models/pretrained] [--max-new-tokens 40]
llmops serve [--model models:/tweet-sentiment-classifier@champion] [--port 5001] [--request-log DIR] [--hash-text]
llmops retrain [override ...] [--if-drift BATCH]
llmops smoke [override ...]
llmops drift BATCH [--text-column text] [--label-column L] [--encoding E] [--out reports/drift/<batch>] [--n 500]
llmops drift --requests [DIR] [--since 7d]

User errors (a missing model or file, a wrong column) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class UserError(Exception):
    """Printed as `llmops <command>: error: <message>`, exit code 2, no traceback."""


def _is_uri(model: str) -> bool:
    return "://" in model or model.startswith("models:/")


def _model_dir(path: str, what: str) -> Path:
    model = Path(path)
    if not (model / "config.json").is_file():
        raise UserError(
            f"no {what} at {model.resolve()} (run `make repro` in the workspace first, or pass --model "
            "a model directory or models:/<name>@champion)"
        )
    return model


def _read_texts(path: str, column: str) -> list[str]:
    import pandas as pd

    from llmops.data.sources import DataSourceError, iter_table

    if not Path(path).is_file():
        raise UserError(f"{path}: no such file")
    try:
        table = pd.concat(iter_table(Path(path)))
    except DataSourceError as err:
        raise UserError(str(err)) from err
    if column not in table.columns:
        columns = [c for c in table.columns if c != "row"][:20]  # row: our record number
        raise UserError(f"{path}: no column {column!r}; columns are {columns} (set --text-column)")
    return table[column].astype(str).tolist()


def _predict(args: argparse.Namespace) -> int:
    texts = list(args.texts)
    if args.file:
        texts += _read_texts(args.file, args.text_column)
    if not texts:
        raise UserError("give texts as arguments or --file")
    if _is_uri(args.model):  # a registry or run URI: the pyfunc model
        import mlflow
        import pandas as pd
        from mlflow.exceptions import MlflowException

        from llmops.tracking.store import default_uri

        mlflow.set_tracking_uri(default_uri())
        try:
            model = mlflow.pyfunc.load_model(args.model)
        except MlflowException as err:
            raise UserError(
                f"{args.model}: {str(err).splitlines()[0][:300]} (tracking URI {mlflow.get_tracking_uri()})"
            ) from err
        out = model.predict(pd.DataFrame({"text": texts}))
        labels = [c.removeprefix("prob_") for c in out.columns if c.startswith("prob_")]
        rows = [[float(r[f"prob_{lab}"]) for lab in labels] for _, r in out.iterrows()]
    else:
        from llmops.evaluation.predict import TextClassifier

        clf = TextClassifier(_model_dir(args.model, "classifier"))
        labels, rows = clf.labels, clf.predict_proba(texts).tolist()
    for text, probs in zip(texts, rows, strict=True):
        scores = {lab: round(float(p), 4) for lab, p in zip(labels, probs, strict=True)}
        print(json.dumps({"text": text, "label": max(scores, key=scores.get), "probabilities": scores}))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from transformers import AutoModelForCausalLM

    from llmops.models.generate import sample_texts
    from llmops.models.hf import load_hf_tokenizer

    model_dir = _model_dir(args.model, "pre-trained language model")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    (text,) = sample_texts(
        model,
        load_hf_tokenizer(model_dir),
        [args.prompt],
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
    )
    print(text)
    return 0


def _serve(args: argparse.Namespace) -> int:
    """MLflow's scoring app for a registered model on 127.0.0.1 (llmops.tracking.serving), logging
    each request to --request-log DIR when given."""
    from mlflow.exceptions import MlflowException

    from llmops.tracking.serving import serve
    from llmops.tracking.store import default_uri

    uri = default_uri()
    model = args.model or f"models:/{_default_model_name()}@champion"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise UserError(f"no MLflow store at {uri} (run `make repro` first, or set MLFLOW_TRACKING_URI)")
    log, log_text = _request_log(args.request_log), not args.hash_text and bool(_monitoring("log_text", True))
    try:
        serve(uri, model, port=args.port, request_log=log, log_text=log_text)
    except MlflowException as err:
        raise UserError(f"{model}: {str(err).splitlines()[0][:300]} (tracking URI {uri})") from None
    return 0


def _monitoring(key: str, default: object) -> object:
    """`monitoring.<key>` in the workspace's params.yaml (a service key: no stage reads it); the
    default outside a workspace or where it is not set."""
    from llmops.config import PARAMS_FILE, all_params

    value = (all_params().get("monitoring") or {}).get(key) if PARAMS_FILE.exists() else None
    return default if value is None else value


def _request_log(folder: str | None) -> Path | None:
    """The request log's folder: the one given on the command line, else monitoring.request_log."""
    folder = folder or _monitoring("request_log", None)
    return Path(str(folder)) if folder else None


def _default_model_name() -> str:
    """The model name the pipeline registers under with the workspace's params.yaml."""
    from llmops.config import PARAMS_FILE, load_params
    from llmops.tracking.registry import model_name

    if not PARAMS_FILE.exists():
        raise UserError(
            f"no {PARAMS_FILE.resolve()}: run inside the workspace, or pass --model models:/<name>@champion"
        )
    params = load_params(["tracking.model_name", "data.task"])
    return model_name(params.tracking, params.data.task)


def _plots(args: argparse.Namespace) -> int:
    """`dvc plots show` (or `diff` of the given revisions / experiments) rendered into one HTML page
    that works offline: Vega, Vega-Lite and Vega-Embed are inlined from the pinned vl-convert
    package instead of DVC's default CDN script tags."""
    import subprocess

    import vl_convert

    if not Path("dvc.yaml").is_file():
        raise UserError(f"no dvc.yaml in {Path.cwd()}: run inside the workspace")
    template = Path(".dvc/tmp/llmops-plots-template.html")
    template.parent.mkdir(parents=True, exist_ok=True)
    bundle = vl_convert.javascript_bundle()
    template.write_text(
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>llmops plots</title>\n'
        f"<script>\n{bundle}\n</script>\n</head>\n<body>\n{{plot_divs}}\n</body>\n</html>\n"
    )
    dvc = str(Path(sys.executable).parent / "dvc")
    verb = ["diff", *args.revisions] if args.revisions else ["show"]
    cmd = [dvc, "plots", *verb, "--html-template", str(template), "-o", args.out]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"dvc plots {verb[0]} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1][:300]}")
    print(f"plots: {Path(args.out, 'index.html')} (offline; open it in a browser)")
    return 0


def _smoke(args: argparse.Namespace) -> int:
    """The ci pipeline as a temporary DVC experiment (`dvc exp run --temp`): it runs in a copy
    under .dvc/tmp/exps/, so no tracked file in the workspace changes, and its results stay in
    `dvc exp show` and the workspace's MLflow store. Ends with the experiment's headline metrics."""
    import re
    import subprocess

    if not Path("dvc.yaml").is_file():
        raise UserError(f"no dvc.yaml in {Path.cwd()}: run inside the workspace")
    dvc = str(Path(sys.executable).parent / "dvc")
    sets = [arg for override in ["experiment=ci", *args.overrides] for arg in ("-S", override)]
    proc = subprocess.Popen([dvc, "exp", "run", "--temp", *sets], stdout=subprocess.PIPE, text=True)
    name = None
    for line in proc.stdout:
        print(line, end="", flush=True)
        found = re.match(r"Ran experiment\(s\): (\S+)", line.strip())
        name = found.group(1) if found else name
    if proc.wait() != 0 or name is None:
        raise UserError(f"the smoke experiment failed (dvc exp run exited {proc.returncode}); see above")
    headline = json.loads(_exp_file(name, "metrics/headline.json"))
    print(f"smoke: experiment {name}: " + ", ".join(f"{k} {v}" for k, v in headline.items()))
    print(f"smoke: the workspace is unchanged; `dvc exp show`, `dvc exp diff HEAD {name}`, `make mlflow-ui`")
    return 0


def _exp_file(name: str, path: str) -> str:
    """A git-tracked file of the experiment's commit (refs/exps/.../<name>)."""
    import subprocess

    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], capture_output=True, text=True, check=True
    ).stdout.split()
    ref = next(r for r in refs if r.rsplit("/", 1)[-1] == name)
    return subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True, check=True).stdout


def _drift(args: argparse.Namespace) -> int:
    """Exit 0 when the batch looks like the training data, 3 on drift, 2 on a user error."""
    from llmops.errors import StageError
    from llmops.monitoring import check

    if bool(args.batch) == (args.requests is not None):
        raise UserError("give a BATCH file or --requests [DIR] (not both)")
    model, data = _model_dir(args.model, "fine-tuned classifier"), Path(args.data)
    if not (data / "train.parquet").is_file():
        raise UserError(f"no reference at {data.resolve()}/train.parquet (run `make repro` in the workspace first)")
    stored = model.parent / "drift_reference"  # the drift_reference stage's, beside the model
    settings = check.stored_settings(stored, n=args.n, seed=args.seed, min_labels=args.min_labels)
    try:
        batch, name, labeled = _drift_batch(args)
        verdict, sample, conf = check.check(
            batch, name, labeled=labeled, model_dir=model, data_dir=data, s=settings, stored=stored
        )
    except StageError as err:
        raise UserError(str(err)) from None
    out = Path(args.out) if args.out else Path("reports/drift") / name.split(".")[0]
    check.write(out, verdict=verdict, sample=sample, conf=conf, s=settings)
    print(check.summary_line(verdict, out))
    if not args.no_track:
        from llmops.tracking.drift_runs import track

        print(track(verdict, out))
    return 3 if verdict["status"] == "drift" else 0


def _drift_batch(args: argparse.Namespace):
    """(the batch, its name, whether it has labels) from a file or from the request log."""
    from llmops.monitoring import check, requests

    labels = check.model_labels(Path(args.model))
    if args.requests is not None:
        folder = _request_log(args.requests)
        if folder is None:
            raise UserError("--requests without DIR reads monitoring.request_log, which is not set in params.yaml")
        since = requests.parse_since(args.since)
        records = requests.read(folder, since)
        name = f"requests-{folder.resolve().name}-{args.since}"
        return check.from_requests(records, labels), name, False
    batch = Path(args.batch)
    table = check.read_batch(
        batch, text_column=args.text_column, label_column=args.label_column, labels=labels, encoding=args.encoding
    )
    return table, batch.name, bool(args.label_column)


def _serve_parser(sub) -> None:
    s = sub.add_parser("serve", help="serve a registered model over HTTP on 127.0.0.1 (MLflow's scoring app)")
    s.add_argument("--model", help="default: models:/<the workspace's model name>@champion")
    s.add_argument("--port", type=int, default=5001)
    s.add_argument(
        "--request-log",
        metavar="DIR",
        help="append each request (time, text, probabilities) to DIR (default: monitoring.request_log)",
    )
    s.add_argument(
        "--hash-text",
        action="store_true",
        help="log each text's sha256 instead of the text (monitoring.log_text=false)",
    )
    s.set_defaults(func=_serve)


def _drift_parser(sub) -> None:
    d = sub.add_parser("drift", help="is a batch still like the training data? verdict.json + report.html")
    d.add_argument("batch", nargs="?", help="a CSV/TSV/JSONL/Parquet file of texts (labels optional)")
    d.add_argument(
        "--requests",
        metavar="DIR",
        nargs="?",
        const="",
        help="instead of a file: the request log of llmops serve (no DIR: monitoring.request_log)",
    )
    d.add_argument("--since", default="7d", help="with --requests: the window, like 24h, 7d or 2w (default 7d)")
    d.add_argument("--text-column", default="text")
    d.add_argument("--label-column", help="the batch's labels, when it has them")
    d.add_argument(
        "--encoding",
        default="auto",
        help="the file's text encoding, as in data.labeled.encoding (latin-1: also repairs UTF-8 read as latin-1)",
    )
    d.add_argument("--out", help="default: reports/drift/<batch name>")
    d.add_argument("--n", type=int, help="rows compared, a seeded sample of the batch (default: monitoring.n)")
    d.add_argument("--seed", type=int, help="default: monitoring.seed")
    d.add_argument("--min-labels", type=int, help="labels needed to retrain on a drifted batch (monitoring.min_labels)")
    d.add_argument("--model", default="models/classifier")
    d.add_argument("--data", default="data/processed", help="the reference: train and val splits")
    d.add_argument("--no-track", action="store_true", help="do not log the verdict to MLflow")
    d.set_defaults(func=_drift)


def _retrain(args: argparse.Namespace) -> int:
    from llmops.retrain import main as retrain_main

    return retrain_main(args)


def main(argv: list[str] | None = None) -> int:
    from llmops import __version__

    parser = argparse.ArgumentParser(prog="llmops", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--version", action="version", version=f"llmops {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="label texts with the fine-tuned classifier")
    p.add_argument("texts", nargs="*")
    p.add_argument("--file", help="CSV/TSV/JSONL/Parquet file of texts")
    p.add_argument("--text-column", default="text")
    p.add_argument("--model", default="models/classifier", help="a model directory, or models:/NAME@ALIAS")
    p.set_defaults(func=_predict)
    g = sub.add_parser("generate", help="sample a continuation from the pre-trained LM")
    g.add_argument("prompt")
    g.add_argument("--model", default="models/pretrained")
    g.add_argument("--max-new-tokens", type=int, default=40)
    g.add_argument("--temperature", type=float, default=0.9)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=_generate)
    r = sub.add_parser("retrain", help="pull, rerun the pipeline if anything changed, push, gate the model")
    r.add_argument("overrides", nargs="*", help="Hydra overrides (default: those recorded in params.yaml)")
    r.add_argument("--remote", help="DVC remote URL (default: $LLMOPS_DVC_REMOTE, else .dvc/config's)")
    r.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="exit 2 when the new model's test macro-F1 is below the champion's by more than this",
    )
    r.add_argument("--base", default="HEAD", help="git revision for `dvc metrics diff`")
    r.add_argument("--if-drift", metavar="BATCH", help="retrain on this labeled batch only if llmops drift says so")
    r.add_argument("--min-labels", type=int, help="with --if-drift: labels needed to retrain (monitoring.min_labels)")
    r.set_defaults(func=_retrain)
    sm = sub.add_parser("smoke", help="the ci pipeline as a temporary DVC experiment: no tracked file changes")
    sm.add_argument("overrides", nargs="*", help="more overrides on top of experiment=ci (as -S key=value)")
    sm.set_defaults(func=_smoke)
    _serve_parser(sub)
    pl = sub.add_parser("plots", help="render the DVC plots (training curves, confusion) to offline HTML")
    pl.add_argument("revisions", nargs="*", help="git revisions or experiment names to overlay (dvc plots diff)")
    pl.add_argument("-o", "--out", default="reports/plots")
    pl.set_defaults(func=_plots)
    _drift_parser(sub)
    args = parser.parse_args(argv)
    from llmops.console import quiet_third_party

    quiet_third_party()
    try:
        return args.func(args)
    except UserError as err:
        print(f"llmops {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
