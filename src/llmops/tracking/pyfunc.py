"""The classifier as an MLflow pyfunc model: a column of texts in, the label and the class
probabilities out. Built on our own loader, not mlflow.transformers (which breaks with our
transformers version); the llmops package travels with the model as code, and the model itself is
logged from code (pyfunc_model.py), not as a pickle."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import mlflow
import pandas as pd

import llmops

# Exact pins, so MLflow never spends seconds guessing them and a served model gets our stack.
REQUIREMENTS = ["torch", "transformers", "tokenizers", "safetensors", "ftfy", "pandas", "numpy", "pyarrow", "mlflow"]


class TextClassifierModel(mlflow.pyfunc.PythonModel):
    # MLflow inspects predict's type hints when the class is defined (and warns, inside its own
    # "once" filter, that there are none); the explicit signature below does what they would.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        from llmops.evaluation.predict import TextClassifier

        self.clf = TextClassifier(context.artifacts["model_dir"])

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        if isinstance(model_input, pd.DataFrame):
            texts = model_input["text"] if "text" in model_input else model_input.iloc[:, 0]
        else:
            texts = pd.Series(list(model_input))
        probs = self.clf.predict_proba([str(t) for t in texts])
        out = pd.DataFrame(probs, columns=[f"prob_{lab}" for lab in self.clf.labels])
        out.insert(0, "label", [self.clf.labels[i] for i in probs.argmax(-1)] if len(probs) else [])
        return out


def pip_requirements() -> list[str]:
    # local version labels ("+cpu") never go into a requirements file
    return [f"{name}=={importlib.metadata.version(name).split('+')[0]}" for name in REQUIREMENTS]


def signature(labels: list[str]):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec("string", "text")])
    outputs = Schema([ColSpec("string", "label"), *[ColSpec("double", f"prob_{lab}") for lab in labels]])
    return ModelSignature(inputs=inputs, outputs=outputs)


def log_classifier(model_dir: Path, labels: list[str], registered_name: str | None, card: Path | None = None):
    """Log (and register) the classifier in the active run, with its model card when given;
    returns MLflow's ModelInfo."""
    return mlflow.pyfunc.log_model(
        name="classifier",
        python_model=str(Path(__file__).with_name("pyfunc_model.py")),
        artifacts={"model_dir": str(model_dir), **({"model_card": str(card)} if card else {})},
        code_paths=[str(Path(llmops.__file__).parent)],
        pip_requirements=pip_requirements(),
        signature=signature(labels),
        registered_model_name=registered_name,
    )
