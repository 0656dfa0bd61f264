"""The OpenVINO CPU engine (longbert.engines): the model exported to ONNX, converted to OpenVINO's format and
compiled for this CPU.

Chosen by measurement (bench/RESULTS.md, "CPU runtimes"): on a 2-core AVX-512-BF16 EPYC, OpenVINO in bf16 scored
500 IMDB test reviews 1.2-1.4x as fast as torch's bf16 autocast (3.7-4.2x the article's loop), with 3,000 reviews'
accuracy within 0.1 point of fp32; in fp32, and with the CPU held to AVX2, it measured no faster than torch, so auto
takes it only where the CPU multiplies bf16 natively (longbert.runtime.loading_precision). The conversion takes a
few seconds and is cached on disk, keyed by the weights, beside the int8 cache (LONGBERT_CACHE).
"""

from __future__ import annotations

import contextlib
import queue
from pathlib import Path

import numpy as np
import torch

from longbert.cpu import cpu_has_bf16
from longbert.digests import cached_build, digest, weights_digest
from longbert.encoding import SpecialTokens
from longbert.engines.onnx_export import export_onnx
from longbert.errors import LongbertError
from longbert.files import cache_dir as engine_cache

INSTALL_HINT = "the OpenVINO path needs openvino and onnx: pip install 'longbert[openvino]'"


def openvino_module():
    """The openvino package, or LongbertError saying how to install it."""
    try:
        import openvino
    except ImportError as error:
        raise LongbertError(INSTALL_HINT) from error
    return openvino


def available() -> bool:
    """Whether OpenVINO can be imported here."""
    with contextlib.suppress(LongbertError):
        return openvino_module() is not None
    return False


def cache_dir() -> Path:
    """Where converted models are kept between runs ($LONGBERT_CACHE/openvino, else ~/.cache/longbert/openvino)."""
    return engine_cache("openvino")


def model_key(model: torch.nn.Module, special: SpecialTokens) -> str:
    """A digest of everything the converted files depend on: the weights, the config, special tokens and versions."""
    extra = [weights_digest(model), repr(special), torch.__version__, openvino_module().__version__]
    return digest(["\n".join(extra).encode()])


def converted(model: torch.nn.Module, special: SpecialTokens):
    """The model in OpenVINO's format (graph .xml and weights .bin): from the cache when this model was converted
    before (checked against the digest written beside it), else exported, converted and cached."""
    ov = openvino_module()

    def build(directory: Path) -> Path:
        exported = export_onnx(model, special, directory / "model.onnx")
        built = directory / "model.xml"
        ov.save_model(ov.convert_model(str(exported)), str(built), compress_to_fp16=False)
        return built

    cached = cache_dir() / f"{model_key(model, special)}.xml"
    return cached_build(cached, build, lambda path: ov.Core().read_model(str(path)), companions=(".bin",),
                        prefix="longbert-openvino-")  # fmt: skip


def precision() -> str:
    """bf16 where the CPU multiplies bf16 natively (AVX512-BF16, AMX), else f32."""
    return "bf16" if cpu_has_bf16() else "f32"


def compile_for_cpu(converted_model, precision: str, threads: int | None = None):
    """A model in OpenVINO's format compiled for this CPU in precision (bf16 or f32): latency-minded, one stream,
    torch's thread count unless told."""
    config = {
        "INFERENCE_NUM_THREADS": threads or torch.get_num_threads(),
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "INFERENCE_PRECISION_HINT": precision,
        "CPU_RUNTIME_CACHE_CAPACITY": str(SHAPE_CACHE),
    }
    return openvino_module().Core().compile_model(converted_model, "CPU", config)


def compiled_model(model: torch.nn.Module, special: SpecialTokens, threads: int | None = None):
    """The model compiled for this CPU by OpenVINO, in bf16 where the CPU has it, else f32 (precision())."""
    return compile_for_cpu(converted(model.float().eval(), special), precision(), threads)


# Compiled kernels kept per input shape. Batches are sized by tokens, so their shapes (rows x width) vary without
# end; at OpenVINO's default (5,000) 1,200 random shapes took the bundled model from 634 to 1,882 MB and still
# growing, at 16 it levelled at 1,090 MB (about 8% slower on those shapes; bench/RESULTS.md).
SHAPE_CACHE = 64
REQUESTS = 2  # inference requests a compiled model keeps: each holds buffers for the largest batch it has run


def openvino_runner(compiled, requests: int = REQUESTS):
    """run(input_ids, attention_mask) -> logits over a compiled model (longbert.scoring.ArrayScorer's). A request is
    not shared between threads, so threads take one of `requests` requests in turn: a request per thread grew a
    server by about 10 MB a round of 30 clients (bench/RESULTS.md), as its pool of threads took on new ones."""
    pool: queue.Queue = queue.Queue()
    for _ in range(requests):
        pool.put(compiled.create_infer_request())

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        request = pool.get()
        try:
            request.infer({"input_ids": ids, "attention_mask": mask})
            return request.get_output_tensor(0).data.copy()
        finally:
            pool.put(request)

    return run


def runner(model: torch.nn.Module, special: SpecialTokens):
    """The engine's run(input_ids, attention_mask) -> logits: the model compiled for this CPU."""
    return openvino_runner(compiled_model(model, special))
