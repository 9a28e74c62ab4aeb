"""The champion gate, comparing like with like.

One registered model per task (`tracking.model_name`, default "<data.task>-classifier"), so a model
trained on your own CSV never competes with one trained on the tweets. Within a model, the
challenger and the champion are scored on the same test split, the challenger's: the champion is
re-scored on it before deciding. A champion with another label set is not compared at all: the new
version is refused promotion, with the reason. When an alias moves, the version that loses it has
its `gate_decision` tag corrected, so no tag claims an alias a version no longer holds.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

SCORE_TAG = "test_f1_macro"
DECISION_TAG = "gate_decision"
LABELS_TAG = "llmops.labels"
WEIGHTS_TAG = "llmops.weights_sha256"


def model_name(tracking: Any, task: str | None) -> str:
    """`tracking.model_name`, else "<task>-classifier" with the task made a registry-safe slug."""
    if tracking.get("model_name"):
        return str(tracking.model_name)
    stem = os.path.splitext(os.path.basename(str(task or "llmops")))[0]
    return re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower() + "-classifier"


def should_register(setting: Any) -> tuple[bool, str]:
    """tracking.register: true, false, or auto (everything but exploratory `dvc exp run`s)."""
    if str(setting).lower() in ("true", "1", "yes"):
        return True, "tracking.register=true"
    if str(setting).lower() in ("false", "0", "no", "none"):
        return False, "tracking.register=false"
    if os.environ.get("DVC_EXP_NAME"):
        return (
            False,
            f"an exploratory dvc exp run ({os.environ['DVC_EXP_NAME']}); set tracking.register=true to register it",
        )
    return True, "tracking.register=auto"


def below_floor(score: float, majority: float, margin: float) -> str | None:
    """Why a model may not be registered at all, or None: its test macro-F1 must beat the
    majority-class baseline's on the same split by `margin` (tracking.min_gain_over_majority). A
    model that predicts one class for everything is junk whatever the champion is."""
    if score >= majority + margin:
        return None
    return (
        f"test macro-F1 {score:.4f} does not beat the majority-class baseline {majority:.4f} by "
        f"tracking.min_gain_over_majority={margin:g}"
    )


def same_weights(client, name: str, weights_sha256: str) -> str | None:
    """The version of `name` already registered with these exact weights, if any: a forced rerun
    of evaluate on an unchanged model is not a new version."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:  # no such model yet
        return None
    found = [v for v in versions if v.tags.get(WEIGHTS_TAG) == weights_sha256]
    return str(min(int(v.version) for v in found)) if found else None


def current(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _move_alias(client, name: str, alias: str, version: str, displaced_note: str) -> None:
    before = current(client, name, alias)
    client.set_registered_model_alias(name, alias, version)
    if before is not None and str(before.version) != version:
        client.set_model_version_tag(name, before.version, key=DECISION_TAG, value=displaced_note)


def gate(
    client,
    name: str,
    version: str | int,
    score: float,
    margin: float,
    labels: list[str],
    rescore: Callable[[Any], float],
    lineage: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Tag the new version, decide champion / challenger / refused, move an alias and say why.
    `rescore(model_version)` scores the current champion on the challenger's test split."""
    version = str(version)
    tags = {SCORE_TAG: f"{score:.6f}", LABELS_TAG: json.dumps(labels), **(lineage or {})}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key=key, value=value)
    champion = current(client, name, "champion")
    champion_score = None
    if champion is None:
        decision, reason = "champion", "no champion yet"
    elif champion.tags.get(LABELS_TAG) != json.dumps(labels):
        decision = "refused"
        reason = (
            f"champion v{champion.version} has labels {champion.tags.get(LABELS_TAG)}, this model "
            f"{json.dumps(labels)}: nothing to compare; set tracking.model_name to register it under its own name"
        )
    else:
        champion_score = float(rescore(champion))
        promoted = score > champion_score + margin
        decision = "champion" if promoted else "challenger"
        reason = (
            f"{score:.4f} {'>' if promoted else '<='} champion v{champion.version} {champion_score:.4f} "
            f"(re-scored on this test split) + margin {margin}"
        )
    if decision == "champion":
        _move_alias(
            client, name, alias="champion", version=version, displaced_note=f"former champion (replaced by v{version})"
        )
    elif decision == "challenger":
        _move_alias(
            client,
            name,
            alias="challenger",
            version=version,
            displaced_note=f"former challenger (replaced by v{version})",
        )
    client.set_model_version_tag(name, version, key=DECISION_TAG, value=decision)
    return {
        "model": name,
        "version": int(version),
        "score": score,
        "champion_version_before": int(champion.version) if champion else None,
        "champion_score_before": champion_score,
        "margin": margin,
        "decision": decision,
        "reason": reason,
    }
