import shutil

import pytest
import yaml

from llmops.config import HEADER, StaleParamsError, check_fresh, compose, recorded_overrides, stale_keys, write_params

from .conftest import ROOT


def test_committed_params_yaml_is_in_sync_with_conf():
    params = ROOT / "params.yaml"
    assert recorded_overrides(params) == [], "params.yaml must be composed from conf/ without overrides"
    assert stale_keys(params, ROOT / "conf") == [], "run `make params` and commit params.yaml"


def test_ci_experiment_composes_a_tiny_setup():
    cfg = compose(["experiment=ci"], ROOT / "conf")
    default = compose([], ROOT / "conf")
    assert cfg["pretrain"]["max_steps"] < default["pretrain"]["max_steps"]
    assert cfg["data"]["subsample"] and cfg["model"]["d_model"] < default["model"]["d_model"]


@pytest.fixture
def conf_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    return tmp_path


def test_edit_to_conf_without_recompose_is_refused(conf_copy):
    params, conf = conf_copy / "params.yaml", conf_copy / "conf"
    write_params(["experiment=ci"], params, conf)
    check_fresh(params, conf)  # fresh: no error
    ft = conf / "finetune" / "default.yaml"
    ft.write_text(ft.read_text().replace("weight_decay: 0.01", "weight_decay: 0.02"))
    with pytest.raises(StaleParamsError, match=r"finetune\.weight_decay.*\n.*python -m llmops.config experiment=ci"):
        check_fresh(params, conf)
    write_params(recorded_overrides(params), params, conf)
    check_fresh(params, conf)
    assert yaml.safe_load(params.read_text())["finetune"]["weight_decay"] == 0.02


def test_hand_edit_of_params_yaml_is_refused(conf_copy):
    params, conf = conf_copy / "params.yaml", conf_copy / "conf"
    write_params([], params, conf)
    text = params.read_text()
    assert text.startswith(HEADER)
    params.write_text(text.replace("seed: 1337", "seed: 7"))
    with pytest.raises(StaleParamsError, match="seed"):
        check_fresh(params, conf)


def test_inside_dvc_exp_run_params_are_trusted(conf_copy, monkeypatch):
    params, conf = conf_copy / "params.yaml", conf_copy / "conf"
    write_params([], params, conf)
    params.write_text(params.read_text().replace("seed: 1337", "seed: 7"))
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc")
    check_fresh(params, conf)
