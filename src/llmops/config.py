"""One config path: conf/ (Hydra) -> params.yaml -> stages.

params.yaml is what every stage reads and what DVC tracks. Two things write it, both by composing
conf/ with Hydra overrides: `python -m llmops.config [override ...]` (what `make params` / `make
repro` run) and DVC itself in `dvc exp run -S key=value`. The overrides of the last composition
are kept in reports/runs/params.json (the `params` stage's output, committed with params.yaml), so
`dvc exp apply` brings back the overrides with the params.

The `params` stage (`python -m llmops.config --check`, first in dvc.yaml) reruns whenever conf/ or
params.yaml changes. It refuses, in one line, a params.yaml that conf/ no longer composes to with
those overrides (a conf/ edit followed by plain `dvc repro`), and keys that no stage reads (a
misspelled `+key`). Each stage loads only the keys it declares (`load_params(KEYS)`): the same list
as its `params:` in dvc.yaml, so DVC reruns a stage exactly when a key it reads changes.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import os
import shlex
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

PARAMS_FILE = Path("params.yaml")
CONF_DIR = Path("conf")
DVC_YAML = Path("dvc.yaml")
OVERRIDES_FILE = Path("reports/runs/params.json")
# Held shared by every running stage of this workspace, exclusively by whatever writes params.yaml
# (DVC's own repo lock is released while a stage's command runs, so it cannot serve).
WORKSPACE_LOCK = Path(".dvc/tmp/llmops-stages.lock")
_loaded: dict[Path, str] = {}  # params.yaml files a stage loaded -> their sha256 at load
# Read by stages but without effect on their outputs: changing them reruns nothing.
RUNTIME_KEYS = (
    "trainer.log_every_n_steps",
    "pretrain.checkpoint_every_steps",
    "finetune.checkpoint_every_steps",
    "tracking.uri",
    "tracking.experiment",
    "data.executor.kind",
    "data.executor.workers",
    "data.executor.address",
)
# Read by `llmops serve` and `llmops drift --requests`, by no stage: changing them reruns nothing.
SERVICE_KEYS = ("monitoring.request_log", "monitoring.log_text")


class ConfigError(ValueError):
    """A user error in the configuration: printed as one line, exit code 2."""


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}: how params are compared and logged to MLflow."""
    if not isinstance(d, dict) or not d:
        return {prefix: d} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


# Names other ML code uses for our keys: difflib alone cannot map learning_rate to lr.
ALIASES = {
    "learning_rate": "lr",
    "num_epochs": "epochs",
    "n_epochs": "epochs",
    "max_epochs": "epochs",
    "wd": "weight_decay",
    "bs": "batch_size",
    "batchsize": "batch_size",
    "max_len": "max_length",
    "max_seq_length": "max_length",
    "num_layers": "n_layers",
    "num_heads": "n_heads",
    "hidden_size": "d_model",
    "steps": "max_steps",
    "warmup": "warmup_steps",
}


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """` (did you mean finetune.lr?)` for the closest existing key, or ""."""
    known = [k for k in known if k != key]
    parent, _, leaf = key.rpartition(".")
    siblings = {k.rpartition(".")[2]: k for k in known if k.rpartition(".")[0] == parent}
    if ALIASES.get(leaf) in siblings:
        return f" (did you mean {siblings[ALIASES[leaf]]}?)"
    close = difflib.get_close_matches(leaf, list(siblings), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {siblings[close[0]]}?)"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def compose(overrides: Iterable[str] = (), conf_dir: Path = CONF_DIR) -> dict[str, Any]:
    """Compose conf/ with Hydra, exactly as DVC's Hydra composition does, into a plain dict.
    A key that does not exist, or a `+key` that no stage reads, is a ConfigError naming the
    closest existing key."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = list(overrides)
    try:
        with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=overrides)
        params = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException) as err:
        message = [line.strip() for line in str(err).splitlines() if line.strip()]
        if "Could not find" in message[0]:  # a config group option that does not exist
            options = []
            for line in message[1:]:
                if line.startswith("Config search path"):
                    break
                if not line.startswith("Available"):
                    options.append(line)
            raise ConfigError(f"conf/: {message[0]}; available: {', '.join(options) or 'none'}") from err
        bad = next((o for o in overrides if _override_key(o) in str(err)), None)
        if bad is None:
            raise ConfigError(f"conf/: {message[0]}") from err
        known = flatten(compose([o for o in overrides if o != bad], conf_dir))
        raise ConfigError(
            f"override {bad!r}: no key {_override_key(bad)!r}{did_you_mean(_override_key(bad), known)}"
        ) from err
    added = [o for o in overrides if o.startswith("+") and not is_read(_override_key(o))]
    if added:
        key = _override_key(added[0])
        raise ConfigError(f"override {added[0]!r}: no stage reads {key!r}{did_you_mean(key, flatten(params))}")
    return params  # type: ignore[return-value]


def stage_keys(dvc_yaml: Path = DVC_YAML) -> dict[str, list[str]]:
    """Each stage's declared param keys (its `params:` in dvc.yaml); a `foreach` stage gives one
    entry per item, `<stage>@<key>`, with its `${key}` / `${item.<field>}` entries filled in."""
    out: dict[str, list[str]] = {}
    for name, stage in yaml.safe_load(dvc_yaml.read_text())["stages"].items():
        if "foreach" not in stage:
            out[name] = [p for p in stage.get("params", []) if isinstance(p, str)]
            continue
        for key, item in stage["foreach"].items():
            fields = {"${key}": key, **{f"${{item.{k}}}": str(v) for k, v in (item or {}).items()}}
            declared = [p for p in stage["do"].get("params", []) if isinstance(p, str)]
            out[f"{name}@{key}"] = [fields.get(p, p) for p in declared]
    return out


@functools.cache
def _declared(dvc_yaml: Path, mtime_ns: int) -> frozenset[str]:
    return frozenset(k for keys in stage_keys(dvc_yaml).values() for k in keys) | frozenset(RUNTIME_KEYS + SERVICE_KEYS)


def is_read(key: str, dvc_yaml: Path = DVC_YAML) -> bool:
    """True when some stage declares `key`, a parent of it, or it is a runtime or service key."""
    if not dvc_yaml.exists():
        return True
    declared = _declared(dvc_yaml.resolve(), dvc_yaml.stat().st_mtime_ns)
    parts = key.split(".")
    return any(".".join(parts[:i]) in declared for i in range(1, len(parts) + 1)) or any(
        d.startswith(key + ".") for d in declared
    )


def recorded_overrides(path: Path = OVERRIDES_FILE) -> list[str]:
    """The overrides of the last composition of params.yaml (ours or DVC's)."""
    return list(json.loads(path.read_text()).get("overrides", [])) if path.exists() else []


def rerun_command(settings: dict[str, Any]) -> str:
    """`make repro` with this params.yaml's own overrides and `settings` on top: what a refusal
    tells the user to run."""
    kept = [o for o in recorded_overrides() if _override_key(o) not in settings]
    return 'make repro OVERRIDES="' + " ".join([*kept, *(f"{k}={v}" for k, v in settings.items())]) + '"'


def record_overrides(overrides: list[str], path: Path = OVERRIDES_FILE) -> None:
    from llmops.io import write_json

    write_json(path, {"overrides": list(overrides), "dvc_experiment": os.environ.get("DVC_EXP_NAME")})


def write_params(
    overrides: list[str], path: Path = PARAMS_FILE, conf_dir: Path = CONF_DIR, record: bool = True
) -> dict:
    """Compose conf/ with `overrides` into `path` (atomically) and record the overrides beside it
    (reports/runs/params.json under the same folder)."""
    params = compose(overrides, conf_dir)
    refuse_bad_values(params, f"overrides [{' '.join(overrides)}]")
    with workspace_lock(shared=False, lock_file=path.parent / WORKSPACE_LOCK) as free:
        if not free:
            raise ConfigError(
                f"a stage of this workspace is running (dvc repro / dvc exp run): {path} stays as it is "
                "until it finishes; run this again then"
            )
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(yaml.safe_dump(params, sort_keys=False, default_flow_style=False))
        os.replace(tmp, path)
    if record:
        record_overrides(overrides, path.parent / OVERRIDES_FILE)
    return params


def dvc_set_params() -> list[str] | None:
    """The `-S/--set-param` overrides of the `dvc exp run` that launched this process, if any."""
    try:
        import psutil

        proc = psutil.Process().parent()
        while proc is not None:
            cmd = proc.cmdline()
            is_dvc = len(cmd) > 2 and os.path.basename(cmd[1] if "python" in cmd[0] else cmd[0]) == "dvc"
            if is_dvc and "exp" in cmd and "run" in cmd:  # not a queue worker's `dvc exp exec-run`
                found, args = [], iter(cmd)
                for arg in args:
                    if arg in ("-S", "--set-param"):
                        found.append(next(args, ""))
                    elif arg.startswith("--set-param="):
                        found.append(arg.split("=", 1)[1])
                return [f.split(":", 1)[1] if f.startswith("params.yaml:") else f for f in found]
            proc = proc.parent()
    except Exception:  # psutil missing, or a parent we may not inspect
        return None
    return None


def stale_keys(params: dict, overrides: list[str], conf_dir: Path = CONF_DIR) -> list[str]:
    actual, expected = flatten(params), flatten(compose(overrides, conf_dir))
    return sorted(
        k for k in actual.keys() | expected.keys() if actual.get(k, "<missing>") != expected.get(k, "<missing>")
    )


def _as_override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value) if not isinstance(value, str) else value}"


def check(path: Path = PARAMS_FILE, conf_dir: Path = CONF_DIR, record: Path = OVERRIDES_FILE) -> list[str]:
    """What the `params` stage runs. Returns the overrides params.yaml was composed with (and
    records them); raises ConfigError when params.yaml is stale or holds a key no stage reads."""
    params = yaml.safe_load(path.read_text())
    refuse_bad_values(params, str(path))
    unread = [k for k in flatten(params) if not is_read(k)]
    if unread:
        raise ConfigError(
            f"{path}: no stage reads {unread[0]!r}"
            f"{did_you_mean(unread[0], [k for k in flatten(params) if is_read(k)])}; remove that override"
        )
    if os.environ.get("DVC_EXP_BASELINE_REV"):  # `dvc exp run` composed conf/ with its -S overrides just now
        overrides = dvc_set_params()
        if overrides is None:  # a queued run: the overrides are whatever differs from conf/
            overrides = [_as_override(k, flatten(params)[k]) for k in stale_keys(params, [], conf_dir)]
        record_overrides(overrides, record)
        return overrides
    overrides = recorded_overrides(record)
    keys = stale_keys(params, overrides, conf_dir)
    if keys:
        expected = flatten(compose(overrides, conf_dir))
        shown = ", ".join(f"{k} (params.yaml {flatten(params).get(k)!r}, conf/ {expected.get(k)!r})" for k in keys[:3])
        more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
        ov = " ".join(overrides)
        dvc_args = "".join(" -S " + shlex.quote(o) for o in overrides)
        raise ConfigError(
            f"{path} is not what conf/ composes to with its overrides [{ov}]: {shown}{more}; "
            f'recompose with: make params OVERRIDES="{ov}"  (or: dvc exp run{dvc_args})'
        )
    record_overrides(overrides, record)
    return overrides


def refuse_bad_values(params: dict, where: str) -> None:
    """ConfigError naming the first key whose value breaks its type or range (llmops.schema)."""
    from llmops.schema import problems

    found = problems(params)
    if found:
        more = f" (and {len(found) - 1} more: {'; '.join(found[1:3])})" if len(found) > 1 else ""
        raise ConfigError(f"{found[0]}{more} [{where}]")


def select(params: dict, keys: Iterable[str]) -> dict[str, Any]:
    """The sub-tree of `params` holding only `keys` (dotted; a key may name a whole group)."""
    out: dict[str, Any] = {}
    cfg = OmegaConf.create(params)
    for key in keys:
        value = OmegaConf.select(cfg, key, throw_on_missing=False, default=KeyError)
        if value is KeyError:
            continue
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value
    return out


def load_params(keys: Iterable[str] | None = None, path: Path = PARAMS_FILE) -> DictConfig:
    """params.yaml as an attribute-access config. With `keys` (a stage's declared params plus the
    runtime keys), only those: reading any other key raises, so the stage's `params:` in dvc.yaml
    cannot miss a key the stage reads."""
    text = path.read_text()
    _loaded[path.resolve()] = hashlib.sha256(text.encode()).hexdigest()
    params = yaml.safe_load(text)
    if keys is not None:
        params = select(params, [*keys, *RUNTIME_KEYS])
    cfg = OmegaConf.create(params)
    OmegaConf.set_struct(cfg, True)
    return cfg


def changed_since_loaded() -> list[Path]:
    """The params.yaml files this process loaded that now hold something else: the stage's outputs
    were made with the old values, and DVC would record the new ones in dvc.lock."""
    return [p for p, digest in _loaded.items() if p.exists() and hashlib.sha256(p.read_bytes()).hexdigest() != digest]


@contextlib.contextmanager
def workspace_lock(shared: bool, lock_file: Path = WORKSPACE_LOCK) -> Iterator[bool]:
    """Yields True while holding the workspace lock (shared: stages; exclusive: writers of
    params.yaml), False when an exclusive request finds it held; never waits."""
    import fcntl

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_stage_params(stage: str, path: Path = PARAMS_FILE) -> DictConfig:
    """The params `stage` declares in dvc.yaml (plus the runtime keys), and nothing else."""
    return load_params(stage_keys()[stage], path)


def all_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The whole of params.yaml: what each MLflow run logs, so any two runs compare on any key."""
    return yaml.safe_load(path.read_text())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["--check"]:
            overrides = check()
            print(f"params: {PARAMS_FILE} matches conf/ (overrides: [{' '.join(overrides)}])")
            return 0
        write_params(argv)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {PARAMS_FILE} (overrides: [{' '.join(argv)}])")
    return 0


if __name__ == "__main__":
    sys.exit(main())
