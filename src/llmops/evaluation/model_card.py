"""The model card: what the classifier was trained on, how good it is and with what uncertainty,
where it is weak, and where it came from. A Hugging Face model card (huggingface_hub's ModelCard
and ModelCardData, eval results in its model-index), with the HF template's sections that a
pipeline can fill from its own files. Everything is rendered from `facts`, a JSON-able dict that
`evaluate` builds from metrics, data statistics and params: every number traces to an input file.
Offline: nothing here calls the Hub (ModelCard.validate would post to it)."""

from __future__ import annotations

from typing import Any

import numpy as np

SUMMARY_CHARS = 4000  # what a registered version's description holds

# The HF template's section names and order, without the ones a pipeline cannot fill (funding,
# citation, carbon, contacts): those would only read "[More Information Needed]".
TEMPLATE = """---
{{ card_data }}
---

# Model Card for {{ model_name }}

{{ model_summary }}

## Model Details

### Model Description

{{ model_description }}

- **Model type:** {{ model_type }}
- **Language(s) (NLP):** {{ language }}
- **Finetuned from model:** {{ base_model }}

## Uses

### Direct Use

{{ direct_use }}

### Out-of-Scope Use

{{ out_of_scope_use }}

## Bias, Risks, and Limitations

{{ bias_risks_limitations }}

## How to Get Started with the Model

{{ get_started_code }}

## Training Details

### Training Data

{{ training_data }}

### Training Procedure

#### Preprocessing

{{ preprocessing }}

#### Training Hyperparameters

- **Training regime:** {{ training_regime }}

{{ hyperparameters }}

## Evaluation

### Testing Data, Factors & Metrics

#### Testing Data

{{ testing_data }}

#### Metrics

{{ testing_metrics }}

### Results

{{ results }}

#### Summary

{{ results_summary }}

## More Information

### Drift thresholds

{{ drift }}

### Lineage

{{ lineage }}
"""


def bootstrap_intervals(
    y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], seed: int, rounds: int = 1000
) -> dict[str, Any]:
    """95% intervals (2.5th and 97.5th percentiles over test sets resampled with replacement) of
    accuracy, macro-F1 and each class's precision, recall and F1. One confusion matrix per round
    from a bincount: scikit-learn's scorer per round would be ~60x slower (evaluation.metrics)."""
    n = len(labels)
    rng = np.random.default_rng(seed)
    acc, macro = np.empty(rounds), np.empty(rounds)
    per = np.empty((rounds, 3, n))  # precision, recall, f1
    for i in range(rounds):
        rows = rng.integers(0, len(y_true), len(y_true))
        cm = np.bincount(y_true[rows] * n + y_pred[rows], minlength=n * n).reshape(n, n)
        tp, predicted, actual = np.diag(cm).astype(float), cm.sum(0), cm.sum(1)
        p = np.divide(tp, predicted, out=np.zeros(n), where=predicted > 0)
        r = np.divide(tp, actual, out=np.zeros(n), where=actual > 0)
        f = np.divide(2 * tp, predicted + actual, out=np.zeros(n), where=(predicted + actual) > 0)
        acc[i], macro[i], per[i] = tp.sum() / len(rows), f.mean(), (p, r, f)

    def ci(x: np.ndarray) -> list[float]:
        return [float(v) for v in np.percentile(x, [2.5, 97.5])]

    return {
        "accuracy": ci(acc),
        "f1_macro": ci(macro),
        "per_class": {
            lab: {"precision": ci(per[:, 0, j]), "recall": ci(per[:, 1, j]), "f1": ci(per[:, 2, j])}
            for j, lab in enumerate(labels)
        },
        "rounds": rounds,
    }


def _f(x: float) -> str:
    return f"{x:.4f}"


def _ci(pair: list[float]) -> str:
    return f"[{pair[0]:+.4f}, {pair[1]:+.4f}]" if min(pair) < 0 else f"[{pair[0]:.4f}, {pair[1]:.4f}]"


def _code(text: Any) -> str:
    """User text (a label, a file name) as a Markdown code span, so nothing in it renders as HTML
    or Markdown: a backtick inside gets a longer fence. `_table` escapes `|` in cells."""
    text = str(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; `|` in a cell is escaped, since GFM splits cells on it even inside code."""

    def cells(row: list[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"

    return "\n".join([cells(header), "|" + "---|" * len(header), *(cells(row) for row in rows)])


def _margin(name: str, value: float, interval: list[float]) -> str:
    low, high = interval
    if low <= 0 <= high:
        return f"not measurably better than {name}: macro-F1 margin {value:+.4f}, 95% interval {_ci(interval)} holds 0"
    word = "better" if low > 0 else "worse"
    return f"{word} than {name}: macro-F1 margin {value:+.4f}, 95% interval {_ci(interval)}"


def _origin(init: str, checkpoint: str | None) -> str:
    if init == "hf":
        return f"The local Hugging Face checkpoint `{checkpoint}`"
    if init == "scratch":
        return "A small GPT-style (Llama-architecture) transformer from random initialisation (no pre-training)"
    return "A small GPT-style (Llama-architecture) language model pre-trained by this pipeline on unlabeled text"


def _base_model(init: str, checkpoint: str | None) -> str:
    return {
        "hf": f"`{checkpoint}`",
        "scratch": "none (random initialisation)",
    }.get(init, "this pipeline's pre-trained LM (`models/pretrained`)")


# The development suite (docs/experiments.md): the gain at 100 labels followed the task's own text
# the LM read. Sets with 400 k tokens of it or more gained about +0.10; those with 280 k or less
# (each text read 6 to 21 times) gained +0.02 or less; unlabeled text of the domain brought it back.
SUITE_IN_DOMAIN_TOKENS = 400_000


def pretraining_advice(curve: dict | None, pretraining: dict | None) -> str | None:
    """What to do when the learning curve shows no measurable pre-training gain at its fewest
    labels (the interval holds 0 or lies below it); None when the gain is measurable or unmeasured."""
    curve = curve or {}
    fewest = (curve.get("budgets") or [None])[0]
    key = f"pretrain_gain_f1@{fewest}"
    if fewest is None or f"{key}_ci95" not in curve:
        return None
    low, high = curve[f"{key}_ci95"]
    if low > 0:
        return None
    verdict = "below" if high < 0 else "not measurably better than"
    said = (
        f"At {fewest} labels the pre-trained init is {verdict} random init on this data: "
        f"gain {curve[key]:+.3f}, 95% interval [{low:+.3f}, {high:+.3f}]."
    )
    tokens = (pretraining or {}).get("in_domain_tokens")
    if not tokens:
        return said
    epochs = (pretraining or {}).get("in_domain_epochs")
    read = f", each read {epochs:.1f} times" if epochs else ""
    more = (
        f" That is under the {SUITE_IN_DOMAIN_TOKENS // 1000:,} k tokens with which the development suite's "
        "sets gained."
        if tokens < SUITE_IN_DOMAIN_TOKENS
        else ""
    )
    return (
        f"{said} The language model read {tokens:,} tokens of the task's own text{read}.{more} On the suite, "
        "unlabeled text of the task's domain added with `data.corpus.paths` brought the gain back "
        "(docs/experiments.md)."
    )


def limitations(facts: dict) -> list[str]:
    """Where the model is weak, generated from the numbers (never from a fixed text)."""
    m, iv, labels = facts["metrics"], facts["intervals"], facts["labels"]
    out = []
    weakest = min(labels, key=lambda lab: m["per_class"][lab]["f1"])
    w = m["per_class"][weakest]
    out.append(
        f"The weakest class is {_code(weakest)}: F1 {_f(w['f1'])} "
        f"(95% interval {_ci(iv['per_class'][weakest]['f1'])}), "
        f"recall {_f(w['recall'])}: {1 - w['recall']:.0%} of its test texts get another label."
    )
    out.append(
        "Against a TF-IDF + logistic regression baseline on the same split, the model is "
        + _margin("TF-IDF", m["tfidf_margin_f1"], m["tfidf_margin_f1_ci95"])
        + "."
    )
    if "pretrain_gain_f1" in m:
        out.append(
            "Against the same architecture trained from random initialisation, it is "
            + _margin("no pre-training", m["pretrain_gain_f1"], m["pretrain_gain_f1_ci95"])
            + "."
        )
    advice = pretraining_advice(facts.get("learning_curve"), facts.get("pretraining"))
    if advice:
        out.append(advice)
    counts = facts["data"]["class_balance"]
    rare = min(counts, key=counts.get)
    out.append(
        f"The rarest class in training, {_code(rare)}, is {counts[rare] / sum(counts.values()):.1%} of the train split."
    )
    out.append(reading_note(facts["reading"]))
    out.append(
        f"The pipeline does not detect language; {facts['non_ascii_share']:.1%} of training texts hold a "
        "letter outside ASCII. Texts unlike the training data (another language, domain or time) are "
        "untested: check them for drift before trusting a score."
    )
    out.append(
        f"The test split holds {m['n_test']:,} texts; the intervals above are its sampling noise only, "
        "not the spread over training seeds."
    )
    return out


def _card_data(facts: dict):
    from huggingface_hub import EvalResult, ModelCardData

    m, dataset = facts["metrics"], facts["task"]
    results = [
        EvalResult(
            task_type="text-classification",
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split="test",
            metric_type=metric,
            metric_name=name,
            metric_value=round(float(m[key]), 4),
        )
        for metric, name, key in (("accuracy", "accuracy", "accuracy"), ("f1", "macro-F1", "f1_macro"))
    ]
    return ModelCardData(
        model_name=facts["model_name"],
        pipeline_tag="text-classification",
        library_name="transformers",
        tags=["text-classification", "llmops"],
        eval_results=results,
    )


def render(facts: dict) -> str:
    """The whole card (YAML front matter with the model-index, then markdown)."""
    from huggingface_hub import ModelCard

    return str(ModelCard.from_template(_card_data(facts), template_str=TEMPLATE, **_sections(facts)))


def _sections(facts: dict) -> dict[str, str]:
    """The template's fields, each from the facts."""
    m, iv, labels, p, data = facts["metrics"], facts["intervals"], facts["labels"], facts["params"], facts["data"]
    name, lineage = facts["model_name"], facts["lineage"]
    sources = "; ".join(
        f"{_code(s['file'])} ({s['role']}, {s['rows']:,} rows in the file"
        + (f", sha256 `{s['sha256'][:16]}…`" if "sha256" in s else "")
        + ")"
        for s in data["sources"]
    )
    sizes = data["split_sizes"]
    hp = p["hyperparameters"]
    groups: dict[str, list[str]] = {}
    for key, value in hp.items():
        group, _, field = key.partition(".")
        groups.setdefault(group, []).append(f"{field}={value}")
    hyper = "\n".join(f"- **{group}:** {', '.join(fields)}" for group, fields in groups.items())
    return dict(
        model_name=name,
        model_summary=f"A {len(labels)}-class text classifier ({', '.join(map(_code, labels))}) "
        f"for {_code(facts['task'])}: "
        f"test macro-F1 {_f(m['f1_macro'])} (95% interval {_ci(iv['f1_macro'])}), accuracy {_f(m['accuracy'])}.",
        model_description=f"{_origin(m['init'], hp.get('finetune.checkpoint'))}, fine-tuned for sequence "
        "classification on the labeled train split, best step by validation macro-F1.",
        model_type=f"decoder-only transformer, {hp.get('model.n_layers')} layers, "
        f"d_model {hp.get('model.d_model')}, {hp.get('model.context_length')}-token context, "
        "sequence classification head",
        language="not detected by the pipeline (see Limitations)",
        base_model=_base_model(m["init"], hp.get("finetune.checkpoint")),
        direct_use=f"Labeling texts like the training data ({data['sources'][0]['file']}) as one of "
        f"{', '.join(map(_code, labels))}, one text at a time or in batches.",
        out_of_scope_use="Texts from another source, language or period than the training data without a drift "
        "check; labels outside the set above; decisions about people without human review.",
        bias_risks_limitations="\n".join(f"- {line}" for line in limitations(facts)),
        get_started_code="```python\nimport mlflow, pandas as pd\n"
        f'model = mlflow.pyfunc.load_model("models:/{name}@champion")\n'
        'print(model.predict(pd.DataFrame({"text": ["what a great ride"]})))\n```\n\n'
        f'or `llmops predict "what a great ride" --model models:/{name}@champion`.',
        training_data=f"Sources: {sources}. Processed data fingerprint (sha256) `{data['fingerprint']}`. "
        f"Splits: train {sizes['train']:,}, validation {sizes['val']:,}, test {sizes['test']:,} rows. "
        "Class balance in train: " + ", ".join(f"{_code(k)} {v:,}" for k, v in data["class_balance"].items()) + ".",
        preprocessing="Rows dropped before the split, and why: "
        + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in data["dropped"].items())
        + ". Texts are repaired (mojibake, HTML entities) and normalised the same way at prediction time.",
        training_regime=f"{p.get('precision', 'fp32')}, seed {p['seed']}",
        hyperparameters=hyper,
        testing_data=f"The held-out test split: {sizes['test']:,} rows, never used for training, tuning or "
        "model selection.",
        testing_metrics="Accuracy and macro-F1 (each class counts the same, whatever its share); per-class "
        f"precision, recall and F1. 95% intervals from {iv['rounds']:,} bootstrap resamples of the test split.",
        results=_results(facts),
        results_summary=limitations(facts)[1],
        drift=_drift(facts.get("drift")),
        lineage="\n".join(
            f"- **{k}:** {v}" for k, v in {**lineage, "registry": _decision(name, facts.get("registry"))}.items()
        ),
    )


def _drift(reference: dict | None) -> str:
    """The thresholds `llmops drift` holds a batch to (models/drift_reference/reference.json)."""
    if reference is None:
        return "No drift reference was built for this model (the drift_reference stage did not run)."
    t, floors, s = reference["thresholds"], reference["floors"], reference["settings"]
    shown = lambda kind, k: "n/a" if kind == "unlabeled" and k == "label_js" else _f(t[kind][k])  # noqa: E731
    rows = [[f"`{k}`", shown("labeled", k), shown("unlabeled", k), _f(floors[k])] for k in sorted(floors)]
    return (
        f"`llmops drift BATCH` compares a seeded sample of {s['n']:,} rows of a batch (seed {s['seed']}) with "
        f"{reference['rows']['reference']:,} train and {reference['rows']['validation']:,} validation rows. Each "
        "threshold is max(floor, the 99th percentile of the statistic between reference and validation samples "
        "of that size), so a batch like the training data stays under it (docs/tracking.md).\n\n"
        + _table(["statistic", "threshold (labeled batch)", "threshold (unlabeled)", "floor"], rows)
        + f"\n\nA drifted batch with at least {s['min_labels']:,} labels is enough to retrain on; with fewer, "
        f"{s['label_sample']:,} rows are sampled to label. Fewer than {s['min_n']:,} rows: insufficient."
    )


def _results(facts: dict) -> str:
    """The Results section: headline metrics, per class, baselines, confusion matrix, learning curve."""
    m, iv, labels = facts["metrics"], facts["intervals"], facts["labels"]
    per_class = [
        [
            _code(lab),
            *(f"{_f(m['per_class'][lab][k])} {_ci(iv['per_class'][lab][k])}" for k in ("precision", "recall", "f1")),
            m["per_class"][lab]["support"],
        ]
        for lab in labels
    ]
    baselines = [
        ["this model", _f(m["accuracy"]), _f(m["f1_macro"]), "", ""],
        ["majority class", _f(m["baseline_majority_accuracy"]), _f(m["baseline_majority_f1_macro"]), "", ""],
        [
            "TF-IDF + logistic regression",
            _f(m["baseline_tfidf_accuracy"]),
            _f(m["baseline_tfidf_f1_macro"]),
            f"{m['tfidf_margin_f1']:+.4f}",
            _ci(m["tfidf_margin_f1_ci95"]),
        ],
    ]
    if "scratch_f1_macro" in m:
        baselines.append(
            [
                "same model, no pre-training",
                _f(m["scratch_accuracy"]),
                _f(m["scratch_f1_macro"]),
                f"{m['pretrain_gain_f1']:+.4f}",
                _ci(m["pretrain_gain_f1_ci95"]),
            ]
        )
    results = [
        _table(
            ["metric", "value", "95% interval"],
            [
                ["accuracy", _f(m["accuracy"]), _ci(iv["accuracy"])],
                ["macro-F1", _f(m["f1_macro"]), _ci(iv["f1_macro"])],
                ["macro precision", _f(m["precision_macro"]), ""],
                ["macro recall", _f(m["recall_macro"]), ""],
            ],
        ),
        "Per class (value and 95% interval):\n\n"
        + _table(["class", "precision", "recall", "F1", "support"], per_class),
        "Baselines on the same test split (margin: this model's macro-F1 minus the baseline's, with "
        "its paired-bootstrap 95% interval):\n\n"
        + _table(["model", "accuracy", "macro-F1", "margin", "95% interval"], baselines),
        "Confusion matrix (rows: actual, columns: predicted):\n\n"
        + _table(
            ["actual \\ predicted", *map(_code, labels)],
            [[_code(lab), *row] for lab, row in zip(labels, facts["confusion"], strict=True)],
        ),
    ]
    results.extend(_learning_curve(facts.get("learning_curve") or {}))
    return "\n\n".join(results)


def _learning_curve(curve: dict) -> list[str]:
    if not curve.get("budgets"):
        return []
    rows = [
        [
            b,
            _f(curve[f"f1_macro@{b}"]),
            _f(curve[f"scratch_f1_macro@{b}"]),
            f"{curve[f'pretrain_gain_f1@{b}']:+.4f}",
            _ci(curve[f"pretrain_gain_f1@{b}_ci95"]) if f"pretrain_gain_f1@{b}_ci95" in curve else "",
        ]
        for b in curve["budgets"]
        if f"f1_macro@{b}" in curve and f"scratch_f1_macro@{b}" in curve
    ]
    return [
        "Learning curve (test macro-F1 by labeled training examples, mean over seeds):\n\n"
        + _table(["labels", "pre-trained", "no pre-training", "gain", "95% interval"], rows)
    ]


def _decision(name: str, registry: dict | None) -> str:
    if registry is None:  # the copy logged with the model, before the gate
        return "decided after this copy was logged: the version's gate_decision tag and the run's model_card.md"
    if registry.get("registered"):
        return f"{name} v{registry['version']}, {registry['decision']} ({registry['reason']})"
    return f"not registered ({registry['reason']})"


def summary(facts: dict) -> str:
    """The card's essentials for the registry's version description: at most SUMMARY_CHARS."""
    m, iv = facts["metrics"], facts["intervals"]
    text = "\n".join(
        [
            f"{facts['model_name']}: test macro-F1 {_f(m['f1_macro'])} {_ci(iv['f1_macro'])}, "
            f"accuracy {_f(m['accuracy'])} {_ci(iv['accuracy'])} on {m['n_test']:,} texts.",
            "",
            *(f"- {line}" for line in limitations(facts)),
            "",
            "Lineage: " + ", ".join(f"{k} {v}" for k, v in facts["lineage"].items()),
            "The full card: model_card.md in the model's artifacts.",
        ]
    )
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def reading_note(r: dict) -> str:
    """How much of each text the model reads: its max_length and how it was chosen, the cut share."""
    room = r["max_length"] - 1  # the EOS or the template's special tokens take the rest
    cut = f"first {room}" if r["truncation"] == "head" else f"first {room // 4} and last {room - room // 4}"
    return (
        f"The model reads up to {r['max_length']} tokens of a text (`finetune.max_length`, {r['rule']}); the "
        f"median test text has {r['median_tokens']:.0f}. {r['cut_share']:.1%} of test texts are longer: the model "
        f"reads their {cut} tokens (`finetune.truncation={r['truncation']}`). On average it reads "
        f"{r['read_share']:.1%} of a test text's tokens."
    )
