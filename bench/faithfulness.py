"""How faithful sentence evidence (longbert.evidence) is, by ERASER's metrics (DeYoung et al. 2020), and what it costs:

    python -m bench.faithfulness --data ../shared/data/imdb --out bench/faithfulness.json

On a seeded sample of test reviews longer than one chunk (over 510 tokens), for mean and max pooling and k = 1, 3, 5:
- comprehensiveness: P(predicted class) of the whole review minus that of the review with its top-k sentences by
  evidence cut out (higher: the evidence held what the answer rests on);
- sufficiency: P(predicted class) of the whole review minus that of its top-k sentences alone (lower: they suffice);
each beside k random sentences (the mean of 5 seeded draws), with 95% bootstrap intervals over reviews, and the
ratio of the two comprehensiveness means (unstable where random removals average near 0, so the margin top - 2 x
random is given with its interval too). Cut or kept texts go through the whole pipeline again (tokenized,
chunked, scored, pooled). Explanations are timed and costed in tokens against the reviews' predictions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from longbert import LongTextClassifier
from longbert.chunking import Chunks
from longbert.data import load_imdb
from longbert.evidence import effects, occlusions
from longbert.pooling import ChunkScores
from longbert.runtime import cpu_instruction_set, describe_device
from longbert.scoring import tokens_scored

KS = (1, 3, 5)
DRAWS = 5
POOLINGS = ("mean", "max")


def cut(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with those character spans taken out (a space where each was)."""
    pieces, at = [], 0
    for start, end in sorted(spans):
        pieces.append(text[at:start])
        at = end
    return " ".join(p.strip() for p in [*pieces, text[at:]] if p.strip())


def kept(text: str, spans: list[tuple[int, int]]) -> str:
    """Only those spans of the text, in text order."""
    return " ".join(text[s:e] for s, e in sorted(spans))


def interval(values: np.ndarray, rng: np.random.Generator, rounds: int = 10_000) -> list[float]:
    """A 95% bootstrap interval of the mean over reviews."""
    means = values[rng.integers(0, len(values), (rounds, len(values)))].mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def ratio_interval(top: np.ndarray, random: np.ndarray, rng: np.random.Generator, rounds: int = 10_000) -> list:
    """A 95% bootstrap interval of mean(top) / mean(random), resampling reviews."""
    pick = rng.integers(0, len(top), (rounds, len(top)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = top[pick].mean(1) / random[pick].mean(1)
    return [float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))]


def sample_long(classifier: LongTextClassifier, frame, n: int, seed: int, over: int) -> list[str]:
    """n reviews over `over` tokens, drawn in a seeded order."""
    texts = frame["text"].sample(frac=1, random_state=seed).tolist()
    chosen: list[str] = []
    for start in range(0, len(texts), 500):
        group = texts[start : start + 500]
        lengths = [len(e) for e in classifier.encode(group, spans=False)]
        chosen += [t for t, n_tokens in zip(group, lengths) if n_tokens > over]
        if len(chosen) >= n:
            return chosen[:n]
    return chosen


def probabilities(classifier: LongTextClassifier, texts: list[str]) -> dict[str, np.ndarray]:
    """Each pooling's class probabilities [n, C] of texts, their chunks scored once for every pooling."""
    encoded = classifier.encode(texts, spans=False)
    scores = classifier.score(classifier.chunk(encoded))
    return {p: classifier.task.filled(scores.pooled(p, classifier.task)) for p in POOLINGS}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory or Hub id (default: the bundled model)")
    parser.add_argument("--data", help="IMDB directory (test.parquet), 'sample', or the Hub (default)")
    parser.add_argument("--reviews", type=int, default=100)
    parser.add_argument("--over", type=int, default=510, help="only reviews of more than this many tokens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    classifier = LongTextClassifier.from_pretrained(args.model, precision=args.precision)
    texts = sample_long(classifier, load_imdb("test", args.data), args.reviews, args.seed, args.over)
    special = classifier.special

    start = time.perf_counter()
    encoded = classifier.encode(texts, sentences=True)
    chunks = classifier.chunk(encoded)
    plan = occlusions(encoded, chunks)
    logits = classifier.score(Chunks.joined([chunks, plan.chunks])).logits
    explain_seconds = time.perf_counter() - start
    full = ChunkScores(chunks, logits[: len(chunks)])
    found = {p: effects(full, logits[len(chunks) :], plan, classifier.task, p) for p in POOLINGS}
    predict_tokens, explain_tokens = tokens_scored(chunks, special), plan.cost(special)
    spans = [[e.span(a, b) for a, b in ranges] for e, ranges in zip(encoded, plan.sentences)]

    rng = np.random.default_rng(args.seed)
    randoms = {k: [[rng.choice(len(s), min(k, len(s)), replace=False) for _ in range(DRAWS)] for s in spans]
               for k in KS}  # fmt: skip
    variants: list[tuple] = []  # (pooling or None for every pooling, review, k, kind, metric)
    texts_out: list[str] = []
    for pooling in POOLINGS:
        for r, (text, sentence_spans, effect) in enumerate(zip(texts, spans, found[pooling])):
            chosen_class = int(np.argmax(full.pooled(pooling, classifier.task)[r]))
            order = np.argsort(-effect[:, chosen_class], kind="stable")
            for k in KS:
                top = [sentence_spans[j] for j in order[:k]]
                variants += [(pooling, r, k, "top", "comprehensiveness"), (pooling, r, k, "top", "sufficiency")]
                texts_out += [cut(text, top), kept(text, top)]
    for r, (text, sentence_spans) in enumerate(zip(texts, spans)):
        for k in KS:
            for draw in randoms[k][r]:
                chosen = [sentence_spans[j] for j in draw]
                variants += [(None, r, k, "random", "comprehensiveness"), (None, r, k, "random", "sufficiency")]
                texts_out += [cut(text, chosen), kept(text, chosen)]
    start = time.perf_counter()
    changed = probabilities(classifier, texts_out)
    metric_seconds = time.perf_counter() - start

    rows = []
    for pooling in POOLINGS:
        whole = classifier.task.filled(full.pooled(pooling, classifier.task))
        predicted = whole.argmax(1)
        base = whole[np.arange(len(texts)), predicted]
        drops: dict[tuple, list[list[float]]] = {}
        for index, (owner, r, k, kind, metric) in enumerate(variants):
            if owner not in (None, pooling):
                continue
            drops.setdefault((k, kind, metric), [[] for _ in texts])[r].append(
                base[r] - changed[pooling][index, predicted[r]]
            )
        for k in KS:
            row = {"pooling": pooling, "k": k}
            for metric in ("comprehensiveness", "sufficiency"):
                for kind in ("top", "random"):
                    per_review = np.array([np.mean(d) for d in drops[(k, kind, metric)]])
                    row[f"{metric}_{kind}"] = float(per_review.mean())
                    row[f"{metric}_{kind}_ci95"] = interval(per_review, rng)
                    if metric == "comprehensiveness":
                        row.setdefault("_comp", {})[kind] = per_review
            top, random = row["_comp"].pop("top"), row.pop("_comp")["random"]
            row["comprehensiveness_ratio"] = float(top.mean() / random.mean())
            row["comprehensiveness_ratio_ci95"] = ratio_interval(top, random, rng)
            # the test, top >= 2 x random, as a per-review difference: its interval is above 0 if it holds
            row["comprehensiveness_top_minus_2x_random"] = float((top - 2 * random).mean())
            row["comprehensiveness_top_minus_2x_random_ci95"] = interval(top - 2 * random, rng)
            rows.append(row)

    sentences = [len(s) for s in spans]
    result = {
        "command": "python -m bench.faithfulness " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": args.model or "bundled",
        "device": describe_device(classifier.device),
        "instruction_set": cpu_instruction_set() if classifier.device.type == "cpu" else None,
        "precision": classifier.precision_name,
        "reviews": len(texts),
        "over_tokens": args.over,
        "seed": args.seed,
        "random_draws": DRAWS,
        "strategy": classifier.settings.strategy.name,
        "sentences_per_review": {"mean": float(np.mean(sentences)), "max": int(np.max(sentences))},
        "cost": {
            "predict_tokens": predict_tokens,
            "explain_tokens": explain_tokens,
            "explain_over_predict": explain_tokens / predict_tokens,
            "explain_seconds_with_prediction": explain_seconds,
            "chunks_rescored": len(plan.chunks),
            "metric_texts": len(texts_out),
            "metric_seconds": metric_seconds,
        },
        "rows": rows,
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
