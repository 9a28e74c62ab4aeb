"""The champion gate: a new model version takes the `champion` alias only when its test macro-F1
beats the current champion's by a margin; otherwise it becomes the `challenger`."""

from __future__ import annotations

from typing import Any

SCORE_TAG = "test_f1_macro"


def current_champion(client, name: str) -> tuple[Any, float] | tuple[None, None]:
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None, None
    return mv, float(mv.tags.get(SCORE_TAG, "nan"))


def gate(client, name: str, version: str | int, score: float, margin: float) -> dict[str, Any]:
    """Tag the version with its score, move an alias, and say what was decided and why."""
    version = str(version)
    client.set_model_version_tag(name, version, SCORE_TAG, f"{score:.6f}")
    champion, champion_score = current_champion(client, name)
    if champion is None or not champion_score == champion_score:  # none yet, or a champion without a score
        promoted, reason = True, "no champion yet"
    else:
        promoted = score > champion_score + margin
        reason = (
            f"{score:.4f} {'>' if promoted else '<='} champion v{champion.version} "
            f"{champion_score:.4f} + margin {margin}"
        )
    client.set_registered_model_alias(name, "champion" if promoted else "challenger", version)
    decision = {
        "model": name,
        "version": int(version),
        "score": score,
        "champion_version_before": int(champion.version) if champion else None,
        "champion_score_before": champion_score,
        "margin": margin,
        "decision": "champion" if promoted else "challenger",
        "reason": reason,
    }
    client.set_model_version_tag(name, version, "gate_decision", decision["decision"])
    return decision
