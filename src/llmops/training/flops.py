"""Model FLOPs per token from the architecture, and the peak the hardware could do, for MFU."""

from __future__ import annotations

import time
from typing import Any

# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, by a substring of torch.cuda.get_device_name().
GPU_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,  # SXM; the PCIe card is 756
    "GH200": 989.0,
    "B200": 2250.0,
    "A100": 312.0,
    "A10G": 70.0,
    "A10": 125.0,
    "L40S": 362.0,
    "L4": 121.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
    "V100": 125.0,
    "T4": 65.0,
}


def flops_per_token(config: Any, n_params: int) -> float:
    """Training FLOPs per token (forward + backward), PaLM appendix B / nanoGPT: 6N + 12 L d T."""
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    width = getattr(config, "hidden_size", None) or config.n_embd
    context = getattr(config, "max_position_embeddings", None) or config.n_positions
    return 6.0 * n_params + 12.0 * layers * width * context


def peak_tflops(configured: float | None, device: str) -> tuple[float, str]:
    """(peak TFLOP/s per device, where it came from): the config wins; then known GPUs; a CPU's
    peak is measured as the best fp32 GEMM rate on this process's threads."""
    import torch

    if configured:
        return float(configured), "config"
    if device == "cuda" and torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        for key, peak in GPU_PEAK_TFLOPS.items():
            if key in name:
                return peak, f"table:{key}"
        return 0.0, f"unknown GPU {name!r}: set trainer.peak_tflops"
    return _measured_cpu_gemm_tflops(), "measured fp32 GEMM"


def _measured_cpu_gemm_tflops(n: int = 512, seconds: float = 0.3) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - t0))
    return best / 1e12
