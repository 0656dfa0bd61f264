"""Pick the device and the autocast precision for inference and training."""

from __future__ import annotations

import torch

from longbert.errors import LongbertError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for, or the best available one (cuda, then mps, then cpu)."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise LongbertError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise LongbertError(f"device {device!r} was asked for, but CUDA is not available here")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise LongbertError(f"device {device!r} was asked for, but MPS is not available here")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise LongbertError(f"unsupported device {device!r}: use auto, cpu, cuda, cuda:N or mps")
    return resolved


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA cards that support it, else fp16 on CUDA; None (full fp32) elsewhere."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
