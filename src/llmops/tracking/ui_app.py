"""The MLflow server app with one extra page, `/llmops`, that opens the MLflow UI as a training
dashboard: the `llmops` experiment's runs table in the "Model training" view.

MLflow 3's UI picks its GenAI or Model-training view per browser (localStorage
`mlflow.workflowType_v1`, or `?workflowType=` in the URL) and starts on GenAI; no server setting
changes that. This page sets the browser's default once (a choice the user made later is kept) and
redirects to the experiment. Served by `python -m llmops.tracking.server` (`make mlflow-ui`,
`make mlflow-server`) through MLflow's own `--app-name` plugin hook (entry point `mlflow.app`).
"""

from __future__ import annotations

import json
import os

from fastapi.responses import HTMLResponse
from mlflow.server.fastapi_app import app
from starlette.routing import Route

EXPERIMENT = os.environ.get("LLMOPS_EXPERIMENT", "llmops")
WORKFLOW_KEY = "mlflow.workflowType_v1"


def landing_html(experiment_id: str | None) -> str:
    sort = "orderByKey=metrics.%60f1_macro%60&orderByAsc=false"  # best test macro-F1 first
    target = f"#/experiments/{experiment_id}/runs?{sort}&" if experiment_id else "#/experiments?"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>llmops runs</title></head><body>
<p>Opening the {EXPERIMENT} runs in MLflow's Model training view...</p>
<script>
if (localStorage.getItem({json.dumps(WORKFLOW_KEY)}) === null) {{
  localStorage.setItem({json.dumps(WORKFLOW_KEY)}, JSON.stringify("machine_learning"));
}}
location.replace("/{target}workflowType=machine_learning");
</script></body></html>
"""


async def landing(request) -> HTMLResponse:
    from mlflow.server.handlers import _get_tracking_store

    experiment = _get_tracking_store().get_experiment_by_name(EXPERIMENT)
    return HTMLResponse(landing_html(experiment.experiment_id if experiment else None))


# before MLflow's catch-all mount of its Flask app at "/"
app.router.routes.insert(0, Route("/llmops", landing, methods=["GET"]))
