"""MFU inputs and rank detection from the launcher's environment."""

import pytest
import torch
from omegaconf import OmegaConf
from transformers import LlamaConfig

from llmops.training.dist import global_rank, is_rank_zero, world_size
from llmops.training.flops import flops_per_token, peak_tflops


def test_flops_per_token_agrees_with_a_flop_count_of_a_real_training_step():
    """The formula against torch's FLOP counter (via Lightning's measure_flops) on one forward +
    backward of a small Llama at full context: MFU must not be off by more than a few percent."""
    from lightning.fabric.utilities.throughput import measure_flops
    from transformers import LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=128, tie_word_embeddings=True,
    )  # fmt: skip
    model = LlamaForCausalLM._from_config(config, attn_implementation="eager")  # attention as countable matmuls
    x = torch.randint(0, 512, (2, 128))
    counted = measure_flops(model, lambda: model(input_ids=x, labels=x).logits, lambda logits: logits.sum())
    per_token = counted / x.numel()
    assert flops_per_token(config, n_params=model.num_parameters()) == pytest.approx(per_token, rel=0.1)


def test_peak_comes_from_config_first_then_is_measured_on_cpu():
    assert peak_tflops(989.0, torch.device("cuda")) == (989.0, "config")
    peak, source = peak_tflops(None, torch.device("cpu"))
    assert peak > 0 and source == "measured fp32 GEMM"


CFG = OmegaConf.create({"devices": 4, "num_nodes": 2, "accelerator": "cpu"})


@pytest.mark.parametrize(
    ("env", "rank"),
    [
        ({}, 0),
        ({"LOCAL_RANK": "3"}, 3),  # Lightning's own launcher on one node
        ({"LOCAL_RANK": "1", "NODE_RANK": "1"}, 5),
        ({"RANK": "6", "LOCAL_RANK": "2"}, 6),  # torchrun
        ({"SLURM_PROCID": "7"}, 7),  # srun
    ],
)
def test_global_rank_from_each_launcher(monkeypatch, env, rank):
    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert global_rank(CFG) == rank and is_rank_zero(CFG) == (rank == 0)


def test_world_size_from_config_or_launcher(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert world_size(CFG) == 8
    monkeypatch.setenv("WORLD_SIZE", "16")
    assert world_size(CFG) == 16
