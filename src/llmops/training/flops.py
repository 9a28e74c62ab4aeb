"""Model FLOPs per token from the architecture, and the peak the hardware could do, for MFU."""

from __future__ import annotations

import time
from typing import Any

import torch


def flops_per_token(config: Any, n_params: int) -> float:
    """Training FLOPs per token (forward + backward), PaLM appendix B / nanoGPT: 6N + 12 L d T.
    Kept as a formula rather than Lightning's `measure_flops` (which traces one real step) because
    it is what MFU is conventionally quoted against, and it costs nothing at startup."""
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    width = getattr(config, "hidden_size", None) or config.n_embd
    context = getattr(config, "max_position_embeddings", None) or config.n_positions
    return 6.0 * n_params + 12.0 * layers * width * context


def peak_tflops(configured: float | None, device: torch.device, precision: str = "32-true") -> tuple[float, str]:
    """(peak TFLOP/s per device, where it came from): the config wins; then Lightning's table of
    GPUs for the training precision; a CPU's peak is measured as the best fp32 GEMM rate on this
    process's threads (no table knows a CPU)."""
    if configured:
        return float(configured), "config"
    if device.type == "cuda":
        from lightning.fabric.utilities.throughput import get_available_flops

        dtype = {"bf16": torch.bfloat16, "16": torch.float16}.get(str(precision).split("-")[0], torch.float32)
        flops = get_available_flops(device, dtype)
        name = torch.cuda.get_device_name(device)
        if flops:
            return flops / 1e12, f"lightning table: {name}, {dtype}".replace("torch.", "")
        return 0.0, f"unknown GPU {name!r}: set trainer.peak_tflops"
    return _measured_cpu_gemm_tflops(), "measured fp32 GEMM"


def _measured_cpu_gemm_tflops(n: int = 512, seconds: float = 0.3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - t0))
    return best / 1e12
