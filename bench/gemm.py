"""The machine's own fp32 matrix-multiply rate, and a model's share of it: how close scoring comes to what the CPU
(or GPU) can do, measured in the same run as the methods."""

from __future__ import annotations

import time

import torch


def gemm_flops(device: torch.device | str = "cpu", m: int = 2048, k: int = 384, n: int = 1536,
               seconds: float = 1.0) -> float:  # fmt: skip
    """fp32 FLOP/s of torch's matmul at a transformer's feed-forward shape (tokens x hidden @ hidden x 4 hidden),
    the best of repeated timings over about `seconds`."""
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end or best == float("inf"):
        start = time.perf_counter()
        torch.matmul(a, b)
        if a.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best


def flops_per_token(model: torch.nn.Module, width: int = 512) -> float:
    """A forward pass's FLOPs per token: two per weight of every linear layer, and the attention's two products
    (4 x layers x hidden x width) at chunks `width` tokens wide."""
    linear = sum(module.weight.numel() for module in model.modules() if isinstance(module, torch.nn.Linear))
    config = model.config
    return 2 * linear + 4 * config.num_hidden_layers * config.hidden_size * width
