"""A drift verdict in MLflow: one run per check in the `<experiment>-drift` experiment (the
statistics as metrics beside their thresholds, the verdict and report as artifacts), and the
latest status as tags on the registered version whose weights were checked, so the registry
page of the champion says whether this week's data still looks like its training data."""

from __future__ import annotations

from pathlib import Path

from llmops.tracking import registry

STATUS_TAG = "llmops.drift_status"  # ok / warn / drift / insufficient, with the kind and action
RUN_TAG = "llmops.drift_run_id"
BATCH_TAG = "llmops.drift_batch"


def log_drift(uri: str, verdict: dict, out: Path, experiment: str, model_name: str | None) -> str:
    """Log the run and tag the version; returns one line saying where both went."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from llmops.tracking.runs import EXPERIMENT_KIND
    from llmops.tracking.store import ready_experiment

    found = ready_experiment(uri, f"{experiment}-drift", tags=EXPERIMENT_KIND)
    mlflow.set_tracking_uri(uri)
    status = f"{verdict['status']} (kind {verdict['kind']}, action {verdict['action']})"
    with mlflow.start_run(experiment_id=found.experiment_id, run_name=f"drift {verdict['batch']}") as run:
        mlflow.set_tags(
            {"llmops.stage": "drift", STATUS_TAG: status, registry.WEIGHTS_TAG: verdict["model_weights_sha256"]}
        )
        mlflow.log_params({k: verdict[k] for k in ("batch", "rows", "n", "labeled", "texts", "seed")})
        for name, stat in verdict["statistics"].items():
            mlflow.log_metrics({name: stat["value"], f"{name}_threshold": stat["threshold"]})
        mlflow.log_artifacts(str(out), artifact_path="drift")
    where = f"drift: MLflow run {run.info.run_id} in experiment {experiment}-drift"
    if model_name is None:
        return where
    client = MlflowClient(uri)
    version = registry.same_weights(client, model_name, verdict["model_weights_sha256"])
    if version is None:
        return f"{where}; no version of {model_name} has the checked weights, so none is tagged"
    for key, value in ((STATUS_TAG, status), (RUN_TAG, run.info.run_id), (BATCH_TAG, verdict["batch"])):
        client.set_model_version_tag(model_name, version, key=key, value=value)
    champion = registry.current(client, model_name, "champion")
    role = " (the champion)" if champion is not None and str(champion.version) == version else ""
    return f"{where}; tagged {model_name} v{version}{role} {STATUS_TAG}={verdict['status']}"


def track(verdict: dict, out: Path) -> str:
    """log_drift into the workspace's store (MLFLOW_TRACKING_URI, else mlflow.db), under its
    params.yaml's experiment and registered model; skipped, saying so, where no store exists yet."""
    from llmops.config import PARAMS_FILE, load_params
    from llmops.tracking.store import default_uri

    uri = default_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return f"drift: not logged to MLflow (no store at {uri})"
    experiment, name = "llmops", None
    if PARAMS_FILE.exists():
        params = load_params(["tracking.experiment", "tracking.model_name", "data.task"])
        experiment, name = params.tracking.experiment, registry.model_name(params.tracking, params.data.task)
    return log_drift(uri, verdict, out, experiment=experiment, model_name=name)
