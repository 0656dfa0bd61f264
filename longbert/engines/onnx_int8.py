"""The int8 CPU engine (longbert.engines): the model exported to ONNX, its matrix weights quantized to int8, scored
by ONNX Runtime.

Chosen by measurement on a 2-core AVX2 CPU (bench/RESULTS.md): ONNX Runtime's dynamic int8 quantization
agreed with fp32 on 98.3% of chunk labels and ran about 27% faster; PyTorch's eager quantize_dynamic
(deprecated) agreed on 96.0%. The conversion takes about 10 s and is cached on disk, keyed by the weights (cache_dir()).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from longbert.digests import cached_build, digest, weights_digest
from longbert.encoding import SpecialTokens
from longbert.engines.onnx_export import export_onnx
from longbert.errors import LongbertError
from longbert.files import cache_dir as engine_cache

INSTALL_HINT = "the int8 path needs onnxruntime and onnx: pip install 'longbert[int8]'"


def export_int8(model: torch.nn.Module, special: SpecialTokens, directory: Path) -> Path:
    """Export the model to ONNX and quantize its matrix weights to int8 (activations quantized on the fly)."""
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as error:
        raise LongbertError(INSTALL_HINT) from error
    exported = export_onnx(model, special, directory / "model.onnx")
    quantized = directory / "model-int8.onnx"
    logging.disable(logging.WARNING)  # the quantizer's advice to pre-process, which measured no better here
    try:
        # DefaultTensorType: outputs that shape inference cannot type are float (the exporter's attention ops).
        quantize_dynamic(
            str(exported),
            str(quantized),
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.disable(logging.NOTSET)
    return quantized


def onnx_session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session over an ONNX file, with torch's thread count unless told."""
    try:
        import onnxruntime as ort
    except ImportError as error:
        raise LongbertError(INSTALL_HINT) from error
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cache_dir() -> Path:
    """Where int8 models are kept between runs ($LONGBERT_CACHE/int8, else ~/.cache/longbert/int8)."""
    return engine_cache("int8")


def model_key(model: torch.nn.Module, special: SpecialTokens) -> str:
    """A digest of everything the int8 file depends on: the weights, the config, the special tokens and versions."""
    import onnxruntime

    extra = [weights_digest(model), repr(special), torch.__version__, onnxruntime.__version__]
    return digest(["\n".join(extra).encode()])


def int8_session(model: torch.nn.Module, special: SpecialTokens, threads: int | None = None):
    """An ONNX Runtime session over the model quantized to int8: from the cache when this model was converted before
    (loading then takes about as long as the model's own), else converted (about 10 s for MiniLM-L6) and cached."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise LongbertError(INSTALL_HINT) from error
    cached = cache_dir() / f"{model_key(model, special)}.onnx"
    return cached_build(cached, lambda directory: export_int8(model, special, directory),
                        lambda path: onnx_session(path, threads), prefix="longbert-int8-")  # fmt: skip


def onnx_runner(session):
    """run(input_ids, attention_mask) -> logits over an ONNX Runtime session (longbert.scoring.ArrayScorer's)."""

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]

    return run


def available() -> bool:
    """Whether ONNX Runtime and onnx can be imported here."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def precision() -> str:
    return "int8"


def runner(model: torch.nn.Module, special: SpecialTokens):
    """The engine's run(input_ids, attention_mask) -> logits: the model quantized to int8 in ONNX Runtime."""
    return onnx_runner(int8_session(model, special))
