"""python -m bench: time the article loop, BELT and longbert on IMDB test reviews and very long texts.

Each method runs in its own process so that its peak memory is its own; answers are checked to
agree before anything is timed. Prints a markdown table; --out also writes it to a file, rewritten
after every measurement so that a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from bench.gemm import flops_per_token, gemm_flops

METHODS = ("article", "belt", "longbert")
# Variants of longbert, selectable with --methods, to measure one of its choices on a device.
# longbert-serial: tokenization not overlapped with scoring; longbert-int8: longbert in int8 (ONNX Runtime, CPU);
# longbert-fp32, longbert-bf16 and longbert-openvino: longbert in that precision (torch fp32, torch bf16 autocast,
# OpenVINO), so that one run compares the CPU runtimes.
VARIANTS = ("longbert-serial", "longbert-int8", "longbert-fp32", "longbert-bf16", "longbert-openvino")
BASELINES = ("article", "belt")


def load(model: str, device: str | None, precision: str = "auto"):
    from longbert import LongTextClassifier

    torch.manual_seed(0)  # a checkpoint without a classification head gets the same random head in every process
    classifier = LongTextClassifier.from_pretrained(model, device=device, precision=precision, new_head=True)
    # The article's loop and BELT read HTML tags as tokens; so must longbert here, for the same chunks.
    classifier.settings = dataclasses.replace(classifier.settings, clean_markup=False)
    return classifier


def imdb_texts(data: str | None, n: int) -> list[str]:
    from longbert.data import balanced_sample, load_imdb

    return balanced_sample(load_imdb("test", data), n, seed=0)["text"].tolist()


def long_texts(data: str | None, sizes: list[int], tokenizer) -> list[str]:
    """Texts of about the given token counts, made by joining IMDB reviews."""
    reviews = imdb_texts(data, 2000)
    texts = []
    for size in sizes:
        parts, count, i = [], 0, 0
        while count < size:
            review = reviews[i % len(reviews)]
            parts.append(review)
            count += len(tokenizer(review, add_special_tokens=False, verbose=False)["input_ids"])
            i += 1
        texts.append(" ".join(parts))
    return texts


def run_method(method: str, classifier, texts: list[str], batch_tokens: int | None) -> np.ndarray:
    from bench import methods

    if method == "article":
        return methods.article_loop(classifier.model, classifier.tokenizer, texts, classifier.device)
    if method == "belt":
        return methods.belt(classifier.model, classifier.tokenizer, texts, classifier.device)
    if method == "longbert-serial":
        return methods.longbert_serial(classifier, texts, batch_tokens)
    return methods.longbert(classifier, texts, batch_tokens)


def synchronize(classifier) -> None:
    if classifier.device.type == "cuda":
        torch.cuda.synchronize()


def model_tokens_per_s(classifier, encoded, batch_tokens: int | None) -> float:
    """Content tokens per second through the model alone: already-tokenized texts' chunks scored."""
    from bench.methods import CHUNK
    from longbert import Chunking

    synchronize(classifier)
    start = time.perf_counter()
    classifier.score(classifier.chunk(encoded, Chunking(CHUNK, CHUNK, 1)), classifier.scorer_with(batch_tokens))
    synchronize(classifier)
    return sum(len(e) for e in encoded) / (time.perf_counter() - start)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: VmHWM, which a new program starts afresh (getrusage's ru_maxrss
    survives exec, so a worker would report its parent's peak: every row the same), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args: argparse.Namespace) -> None:
    """One method, one input set, in this process: prints a JSON line of its numbers."""
    classifier = load(args.model, args.device, args.precision)
    with open(args.texts_file) as file:
        texts = json.load(file)
    run_method(args.method, classifier, texts[:2], args.batch_tokens)  # warm-up
    synchronize(classifier)
    if classifier.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    probs = run_method(args.method, classifier, texts, args.batch_tokens)
    synchronize(classifier)
    seconds = time.perf_counter() - start
    peak_rss = peak_rss_mb()
    peak_cuda = torch.cuda.max_memory_allocated() / 2**20 if classifier.device.type == "cuda" else None
    encoded = classifier.encode(texts, spans=False)
    tokens = sum(len(e) for e in encoded)
    np.save(args.probs_file, probs)
    result = {
        "method": args.method,
        "texts": len(texts),
        "seconds": seconds,
        "texts_per_s": len(texts) / seconds,
        "tokens_per_s": tokens / seconds,
        "model_tokens_per_s": (
            model_tokens_per_s(classifier, encoded, args.batch_tokens) if args.method.startswith("longbert") else None
        ),
        "peak_rss_mb": peak_rss,
        "rss_before_mb": rss_before,
        "peak_cuda_mb": peak_cuda,
    }
    print(json.dumps(result))


def method_precision(method: str, precision: str) -> str:
    """The article loop and BELT run in fp32, as they are written; longbert-int8 in int8, longbert-fp32, -bf16 and
    -openvino in theirs; longbert in the precision asked for."""
    if method in BASELINES:
        return "fp32"
    named = method.removeprefix("longbert-")
    return named if named in ("int8", "fp32", "bf16", "openvino") else precision


def check_agreement(classifiers: dict, texts: list[str], methods: list[str], atol: float) -> None:
    """Stop before timing if the methods disagree on the first texts (classifiers: one per precision)."""
    reference = run_method(methods[0], classifiers[methods[0]], texts, None)
    for method in methods[1:]:
        other = run_method(method, classifiers[method], texts, None)
        worst = float(np.abs(reference - other).max())
        if worst > atol:
            sys.exit(f"bench: {method} disagrees with {methods[0]} by {worst:.2e} (> {atol})")
        print(f"agreement: {method} vs {methods[0]}: max |dp| = {worst:.1e}", file=sys.stderr)


def measure(args, label: str, texts: list[str], methods: list[str], workdir: str, report) -> list[dict]:
    """Time each method on the texts in its own process (the baselines on the first --baseline-texts only)."""
    rows = []
    for method in methods:
        subset = texts[: args.baseline_texts] if method in BASELINES and args.baseline_texts else texts
        texts_file = os.path.join(workdir, f"{label}-{len(subset)}.json")
        if not os.path.exists(texts_file):
            with open(texts_file, "w") as file:
                json.dump(subset, file)
        command = [sys.executable, "-m", "bench", "--worker", method, "--texts-file", texts_file, "--model", args.model]
        command += ["--probs-file", os.path.join(workdir, f"{label}-{method}.npy"), "--device", args.device or "auto"]
        command += ["--precision", method_precision(method, args.precision)]
        if args.batch_tokens:
            command += ["--batch-tokens", str(args.batch_tokens)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"bench: {method} on {label} failed: {done.stderr.strip().splitlines()[-1:]}")
        row = {"input": label, **json.loads(done.stdout.strip().splitlines()[-1])}
        article = rows[0] if rows and rows[0]["method"] == "article" else row if method == "article" else None
        row["speedup"] = row["texts_per_s"] / article["texts_per_s"] if article else None
        rows.append(row)
        report(row)
        print(f"{label:>22} {method:>15}: {row['texts_per_s']:.2f} texts/s", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| input | method | texts | seconds | texts/s | tokens/s | x article | model tokens/s | share of GEMM "
        "| peak RSS (MB) | peak CUDA (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cuda = "-" if r["peak_cuda_mb"] is None else f"{r['peak_cuda_mb']:,.0f}"
        model = "-" if r["model_tokens_per_s"] is None else f"{r['model_tokens_per_s']:,.0f}"
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.2f}"
        share = "-" if r.get("gemm_share") is None else f"{r['gemm_share']:.0%}"
        lines.append(
            f"| {r['input']} | {r['method']} | {r['texts']:,} | {r['seconds']:.2f} | {r['texts_per_s']:.2f} | "
            f"{r['tokens_per_s']:,.0f} | {speedup} | {model} | {share} | {r['peak_rss_mb']:,.0f} | {cuda} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--model", help="model directory or Hub id (default: the bundled model)")
    parser.add_argument("--data", help="IMDB source: directory of parquet files, 'sample', or the Hub (default)")
    parser.add_argument("--texts", type=int, default=500, help="IMDB test reviews to score")
    parser.add_argument("--long", default="5000,20000,100000", help="token counts of the very long texts ('' for none)")
    parser.add_argument("--million", action="store_true", help="also score one 1,000,000-token text with longbert")
    parser.add_argument("--baseline-texts", type=int, help="score only the first N IMDB reviews with article and BELT")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {METHODS + VARIANTS}")
    parser.add_argument("--device")
    parser.add_argument("--batch-tokens", type=int)
    parser.add_argument(
        "--precision", default="auto", help="longbert's precision: auto, fp32, bf16, int8, openvino (the others: fp32)"
    )
    parser.add_argument("--out", help="also write the markdown table here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--texts-file", help=argparse.SUPPRESS)
    parser.add_argument("--probs-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model is None:
        from longbert.bundled import default_model

        args.model = default_model()
    if args.worker:
        args.method = args.worker
        worker(args)
        return
    import tempfile

    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS + VARIANTS)
    if unknown or not methods:
        parser.error(f"--methods: choose from {', '.join(METHODS + VARIANTS)}")
    from longbert.runtime import describe_device, software_versions

    loaded = {p: load(args.model, args.device, p) for p in {method_precision(m, args.precision) for m in methods}}
    classifiers = {m: loaded[method_precision(m, args.precision)] for m in methods}
    classifier = classifiers[methods[-1]]
    v = software_versions()
    versions = f"torch {v['torch']}, transformers {v['transformers']}, python {v['python']}"
    device = describe_device(classifier.device)
    gemm = gemm_flops(classifier.device)  # the machine's own fp32 rate, measured in this run
    per_token = flops_per_token(classifier.model)
    header = (f"device: {device}; {versions}; model: {args.model}; fp32 GEMM {gemm / 1e9:,.0f} GFLOP/s (torch, "
              f"{torch.get_num_threads()} threads; share of GEMM: model tokens/s x {per_token / 1e6:.0f} MFLOP a "
              "token / that rate)\n\n")  # fmt: skip
    rows: list[dict] = []

    def report(row: dict) -> None:
        if row.get("model_tokens_per_s"):
            row["gemm_share"] = row["model_tokens_per_s"] * per_token / gemm
        rows.append(row)
        if args.out:
            with open(args.out, "w") as out:
                out.write(f"{header}{table(rows)}\n")

    reviews = imdb_texts(args.data, args.texts)
    names = {c.precision_name for c in loaded.values()}
    # fp32 everywhere; longbert in bf16; longbert in int8, whose accuracy is checked on 3,000 reviews instead
    atol = 1e-4 if names == {"float32"} else 0.25 if any("int8" in n for n in names) else 5e-2
    check_agreement(classifiers, reviews[:16], methods, atol)
    with tempfile.TemporaryDirectory() as workdir:
        measure(args, f"IMDB test x{len(reviews)}", reviews, methods, workdir, report)
        sizes = [int(s) for s in args.long.split(",") if s]
        if sizes:
            long = long_texts(args.data, sizes, classifier.tokenizer)
            measure(args, f"long texts {args.long}", long, methods, workdir, report)
        if args.million:
            longbert = [m for m in methods if m.startswith("longbert")]
            measure(args, "one 1,000,000-token text", ["good movie " * 500_000], longbert, workdir, report)
    print(f"{header}{table(rows)}")


if __name__ == "__main__":
    main()
