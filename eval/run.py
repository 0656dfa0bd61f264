"""Compare truncation and chunking strategies with every pooling on one model, from one set of chunk scores."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from eval.cache import ChunkCache, text_digest
from eval.metrics import BUCKETS, length_bucket, paired, task_metrics
from eval.results import BASELINE, Results, setting_name
from longbert import POOLINGS, Chunking, Chunks, LongbertError, LongTextClassifier, Task, chunk, parse_strategy
from longbert.chunking import Sentences, Strategy
from longbert.runtime import describe_device, software_versions
from longbert.scoring import Scorer, StoppableScorer
from longbert.tasks import label_targets

TRUNCATIONS = ("head", "tail", "head+tail")


@dataclass(frozen=True)
class Entry:
    """One compared setting: a strategy and, for chunkings, a pooling."""

    strategy: Strategy
    pooling: str

    @property
    def key(self) -> str:
        return setting_name(self.strategy, self.pooling)


def plan(chunkings: list[Chunking], poolings: list[str], truncations: list[str]) -> list[Entry]:
    """The baseline (head 510) first, the other truncations, then every chunking with every pooling."""
    strategies = [parse_strategy("head")] + [parse_strategy(t) for t in truncations if t != "head"]
    entries = [Entry(s, "mean") for s in strategies]
    entries += [Entry(c, p) for c in chunkings for p in poolings]
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise LongbertError("the grid names the same setting twice")
    return entries


def parse_grid(grid: str) -> list[Chunking]:
    """'510/510/1,510/255/1,sentences 510/510/1' -> chunkings (fixed windows or sentence-aware)."""
    chunkings = [parse_strategy(spec) for spec in grid.split(",") if spec.strip()]
    if not all(isinstance(c, Chunking) for c in chunkings):
        raise LongbertError("--grid takes chunkings as CHUNK/STRIDE/MINIMAL or 'sentences C/S/M', comma-separated")
    return chunkings


def settings_space(
    sizes: tuple[int, ...] = (64, 128, 256, 384, 510),
    strides: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25),
    minimals: tuple[float, ...] = (0.0, 0.25, 0.5),
    sentences: bool = True,
) -> list[Chunking]:
    """The settings space the dashboard covers: every chunk size x stride (a share of the chunk) x minimal
    chunk size (a share; 0 means 1 token), and sentence-aware chunks without overlap at every size."""
    space = [
        Chunking(size, max(1, round(size * stride)), max(1, round(size * minimal)))
        for size in sizes
        for stride in strides
        for minimal in minimals
    ]
    space += [Sentences(size, size, 1) for size in sizes] if sentences else []
    return list(dict.fromkeys(space))


def time_strategies(scorer: Scorer, encoded, strategies: list[Strategy]) -> dict[str, float]:
    """Seconds each strategy's chunks of these reviews take to score on their own (no cache): its cost."""
    scorer(chunk(encoded[:16], strategies[0]))  # warm-up: first-call allocations and kernel choice
    seconds = {}
    for strategy in strategies:
        chunks = chunk(encoded, strategy)
        start = time.perf_counter()
        scorer(chunks)
        seconds[strategy.name] = time.perf_counter() - start
    return seconds


def fingerprint(classifier: LongTextClassifier, model: str) -> dict:
    """What a cached chunk's logits depend on besides its tokens: the model, markup cleaning and precision."""
    return {
        "model": str(model),
        "clean_markup": classifier.settings.clean_markup,
        "precision": classifier.precision_name,  # bf16 weights and fp32 both run without autocast
    }


def distinct_chunks(encoded, strategies: list[Strategy]) -> int:
    """How many different chunks the strategies cut from the reviews: the work an evaluation does."""
    return sum(len({w for s in strategies for w in s.windows(enc)}) for enc in encoded)


@dataclass
class CachedScorer:
    """A scorer that asks its inner scorer only for chunks the cache lacks; digests[i] names review i's text."""

    inner: Scorer
    cache: ChunkCache
    digests: list[int]
    scored: int = 0

    def __call__(self, chunks: Chunks, *, progress: bool = False) -> torch.Tensor:
        cut = chunks.keys()  # (review, window) pairs
        keys = [(self.digests[review], window) for review, window in cut]
        missing = [i for i, key in enumerate(keys) if not self.cache.has(key)]
        if missing:
            todo = Chunks([chunks.ids[i] for i in missing], [1] * len(missing), [[keys[i][1]] for i in missing])
            self.cache.add([keys[i] for i in missing], self.inner(todo, progress=progress).numpy())
            self.cache.save()
            self.scored += len(missing)
        return torch.from_numpy(self.cache.get_keys(keys))


def summarize(outputs: dict[str, np.ndarray], entries: list[Entry], targets, buckets, task: Task) -> list[dict]:
    """One row per setting: overall metrics, metrics per length bucket, and the paired comparison with head."""
    baseline = task.per_review(targets, outputs[BASELINE])
    rows = []
    for entry in entries:
        this = task.per_review(targets, outputs[entry.key])
        row = {"setting": entry.key, "strategy": entry.strategy.name, "pooling": entry.pooling}
        row |= task_metrics(task, targets, outputs[entry.key])
        row["buckets"] = {}
        for bucket in BUCKETS:
            mask = buckets == bucket
            metrics = task_metrics(task, targets[mask], outputs[entry.key][mask])
            row["buckets"][bucket] = metrics | paired(task, this[mask], baseline[mask])
        row |= paired(task, this, baseline)
        rows.append(row)
    return rows


def disagreements(frame: pd.DataFrame, predictions: pd.DataFrame, outputs: dict, task: Task) -> pd.DataFrame:
    """Reviews on which the settings do not all give the same answer (class, label set or rounded value)."""
    votes = np.stack([task.decisions(o) for o in outputs.values()], 1)
    split = (votes != votes[:, :1]).any(1)
    out = predictions[split].copy()
    out.insert(1, "text", frame["text"].to_numpy()[split])
    return out.reset_index(drop=True)


def review_columns(frame: pd.DataFrame, encoded) -> dict:
    """predictions.parquet's columns about each review: its position, label, token count, id and length bucket."""
    num_tokens = np.array([len(e) for e in encoded])
    columns = {"review": np.arange(len(frame)), "label": frame["label"].to_numpy(), "num_tokens": num_tokens}
    if "review_id" in frame:
        columns["review_id"] = frame["review_id"].to_numpy()
    return columns | {"bucket": length_bucket(num_tokens)}


def cost(scores, special: int) -> dict:
    """What a strategy scores: its chunks, and its tokens with each chunk's special tokens."""
    chunks = int(sum(scores.chunks.counts))
    return {"chunks": chunks, "tokens": int(scores.chunks.lengths.sum()) + special * chunks}


def run_meta(classifier: LongTextClassifier, model: str, reviews: int, settings: list[str], seconds: float) -> dict:
    """What a results set says of its run: model, reviews, settings, device, precision, time and task."""
    task = classifier.task
    return {
        "model": str(model),
        "reviews": reviews,
        "settings": settings,
        "baseline": BASELINE,
        "device": describe_device(classifier.device),
        "precision": classifier.precision_name,
        "seconds": seconds,
        "reviews_per_s": reviews / seconds if seconds > 0 else math.nan,
        "task": task.name,
        "labels": list(task.labels),
        "threshold": task.threshold,
        "metric": task.metric,
    }


def evaluate(
    classifier: LongTextClassifier,
    frame: pd.DataFrame,
    *,
    model: str,
    chunkings: list[Chunking],
    poolings: list[str] = POOLINGS,
    truncations: list[str] = TRUNCATIONS,
    out_dir: str | Path | None = None,
    batch_tokens: int | None = None,
    progress: bool = True,
    meta: dict | None = None,
    max_chunks: int | None = None,
    max_settings: int | None = None,
    time_reviews: int | None = None,
    stop: threading.Event | None = None,
) -> Results:
    """Score every setting on the reviews in `frame` (text, label); write the results if out_dir is given.

    max_chunks and max_settings refuse, before any scoring, runs that would score more distinct chunks or
    compare more settings (bounds for hosts: a thousand chunkings of ten reviews is minutes of summaries).
    time_reviews: also time each strategy alone on that many of the reviews (seconds per 1,000 reviews).
    stop: once set, scoring stops within one slice of chunks with longbert.Stopped (the chunks scored are kept).
    """
    task = classifier.task
    targets = label_targets(frame["label"], task.name, task.labels)[2] if len(frame) else np.zeros(0)
    if task.values:
        targets = targets[:, 0]
    start = time.perf_counter()
    entries = plan(chunkings, list(poolings), list(truncations))
    if max_settings is not None and len(entries) > max_settings:
        raise LongbertError(
            f"these chunkings, poolings and truncations make {len(entries):,} settings; the limit here is "
            f"{max_settings:,}: take fewer chunkings or poolings"
        )
    strategies = list(dict.fromkeys(e.strategy for e in entries))
    for strategy in strategies:
        strategy.validate(classifier.max_chunk_size)
    texts = frame["text"].tolist()
    encoded = classifier.encode(texts, spans=False, strategies=strategies)
    out = Path(out_dir) if out_dir else None
    num_labels = classifier.model.config.num_labels
    cache = ChunkCache(out / "cache" if out else None, fingerprint(classifier, model), num_labels)
    if max_chunks is not None and (needed := distinct_chunks(encoded, strategies)) > max_chunks:
        raise LongbertError(
            f"these settings cut the {len(texts):,} reviews into {needed:,} chunks; the limit here is "
            f"{max_chunks:,}: take fewer reviews, larger strides or fewer chunkings"
        )
    model_scorer = classifier.scorer_with(batch_tokens)
    inner = StoppableScorer(model_scorer, stop) if stop is not None else model_scorer
    scorer = CachedScorer(inner, cache, [text_digest(t) for t in texts])
    scores = {}
    for strategy in tqdm(strategies, desc="strategies", disable=not progress):
        scores[strategy] = classifier.score(chunk(encoded, strategy), scorer, progress=progress)  # validated above
    columns = review_columns(frame, encoded)
    outputs = {e.key: task.filled(scores[e.strategy].pooled(e.pooling, task)) for e in entries}
    timed = min(time_reviews or 0, len(encoded))
    seconds_alone = time_strategies(model_scorer, encoded[:timed], strategies) if timed else {}
    predictions = pd.DataFrame(columns | {key: task.stored(o) for key, o in outputs.items()})
    rows = summarize(outputs, entries, targets, columns["bucket"], task)
    for row, entry in zip(rows, entries):
        row |= cost(scores[entry.strategy], classifier.special.count)
        if timed:
            row["seconds_per_1k"] = seconds_alone[entry.strategy.name] * 1000 / timed
    seconds = time.perf_counter() - start
    about = run_meta(classifier, model, len(frame), [e.key for e in entries], seconds)
    about |= {"chunks_scored": scorer.scored, "timed_reviews": timed, "chunks_reused": cache.loaded,
              "distinct_chunks": len(cache), "versions": software_versions(), **(meta or {})}  # fmt: skip
    results = Results(about, rows, predictions, disagreements(frame, predictions, outputs, task))
    if out is not None:
        results.write(out, figure_writer())
    return results


def figure_writer() -> Callable | None:
    """eval.figures.write_figures, or None where plotly is not installed (the GPU machine; the app draws anyway)."""
    try:
        from eval.figures import write_figures
    except ImportError:
        return None
    return write_figures
