"""The one config path: conf/ -> params.yaml (+ the recorded overrides) -> each stage's declared keys."""

import ast
import re
import shutil
from pathlib import Path

import pytest
import yaml

from llmops.config import (
    RUNTIME_KEYS,
    ConfigError,
    check,
    compose,
    flatten,
    load_params,
    recorded_overrides,
    stage_keys,
    write_params,
)
from llmops.schema import problems

from .conftest import ROOT


def test_committed_params_yaml_is_what_conf_composes_to():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert recorded_overrides(ROOT / "reports/runs/params.json") == [], "params.yaml must be the defaults"
    assert params == compose([], ROOT / "conf"), "run `make params` and commit params.yaml"


def test_ci_experiment_composes_a_tiny_setup():
    cfg = compose(["experiment=ci"], ROOT / "conf")
    default = compose([], ROOT / "conf")
    assert cfg["pretrain"]["max_steps"] < default["pretrain"]["max_steps"]
    assert cfg["data"]["subsample"] and cfg["model"]["d_model"] < default["model"]["d_model"]
    assert cfg["tracking"]["register"] is False  # a smoke run stays out of the registry


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """conf/ and dvc.yaml in a temp folder, as the cwd (the params stage reads them from there)."""
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copy2(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_conf_edit_without_recompose_is_refused_naming_the_same_overrides(workspace):
    write_params(["experiment=ci", "finetune.lr=0.001"])
    assert check() == ["experiment=ci", "finetune.lr=0.001"]
    ft = workspace / "conf" / "finetune" / "default.yaml"
    ft.write_text(ft.read_text().replace("weight_decay: 0.01", "weight_decay: 0.02"))
    with pytest.raises(ConfigError) as err:
        check()
    message = str(err.value)
    assert "\n" not in message and "finetune.weight_decay" in message
    assert 'make params OVERRIDES="experiment=ci finetune.lr=0.001"' in message
    write_params(recorded_overrides())  # what the message says to run
    check()
    assert yaml.safe_load(Path("params.yaml").read_text())["finetune"]["weight_decay"] == 0.02


def test_hand_edit_of_params_yaml_is_refused(workspace):
    write_params([])
    params = Path("params.yaml")
    params.write_text(params.read_text().replace("seed: 1337", "seed: 7"))
    with pytest.raises(ConfigError, match="seed"):
        check()


def test_inside_dvc_exp_run_the_composition_is_trusted_and_its_overrides_recorded(workspace, monkeypatch):
    write_params([])
    params = Path("params.yaml")  # what `dvc exp run -S finetune.lr=0.004` writes: DVC's own composition
    params.write_text(yaml.safe_dump(compose(["finetune.lr=0.004"]), sort_keys=False))
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc")
    # not launched by `dvc exp run` here, so the overrides are inferred from what differs from conf/
    assert check() == ["finetune.lr=0.004"]
    monkeypatch.delenv("DVC_EXP_BASELINE_REV")
    assert check() == ["finetune.lr=0.004"]  # a later plain `dvc repro` accepts it


@pytest.mark.parametrize(
    ("override", "suggestion"),
    [
        ("finetune.learning_rate=1e-3", "finetune.lr"),
        ("finetune.lrr=1e-3", "finetune.lr"),
        ("modle.d_model=64", "model.d_model"),
        ("+finetune.learning_rate=1e-3", "finetune.lr"),
    ],
)
def test_a_misspelled_key_is_refused_with_the_closest_key(workspace, override, suggestion):
    with pytest.raises(ConfigError, match=rf"did you mean {suggestion}\?"):
        write_params([override])
    assert not Path("params.yaml").exists()


def test_an_unknown_group_option_lists_the_available_ones(workspace):
    with pytest.raises(ConfigError, match="available: ci, minilm_gpu"):
        compose(["experiment=cii"])


def test_a_key_no_stage_reads_in_params_yaml_is_refused(workspace, monkeypatch):
    params = compose([])
    params["finetune"]["learning_rate"] = 0.001  # what DVC writes for `-S +finetune.learning_rate=...`
    Path("params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc")
    with pytest.raises(ConfigError, match=r"no stage reads 'finetune.learning_rate' \(did you mean finetune.lr\?\)"):
        check()


def test_a_stage_can_read_only_the_keys_it_declares(workspace):
    write_params([])
    params = load_params(stage_keys()["pretrain"])
    assert params.pretrain.max_steps == 400 and params.trainer.log_every_n_steps == 25  # declared / runtime
    with pytest.raises(Exception, match="finetune.lr|lr"):
        _ = params.finetune.lr  # pretrain does not declare it: reading it is an error, not a silent rerun miss


def test_declared_keys_exist_and_runtime_keys_rerun_nothing():
    declared = stage_keys(ROOT / "dvc.yaml")
    composed = flatten(compose([], ROOT / "conf"))
    for stage, keys in declared.items():
        for key in keys:
            assert any(k == key or k.startswith(key + ".") for k in composed), f"{stage}: {key} is not in params"
            assert key not in RUNTIME_KEYS, f"{stage} declares the runtime-only key {key}"
    assert "finetune.ablation" not in declared["pretrain"] and "trainer.log_every_n_steps" not in declared["pretrain"]


def _names_read(module: str, seen: set[str]) -> set[str]:
    """Attribute names and short string keys in `module` and every llmops module it imports,
    transitively (docstrings and comments do not count)."""
    if module in seen:
        return set()
    seen.add(module)
    path = ROOT / "src" / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    if not path.exists():
        return set()
    tree = ast.parse(path.read_text())
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            names.update(node.value.split("."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llmops"):
            for sub in [node.module] + [f"{node.module}.{a.name}" for a in node.names]:
                names |= _names_read(sub, seen)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("llmops"):
                    names |= _names_read(a.name, seen)
    return names


def test_every_declared_key_is_read_by_its_stage():
    """The other direction of `load_params`' guard: a key in dvc.yaml that the stage's code never
    names would rerun the stage for nothing."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage, keys in stage_keys(ROOT / "dvc.yaml").items():
        spec = stages[stage.split("@")[0]]  # finetune@scratch: an item of the foreach stage finetune
        module = (spec.get("cmd") or spec["do"]["cmd"]).split(" -m ")[1].split()[0]
        names = _names_read(module, set())
        for key in keys:
            leaf = key.rsplit(".", 1)[-1]
            assert leaf in names, f"{stage} declares {key} but its code never reads {leaf!r}"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("pretrain.batch_size=0", "pretrain.batch_size=0: must be greater than or equal to 1"),
        ("finetune.epochs=0", "finetune.epochs=0: must be greater than or equal to 1"),
        ("pretrain.max_steps=abc", "pretrain.max_steps='abc': must be a valid integer"),
        ("finetune.lr=-1", "finetune.lr=-1: must be greater than 0"),
        ("pretrain.in_domain_fraction=1.5", "pretrain.in_domain_fraction=1.5: must be less than or equal to 1"),
        ("data.split.val=0.95", "data.split: val + test = 1.05 leaves no train split"),
        ("model.n_heads=5", "model: d_model 192 is not a multiple of n_heads 5"),
        ("finetune.max_steps=0", "finetune: max_steps 0 would train nothing"),
        ("finetune.pooling=max", "finetune.pooling='max': must be 'last' or 'mean'"),
        ("tracking.register=maybe", "tracking.register='maybe': must be 'auto' or a valid boolean"),
        ("data.executor.kind=slurm", "data.executor.kind='slurm': must be 'local' or 'ray'"),
        ("data.executor.tasks=0", "data.executor.tasks=0: must be greater than or equal to 1 or 'auto'"),
    ],
)
def test_a_bad_value_is_refused_naming_key_value_and_rule_and_params_yaml_is_kept(workspace, override, message):
    write_params([])
    before = Path("params.yaml").read_text()
    with pytest.raises(ConfigError, match="^" + re.escape(message)) as err:
        write_params([override])
    assert "\n" not in str(err.value) and Path("params.yaml").read_text() == before


def test_every_shipped_config_passes_the_schema():
    for overrides in ([], ["experiment=ci"], ["experiment=minilm_gpu"], ["trainer=ddp"], ["trainer=fsdp"]):
        assert problems(compose(overrides, ROOT / "conf")) == [], overrides


def test_a_bad_value_from_dvc_exp_run_is_refused_by_the_params_stage(workspace, monkeypatch):
    params = compose([])
    params["pretrain"]["batch_size"] = 0  # what DVC writes for `dvc exp run -S pretrain.batch_size=0`
    Path("params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc")
    with pytest.raises(
        ConfigError, match=r"^pretrain.batch_size=0: must be greater than or equal to 1 \[params.yaml\]"
    ):
        check()
