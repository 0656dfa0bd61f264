"""The runtime policy: device, weight dtype, autocast, batch token budgets and pad multiple, in one place.

Inference, training, evaluation and the benchmark all take these from runtime_for(), so they agree.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, replace

import torch

from longbert.cpu import cpu_field, cpu_has_bf16, cpu_instruction_set
from longbert.engines import ENGINES
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


PRECISIONS = ("auto", "fp32", "bf16", "fp16", *ENGINES)  # ENGINES: the CPU engines other than torch, by precision


def loading_precision(precision: str, device: torch.device) -> str:
    """The precision a model loaded for inference runs in: auto on a CPU takes the fastest engine measured that keeps
    answers (bench/RESULTS.md "CPU runtimes"): OpenVINO in bf16 on CPUs that multiply bf16 natively, where it is
    installed; torch elsewhere (on AVX2 alone OpenVINO's fp32 measured no faster than torch's). LONGBERT_CPU_ENGINE=
    torch keeps auto in torch; anything but auto is taken as asked. Training builds its classifier directly and
    stays in torch."""
    if precision != "auto" or device.type != "cpu" or os.environ.get("LONGBERT_CPU_ENGINE", "auto") == "torch":
        return precision
    if not cpu_has_bf16():
        return precision
    return "openvino" if ENGINES["openvino"].available() else precision


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for a precision; None means full fp32.

    auto: bf16 on CUDA cards with bf16 (else fp16) and on CPUs with native bf16; fp32 elsewhere.
    int8 and openvino (CPU only) run without torch autocast: in ONNX Runtime (int8 matrix products,
    longbert.engines.onnx_int8) or OpenVINO (bf16 where the CPU has it, else fp32; longbert.engines.openvino).
    """
    if precision not in PRECISIONS:
        raise LongbertError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision in ENGINES and device.type != "cpu":
        raise LongbertError(f"{precision} is a CPU path; on this device use auto, bf16 or fp32")
    if precision in ("fp32", *ENGINES) or device.type == "mps":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise LongbertError("fp16 autocast needs a CUDA device; use bf16 or fp32 on this device")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else None


@dataclass(frozen=True)
class Runtime:
    """How chunks run on a device.

    weight_dtype: the dtype the model's weights are cast to (bf16 on CUDA: 13% faster than autocast on an
    H200), or None to keep them; autocast: the autocast dtype over fp32 weights, or None.
    batch_tokens: padded tokens per inference pass (2048 measured fastest on CPUs: cache-sized; 262,144 on
    GPUs); train_batch_tokens: per training pass, which also holds activations for the backward pass.
    pad_multiple: batch widths are rounded up to it (64 on CUDA, where cuDNN attention builds a plan for each
    new width: the first pass over the IMDB test split took 7.4 s unrounded, 1.9 s rounded).
    engine: what runs the model: torch, onnxruntime (the model quantized to int8) or openvino (CPU only).
    """

    device: torch.device
    weight_dtype: torch.dtype | None
    autocast: torch.dtype | None
    batch_tokens: int
    train_batch_tokens: int
    pad_multiple: int
    engine: str = "torch"

    @property
    def int8(self) -> bool:
        return self.engine == "onnxruntime"

    def with_options(self, batch_tokens: int | None = None, pad_multiple: int | None = None) -> Runtime:
        """The same runtime with a batch budget or pad multiple overridden (None keeps the default)."""
        for name, value in (("batch_tokens", batch_tokens), ("pad_multiple", pad_multiple)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise LongbertError(f"{name} must be a positive integer, got {value!r}")
        return replace(
            self,
            batch_tokens=batch_tokens or self.batch_tokens,
            train_batch_tokens=batch_tokens or self.train_batch_tokens,
            pad_multiple=pad_multiple or self.pad_multiple,
        )


def runtime_for(
    device: str | torch.device | None = None, precision: str = "auto", weights: torch.dtype = torch.float32
) -> Runtime:
    """The runtime for a device and precision, given the dtype the weights are loaded in."""
    device = resolve_device(device)
    half = autocast_dtype(device, precision)
    cuda = device.type == "cuda"
    if weights in (torch.bfloat16, torch.float16):  # half weights run as they are: autocast would add nothing
        weight_dtype, autocast = None, None
    elif cuda and half is not None:
        weight_dtype, autocast = half, None
    else:
        weight_dtype, autocast = None, half
    return Runtime(
        device=device,
        weight_dtype=weight_dtype,
        autocast=autocast,
        batch_tokens=262_144 if device.type != "cpu" else 2048,
        train_batch_tokens=16_384 if device.type != "cpu" else 2048,
        pad_multiple=64 if cuda else 1,
        engine=ENGINES[precision].name if precision in ENGINES else "torch",
    )


def software_versions() -> dict[str, str]:
    """Python's, torch's and transformers' versions, for results files."""
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}


def describe_device(device: torch.device) -> str:
    """A name for results files: the GPU's model, or the CPU's model and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"CPU ({cpu_field('model name') or platform.machine()}; {cpu_instruction_set()}), {os.cpu_count()} cores"
    return device.type
