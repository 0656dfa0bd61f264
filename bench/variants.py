"""python -m bench.variants: time variants of the scoring loop on the same pre-tokenized chunks, and profile it.

Measures the choices inside score_chunks on a device (the batch token budget, rounding batch
widths up to a multiple, bf16 weights instead of autocast), each checked against the "default"
variant's probabilities, and writes a torch.profiler table of that run: where the model time goes.
`--variants` picks some by name (the compiled ones are left out by default: they compile for tens of seconds).
"default" is the loop as it was before those two measurements made bf16 weights and widths rounded
to 64 the CUDA defaults: fp32 weights under autocast, widths unrounded.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time

import numpy as np
import torch

from bench.__main__ import imdb_texts, load, synchronize
from longbert import Chunking, LongTextClassifier, chunk
from longbert.runtime import autocast_dtype
from longbert.scoring import padded_width, token_budget_batches

VARIANTS = {
    "default": {},
    "budget 65,536": {"batch_tokens": 65_536},
    "budget 1,048,576": {"batch_tokens": 1_048_576},
    "pad x8": {"pad_multiple": 8},
    "pad x64": {"pad_multiple": 64},
    "bf16 weights": {"bf16_weights": True},
    "bf16 weights, pad x64": {"bf16_weights": True, "pad_multiple": 64},
    "bf16 weights, pad x64, compiled": {"bf16_weights": True, "pad_multiple": 64, "compiled": "default"},
    # Prepared for the GPU (#18), not yet measured there: tighter width buckets (less padding, more cuDNN plans),
    # and CUDA graphs for the few (rows, width) shapes a budget and x64 widths give (compiled, static shapes).
    "bf16 weights, pad x16": {"bf16_weights": True, "pad_multiple": 16},
    "bf16 weights, pad x32": {"bf16_weights": True, "pad_multiple": 32},
    "bf16 weights, pad x64, CUDA graphs": {"bf16_weights": True, "pad_multiple": 64, "compiled": "reduce-overhead"},
}


def run(classifier, chunks, *, batch_tokens=None, pad_multiple=1) -> torch.Tensor:
    """One scoring pass in the classifier's own precision, widths rounded to pad_multiple."""
    return classifier.scorer_with(batch_tokens, pad_multiple=pad_multiple)(chunks)


def precision_variants(model: str, device: str | None) -> dict[bool, LongTextClassifier]:
    """The same weights twice: fp32 under the device's autocast (False), and cast to bf16 (True)."""
    base = load(model, device, "fp32")  # loaded as saved, whatever from_pretrained's defaults for the device
    runtime = dataclasses.replace(base.runtime, autocast=autocast_dtype(base.device, "auto"))
    autocast = LongTextClassifier(base.model, base.tokenizer, settings=base.settings, runtime=runtime)
    half = copy.deepcopy(base.model).to(torch.bfloat16)
    return {False: autocast, True: LongTextClassifier(half, base.tokenizer, settings=base.settings, device=base.device)}


def compiled(classifier: LongTextClassifier, mode: str = "default") -> LongTextClassifier:
    """The same classifier with its model under torch.compile: dynamic shapes in the default mode (batch widths and
    rows vary); static shapes with CUDA graphs in "reduce-overhead" (one graph per shape, few with rounded widths)."""
    model = torch.compile(classifier.model, mode=mode, dynamic=mode == "default")
    return LongTextClassifier(model, classifier.tokenizer, settings=classifier.settings, device=classifier.device)


def padded_tokens(classifier, chunks, batch_tokens=None, pad_multiple=1) -> tuple[int, int]:
    """Batches and padded tokens (rows x width summed) that a variant runs."""
    lengths = [padded_width(len(c) + classifier.special.count, None, pad_multiple) for c in chunks.ids]
    batches = list(token_budget_batches(lengths, batch_tokens or classifier.runtime.batch_tokens))
    return len(batches), sum(len(b) * max(lengths[i] for i in b) for b in batches)


def profile(classifier, chunks, out: str) -> None:
    """A torch.profiler table of one default run, sorted by device time (CPU time without a GPU)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    cuda = classifier.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profiler(activities=activities) as prof:
        run(classifier, chunks)
        synchronize(classifier)
    table = prof.key_averages().table(sort_by="self_cuda_time_total" if cuda else "self_cpu_time_total", row_limit=25)
    with open(out, "w") as file:
        file.write(table)
    print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.variants", description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=None)
    parser.add_argument("--texts", type=int, default=25_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", default="variants")
    parser.add_argument(
        "--variants",
        default=";".join(name for name, options in VARIANTS.items() if "compiled" not in options),
        help="names to run, ';'-separated; the first is the reference for max_abs_dp_vs_default",
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.variants.split(";") if name.strip()]
    if unknown := [name for name in names if name not in VARIANTS]:
        parser.error(f"unknown variants {unknown}: choose from {list(VARIANTS)}")

    classifiers = precision_variants(args.model, args.device)
    classifier = classifiers[False]
    texts = imdb_texts(args.data, args.texts)
    start = time.perf_counter()
    encoded = classifier.encode(texts, spans=False)
    print(f"tokenized {len(texts)} texts in {time.perf_counter() - start:.2f} s", flush=True)
    strategy = Chunking(510, 510, 1)
    chunks = chunk(encoded, strategy)
    tokens = int(chunks.lengths.sum())
    print(f"{len(chunks)} chunks, {tokens:,} content tokens", flush=True)
    run(classifier, chunks.select(range(min(64, len(encoded)))))  # warm-up

    results, reference = [], None
    for name in names:
        options = dict(VARIANTS[name])
        variant = classifiers[options.pop("bf16_weights", False)]
        if mode := options.pop("compiled", None):
            variant = compiled(variant, mode)
        seconds = []
        for _ in range(args.repeats):
            synchronize(classifier)
            began = time.perf_counter()
            logits = run(variant, chunks, **options)
            synchronize(classifier)
            seconds.append(time.perf_counter() - began)
        probs = logits.softmax(-1).numpy()
        reference = probs if reference is None else reference
        batches, padded = padded_tokens(classifier, chunks, **options)
        row = {
            "variant": name,
            "seconds": [round(s, 3) for s in seconds],
            "model_tokens_per_s": round(tokens / min(seconds)),
            "batches": batches,
            "padded_tokens": padded,
            "max_abs_dp_vs_default": float(np.abs(probs - reference).max()),
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    with open(f"{args.out}.json", "w") as file:
        json.dump({"device": str(classifier.device), "texts": len(texts), "tokens": tokens, "rows": results}, file)
    profile(classifier, chunks, f"{args.out}_profile.txt")


if __name__ == "__main__":
    main()
