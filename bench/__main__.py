"""python -m bench: time the article loop, BELT and longbert on IMDB test reviews and very long texts.

Each method runs in its own process so that its peak memory is its own; answers are checked to
agree before anything is timed. Prints a markdown table; --out also writes it to a file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import torch

METHODS = ("article", "belt", "longbert")


def load(model: str, device: str | None, precision: str = "auto"):
    from longbert import LongTextClassifier

    torch.manual_seed(0)  # a checkpoint without a classification head gets the same random head in every process
    classifier = LongTextClassifier.from_pretrained(model, device=device, precision=precision)
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
    return methods.longbert(classifier, texts, batch_tokens)


def worker(args: argparse.Namespace) -> None:
    """One method, one input set, in this process: prints a JSON line of its numbers."""
    classifier = load(args.model, args.device, args.precision)
    with open(args.texts_file) as file:
        texts = json.load(file)
    run_method(args.method, classifier, texts[:2], args.batch_tokens)  # warm-up
    if classifier.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    probs = run_method(args.method, classifier, texts, args.batch_tokens)
    if classifier.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    tokens = sum(len(e) for e in classifier.encode(texts))
    np.save(args.probs_file, probs)
    result = {
        "method": args.method,
        "seconds": seconds,
        "texts_per_s": len(texts) / seconds,
        "tokens_per_s": tokens / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss_before / 1024,
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if classifier.device.type == "cuda" else None,
    }
    print(json.dumps(result))


def check_agreement(classifier, texts: list[str], methods: list[str], atol: float) -> None:
    """Stop before timing if the methods disagree on the first texts."""
    reference = run_method(methods[0], classifier, texts, None)
    for method in methods[1:]:
        other = run_method(method, classifier, texts, None)
        worst = float(np.abs(reference - other).max())
        if worst > atol:
            sys.exit(f"bench: {method} disagrees with {methods[0]} by {worst:.2e} (> {atol})")
        print(f"agreement: {method} vs {methods[0]}: max |dp| = {worst:.1e}", file=sys.stderr)


def measure(args, label: str, texts: list[str], methods: list[str], workdir: str) -> list[dict]:
    texts_file = os.path.join(workdir, f"{label}.json")
    with open(texts_file, "w") as file:
        json.dump(texts, file)
    rows = []
    for method in methods:
        command = [sys.executable, "-m", "bench", "--worker", method, "--texts-file", texts_file, "--model", args.model]
        command += ["--probs-file", os.path.join(workdir, f"{label}-{method}.npy"), "--device", args.device or "auto"]
        command += ["--precision", args.precision]
        if args.batch_tokens:
            command += ["--batch-tokens", str(args.batch_tokens)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"bench: {method} on {label} failed: {done.stderr.strip().splitlines()[-1:]}")
        rows.append({"input": label, **json.loads(done.stdout.strip().splitlines()[-1])})
        print(f"{label:>22} {method:>9}: {rows[-1]['texts_per_s']:.2f} texts/s", file=sys.stderr)
    base = rows[0]
    for row in rows:
        row["speedup"] = row["texts_per_s"] / base["texts_per_s"]
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| input | method | texts/s | tokens/s | x article | peak RSS (MB) | peak CUDA (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cuda = "-" if r["peak_cuda_mb"] is None else f"{r['peak_cuda_mb']:.0f}"
        lines.append(
            f"| {r['input']} | {r['method']} | {r['texts_per_s']:.2f} | {r['tokens_per_s']:,.0f} | "
            f"{r['speedup']:.2f} | {r['peak_rss_mb']:.0f} | {cuda} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--model", help="model directory or Hub id (default: the bundled model)")
    parser.add_argument("--data", help="IMDB source: directory of parquet files, 'sample', or the Hub (default)")
    parser.add_argument("--texts", type=int, default=500, help="IMDB test reviews to score")
    parser.add_argument("--long", default="5000,20000,100000", help="token counts of the very long texts ('' for none)")
    parser.add_argument("--million", action="store_true", help="also score one 1,000,000-token text with longbert")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--device")
    parser.add_argument("--batch-tokens", type=int)
    parser.add_argument("--precision", default="auto", help="longbert's precision: auto, fp32, bf16 (the others: fp32)")
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
    classifier = load(args.model, args.device, args.precision)
    reviews = imdb_texts(args.data, args.texts)
    atol = 1e-4 if classifier.dtype is None else 2e-2  # fp32 everywhere, or longbert under bf16 autocast
    check_agreement(classifier, reviews[:16], methods, atol)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        rows += measure(args, f"IMDB test x{len(reviews)}", reviews, methods, workdir)
        sizes = [int(s) for s in args.long.split(",") if s]
        if sizes:
            long = long_texts(args.data, sizes, classifier.tokenizer)
            rows += measure(args, f"long texts {args.long}", long, methods, workdir)
        if args.million:
            rows += measure(args, "one 1,000,000-token text", ["good movie " * 500_000], ["longbert"], workdir)
    versions = f"torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}"
    device = torch.cuda.get_device_name() if classifier.device.type == "cuda" else f"CPU, {os.cpu_count()} cores"
    report = f"device: {device}; {versions}; model: {args.model}\n\n{table(rows)}\n"
    print(report)
    if args.out:
        with open(args.out, "w") as out:
            out.write(report)


if __name__ == "__main__":
    main()
