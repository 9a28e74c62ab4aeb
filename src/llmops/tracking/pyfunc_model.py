"""The classifier's pyfunc model as code (MLflow "models from code"): this file is logged with the
model and run when it is loaded, so loading never unpickles an object from the artifact store.
The weights travel as safetensors in the `model_dir` artifact."""

import mlflow

from llmops.tracking.pyfunc import TextClassifierModel

mlflow.models.set_model(TextClassifierModel())
