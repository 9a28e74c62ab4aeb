"""Command line: use the pipeline's models.

llmops predict "some text" ["more text" ...] [--model models/classifier] [--file texts.csv]
llmops generate "prompt" [--model models/pretrained] [--max-new-tokens 40]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _predict(args: argparse.Namespace) -> int:
    from llmops.evaluation.predict import TextClassifier

    texts = list(args.texts)
    if args.file:
        import pandas as pd

        from llmops.data.sources import iter_table

        texts += pd.concat(iter_table(Path(args.file)))[args.text_column].astype(str).tolist()
    if not texts:
        print("llmops predict: give texts as arguments or --file", file=sys.stderr)
        return 2
    if "://" in args.model or args.model.startswith("models:/"):  # a registry or run URI: the pyfunc model
        import mlflow
        import pandas as pd

        mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
        out = mlflow.pyfunc.load_model(args.model).predict(pd.DataFrame({"text": texts}))
        labels = [c.removeprefix("prob_") for c in out.columns if c.startswith("prob_")]
        rows = [[float(r[f"prob_{lab}"]) for lab in labels] for _, r in out.iterrows()]
    else:
        clf = TextClassifier(args.model)
        labels, rows = clf.labels, clf.predict_proba(texts).tolist()
    for text, probs in zip(texts, rows, strict=True):
        scores = {lab: round(float(p), 4) for lab, p in zip(labels, probs, strict=True)}
        print(json.dumps({"text": text, "label": max(scores, key=scores.get), "probabilities": scores}))
    return 0


def _generate(args: argparse.Namespace) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    from llmops.models.hf import load_tokenizer

    tok = load_tokenizer(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    torch.manual_seed(args.seed)
    ids = tok(args.prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = model.generate(
            ids,
            max_new_tokens=args.max_new_tokens,
            do_sample=True,
            top_k=40,
            temperature=args.temperature,
            pad_token_id=tok.pad_token_id,
        )
    print(tok.decode(out[0], skip_special_tokens=True))
    return 0


def _retrain(args: argparse.Namespace) -> int:
    from llmops.retrain import main as retrain_main

    return retrain_main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmops", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
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
    r.set_defaults(func=_retrain)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
