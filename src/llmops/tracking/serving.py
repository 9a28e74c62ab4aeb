"""`llmops serve`: MLflow's own scoring app (`mlflow.pyfunc.scoring_server`, the one `mlflow models
serve` starts) for a registered model, under uvicorn in this process, with an optional request log.

The log wraps the loaded model, not the HTTP layer: it sees the texts after MLflow has parsed
whichever request format came in (dataframe_split, records, instances, CSV) and the probabilities
the model returned, and it works for every registered version, old ones too, because no logging
code travels inside the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


class LoggedModel:
    """A pyfunc model that writes each prediction to a RequestLog; MLflow's scoring server calls
    `predict(data, params=...)` and reads `metadata`, which is all it needs."""

    def __init__(self, model: Any, log: Any) -> None:
        self.model, self.log, self.metadata = model, log, model.metadata

    def predict(self, data: Any, params: dict | None = None) -> Any:
        out = self.model.predict(data, params=params)
        if isinstance(data, pd.DataFrame):
            texts = data["text"] if "text" in data else data.iloc[:, 0]
        else:
            texts = pd.Series(list(data))
        probs = out[[c for c in out.columns if c.startswith("prob_")]].rename(columns=lambda c: c.removeprefix("prob_"))
        self.log.write([str(t) for t in texts], probs.to_dict("records"))
        return out


def resolve(uri: str, model: str) -> str:
    """`name/version` for a models:/NAME@ALIAS or models:/NAME/VERSION URI (what the log records
    as the model), else the URI itself."""
    from mlflow.tracking import MlflowClient

    if not model.startswith("models:/"):
        return model
    name, _, ref = model.removeprefix("models:/").partition("@")
    if ref:
        return f"{name}/{MlflowClient(uri).get_model_version_by_alias(name, ref).version}"
    return model.removeprefix("models:/")


def app(uri: str, model: str, request_log: Path | None, log_text: bool) -> tuple[Any, str]:
    """(the FastAPI app, the served model as name/version)."""
    import mlflow
    from mlflow.pyfunc import scoring_server

    from llmops.monitoring.requests import RequestLog

    mlflow.set_tracking_uri(uri)
    served = resolve(uri, model)
    pyfunc = mlflow.pyfunc.load_model(model)
    if request_log is not None:
        pyfunc = LoggedModel(pyfunc, RequestLog(request_log, model=served, log_text=log_text))
    return scoring_server.init(pyfunc), served


def serve(uri: str, model: str, port: int, request_log: Path | None = None, log_text: bool = True) -> None:
    import uvicorn

    application, served = app(uri, model, request_log=request_log, log_text=log_text)
    logged = "" if request_log is None else f"; requests logged to {request_log}/" + ("" if log_text else " as sha256")
    print(f"serving {served} on http://127.0.0.1:{port}/invocations (tracking URI {uri}{logged})", flush=True)
    uvicorn.run(application, host="127.0.0.1", port=port, workers=1, log_level="warning")
