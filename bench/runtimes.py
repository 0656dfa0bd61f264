"""Candidate CPU engines on the same chunks in the same batches: tokens/s and agreement with torch fp32.

    python -m bench.runtimes --data ../shared/data/imdb --reviews 150 --engines torch-fp32,torch-bf16,ort-int8,ov-bf16

Engines: torch-fp32, torch-bf16 (autocast), torch-compile-fp32 and -bf16 (torch.compile, dynamic shapes; the
warm-up pass compiles), ort-fp32 and ort-int8 (ONNX Runtime: the exported graph, and today's
dynamic int8), ov-f32 and ov-bf16 (OpenVINO), ov-int8-weights (NNCF weight compression, f32 activations) and
ov-int8-static (NNCF post-training quantization calibrated on 60 training reviews). Each is timed as the best of two
passes after a warm-up; run it under ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 to
hold oneDNN, ATen and MKL to AVX2. torch fp32 always runs first, as the reference.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from longbert import Chunking, LongTextClassifier, chunk
from longbert.data import load_imdb
from longbert.engines.onnx_export import export_onnx
from longbert.engines.onnx_int8 import export_int8, onnx_runner, onnx_session
from longbert.engines.openvino import compile_for_cpu, openvino_runner
from longbert.runtime import cpu_instruction_set
from longbert.scoring import padded_batches

ENGINES = ("torch-fp32", "torch-bf16", "torch-compile-fp32", "torch-compile-bf16", "ort-fp32", "ort-int8", "ov-f32",
           "ov-bf16", "ov-int8-weights", "ov-int8-static")  # fmt: skip


def openvino_engine(onnx: Path, engine: str, calibration: list):
    """run(ids, mask) of the model in OpenVINO: f32 or bf16, or with NNCF's int8 weights or static int8, compiled and
    run as longbert's OpenVINO path does."""
    import openvino as ov

    model = ov.convert_model(str(onnx))
    if engine.startswith("ov-int8"):
        import nncf

        if engine == "ov-int8-weights":
            model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        else:
            model = nncf.quantize(model, nncf.Dataset(calibration), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(calibration))  # fmt: skip
    return openvino_runner(compile_for_cpu(model, "bf16" if engine == "ov-bf16" else "f32"))


def runner(classifier, engine: str, workdir: Path, calibration: list):
    """run(ids, mask) -> logits of one engine."""
    if engine.startswith("torch"):
        autocast = torch.bfloat16 if engine.endswith("bf16") else None
        model = torch.compile(classifier.model, dynamic=True) if "compile" in engine else classifier.model

        def run(ids, mask):
            with torch.inference_mode(), torch.autocast("cpu", dtype=autocast, enabled=autocast is not None):
                ids, mask = torch.from_numpy(ids), torch.from_numpy(mask)
                return model(input_ids=ids, attention_mask=mask).logits.float().numpy()

        return run
    if engine == "ort-int8":
        return onnx_runner(onnx_session(export_int8(classifier.model, classifier.special, workdir)))
    onnx = export_onnx(classifier.model, classifier.special, workdir / "model.onnx")
    if engine == "ort-fp32":
        return onnx_runner(onnx_session(onnx))
    return openvino_engine(onnx, engine, calibration)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.runtimes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="longbert/model")
    parser.add_argument("--data", default="sample")
    parser.add_argument("--reviews", type=int, default=150)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args(argv)
    classifier = LongTextClassifier.from_pretrained(args.model, device="cpu", precision="fp32")
    texts = load_imdb("test", args.data).sample(args.reviews, random_state=1)["text"].tolist()
    ids = chunk(classifier.encode(texts, spans=False), Chunking(510, 510, 1)).ids
    train = load_imdb("train", args.data).sample(60, random_state=2)["text"].tolist()
    calibration = [
        {"input_ids": i.numpy(), "attention_mask": m.numpy()}
        for _, i, m in padded_batches(
            chunk(classifier.encode(train, spans=False), Chunking(510, 510, 1)).ids,
            classifier.special,
            classifier.runtime,
        )
    ]
    tokens = sum(len(c) + classifier.special.count for c in ids)
    reference = None
    print(f"# {cpu_instruction_set()}, {torch.get_num_threads()} threads; {len(ids)} chunks, {tokens:,} tokens")
    for engine in ["torch-fp32", *[e for e in args.engines.split(",") if e and e != "torch-fp32"]]:
        with tempfile.TemporaryDirectory() as workdir:
            run = runner(classifier, engine, Path(workdir), calibration)
            logits = np.zeros((len(ids), classifier.model.config.num_labels), np.float32)
            best = float("inf")
            for attempt in range(3):  # a warm-up, then the best of two
                start = time.perf_counter()
                for index, batch_ids, mask in padded_batches(ids, classifier.special, classifier.runtime):
                    logits[index] = run(batch_ids.numpy(), mask.numpy())
                best = min(best, time.perf_counter() - start) if attempt else best
        reference = logits.copy() if reference is None else reference
        row = {"engine": engine, "tokens_per_s": round(tokens / best),
               "labels_agree": float((logits.argmax(1) == reference.argmax(1)).mean()),
               "max_logit_diff": float(np.abs(logits - reference).max())}  # fmt: skip
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
