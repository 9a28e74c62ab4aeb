"""trainer.precision reaches the matmuls of every training path: under bf16-mixed the logits of a
training step are bf16 (Lightning's CPU autocast), under 32-true they are fp32."""

import pytest
import torch
from omegaconf import OmegaConf

from llmops.label_efficiency.cells import fit_cell
from llmops.models.lm import CausalLM
from llmops.training.data import BatchPlan
from llmops.training.optim import schedule_from_config
from llmops.training.trainer import build_trainer

from ..label_efficiency.jobs import tiny_config, tiny_job

BF16 = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
NEEDS_BF16 = pytest.mark.skipif(not BF16, reason="this CPU has no native bf16 (avx512_bf16/amx): autocast is emulated")


def _watch_training_logits(model: torch.nn.Module, seen: list) -> torch.nn.Module:
    model.register_forward_hook(lambda m, args, out: seen.append(out.logits.dtype) if m.training else None)
    return model


@pytest.mark.parametrize(
    "precision,dtype", [pytest.param("bf16-mixed", torch.bfloat16, marks=NEEDS_BF16), ("32-true", torch.float32)]
)
def test_a_fine_tuning_step_runs_in_the_configured_precision(tmp_path, monkeypatch, precision, dtype):
    """Through a learning-curve cell, which trains with the finetune stage's own build and fit."""
    import llmops.training.finetune as finetune

    seen: list[torch.dtype] = []
    build = finetune.build_classifier
    monkeypatch.setattr(finetune, "build_classifier", lambda *a, **kw: _watch_training_logits(build(*a, **kw), seen))
    assert fit_cell(tiny_job(tmp_path, precision=precision))["steps"] == 2
    assert seen and set(seen) == {dtype}


@NEEDS_BF16
def test_a_pretraining_step_under_bf16_runs_its_matmuls_in_bf16():
    sgd = lambda m: torch.optim.SGD(m.parameters(), lr=0.1)  # noqa: E731
    module = CausalLM(tiny_config(), optimizer=sgd, scheduler=schedule_from_config(0, total_steps=2, min_lr_ratio=0.0))
    seen: list[torch.dtype] = []
    _watch_training_logits(module.model, seen)
    cfg = {"accelerator": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto", "precision": "bf16-mixed"}
    trainer = build_trainer(
        OmegaConf.create({**cfg, "log_every_n_steps": 1}),
        run=None,
        tracking_uri="",
        callbacks=[],
        plan=BatchPlan(4, 4, 1),
        max_steps=2,
        val_every_steps=2,
    )
    windows = [(torch.randint(3, 40, (4, 8)), torch.randint(3, 40, (4, 8))) for _ in range(2)]
    loader = torch.utils.data.DataLoader(windows, batch_size=None)
    trainer.fit(module, loader, torch.utils.data.DataLoader(windows[:1], batch_size=None))
    assert seen and set(seen) == {torch.bfloat16}
