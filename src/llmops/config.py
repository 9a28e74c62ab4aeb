"""Compose conf/ into params.yaml, and load params.yaml safely in stages.

`dvc repro` does not recompose params.yaml when conf/ changes (only `dvc exp run` does), so a
stage could silently train on stale params. Every stage therefore loads params through
`load_params()`, which recomposes conf/ with the overrides recorded in params.yaml's header and
refuses to run when the two disagree, printing the command that fixes it.

    python -m llmops.config [override ...]   # write params.yaml (what `make params` runs)
    python -m llmops.config --check          # exit 1 if params.yaml is stale
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

PARAMS_FILE = Path("params.yaml")
CONF_DIR = Path("conf")
HEADER = "# Generated from conf/ by `python -m llmops.config`; do not edit. overrides: "


class StaleParamsError(RuntimeError):
    pass


def compose(overrides: list[str] | tuple[str, ...] = (), conf_dir: Path = CONF_DIR) -> dict[str, Any]:
    """Compose conf/ with Hydra, exactly as DVC's Hydra composition does, into a plain dict."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base=None):
        cfg = hydra_compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def write_params(overrides: list[str], path: Path = PARAMS_FILE, conf_dir: Path = CONF_DIR) -> dict:
    params = compose(overrides, conf_dir)
    body = yaml.safe_dump(params, sort_keys=False, default_flow_style=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(HEADER + json.dumps(list(overrides)) + "\n" + body)
    os.replace(tmp, path)
    return params


def recorded_overrides(path: Path = PARAMS_FILE) -> list[str]:
    first = path.read_text().split("\n", 1)[0]
    return json.loads(first[len(HEADER) :]) if first.startswith(HEADER) else []


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def flatten(d: Any) -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}: how params are logged to MLflow."""
    return _flatten(d)


def stale_keys(path: Path = PARAMS_FILE, conf_dir: Path = CONF_DIR) -> list[str]:
    """Keys whose value in params.yaml differs from what conf/ composes to (with the same overrides)."""
    actual = _flatten(yaml.safe_load(path.read_text()))
    expected = _flatten(compose(recorded_overrides(path), conf_dir))
    return sorted(
        k for k in actual.keys() | expected.keys() if actual.get(k, "<missing>") != expected.get(k, "<missing>")
    )


def check_fresh(path: Path = PARAMS_FILE, conf_dir: Path = CONF_DIR) -> None:
    # Inside `dvc exp run`, DVC has just composed params.yaml from conf/ plus the -S overrides.
    if os.environ.get("DVC_EXP_BASELINE_REV") or not conf_dir.is_dir():
        return
    keys = stale_keys(path, conf_dir)
    if keys:
        overrides = " ".join(recorded_overrides(path))
        raise StaleParamsError(
            f"{path} does not match what conf/ composes to (overrides: [{overrides}]); "
            f"differing keys: {', '.join(keys[:10])}{' ...' if len(keys) > 10 else ''}.\n"
            f"Recompose it, then rerun:  python -m llmops.config {overrides}  (or: make params)\n"
            "For a one-off variation use `dvc exp run -S key=value`, which composes conf/ itself."
        )


def load_params(path: Path = PARAMS_FILE, check: bool = True) -> DictConfig:
    """params.yaml as an attribute-access config, after checking it is not stale."""
    if check:
        check_fresh(path)
    return OmegaConf.create(yaml.safe_load(path.read_text()))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--check"]:
        try:
            check_fresh()
        except StaleParamsError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"{PARAMS_FILE} is in sync with conf/")
        return 0
    write_params(argv)
    print(f"wrote {PARAMS_FILE} (overrides: {argv})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
